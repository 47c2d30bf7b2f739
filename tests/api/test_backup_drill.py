"""The restore drill: book and ride, back up, lose the booking, restore, and the booking with
its tickets and taps is back and its QR still opens the gate of the leg not yet ridden.
Plus the refusals, each of which leaves the database as it was."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from maas.app import create_app
from maas.appkeys import LIVE
from maas.cli import main
from maas.clock import FrozenClock
from tests.api.conftest import SAMPLE
from tests.conftest import bearer
from ticketing.tokens import parse_qr

PHRASE = "correct horse battery staple"


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


@pytest.fixture
def cli_env(monkeypatch, settings):  # type: ignore[no-untyped-def]
    """`maas db ...` as the operator runs it: the same keys, a passphrase, and the PostgreSQL
    client programs on PATH (pgserver's, matching the test server)."""
    from maas.backup import pg_tool

    bindir = str(Path(pg_tool("psql", embedded=True)).parent)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("MAAS_SECRET_KEYS", settings.secret_keys)
    monkeypatch.setenv("MAAS_BACKUP_PASSPHRASE", PHRASE)
    for var in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


async def maas(settings, capsys, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run a `maas` command in a thread (it runs its own event loop); (exit code, stderr)."""
    code = await asyncio.get_running_loop().run_in_executor(
        None, main, [*args, "--database-url", settings.database_url, "--data-dir", str(settings.data_dir)])
    return code, capsys.readouterr().err


async def _counts(db, bid: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out = {}
    for table in ("booking_legs", "booking_passengers", "tickets", "gate_taps"):
        out[table] = await db.fetchval(f"SELECT count(*) FROM {table} WHERE booking_id = $1", bid)
    return out


async def test_restore_drill_brings_back_a_lost_booking_whose_qr_still_opens_the_gate(
        live, app, db, make_account, make_key, clock, settings, aiohttp_client, cli_env, capsys, tmp_path):
    client = live
    r = await client.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                             "date": "2026-12-01", "time": "06:30"})
    it = (await r.json())["itineraries"][0]
    _, tok = await make_account()
    r = await client.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, await r.text()
    bid = (await r.json())["id"]
    r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "pay"}, headers=bearer(tok))
    assert (await r.json())["status"] == "confirmed"
    async def qr_of(c) -> str:  # type: ignore[no-untyped-def]  # the code rotates: fetch it when shown
        return (await (await c.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json())["qr"]

    legs = parse_qr(await qr_of(client)).token.legs
    assert len(legs) == 2
    gates = [await make_key("gate", gate=f"g-{leg.index}", station=leg.board) for leg in legs]
    clock.set(legs[0].valid_from + timedelta(minutes=1))
    qr = await qr_of(client)
    r = await client.post("/v1/gates/g-0/validate", json={"qr": qr}, headers=bearer(gates[0]))
    assert (await r.json())["result"] == "accept"                   # rode the bus
    before = await _counts(db, bid)
    assert before["gate_taps"] == 1 and before["tickets"] == 2
    name_ct = await db.fetchval("SELECT name_ct FROM booking_passengers WHERE booking_id = $1", bid)

    path = tmp_path / "maas.backup"
    code, err = await maas(settings, capsys, "db", "backup", str(path))
    assert code == 0, err
    # the disaster: the booking is lost
    await db.execute("DELETE FROM bookings WHERE id = $1", bid)
    assert (await client.get(f"/v1/bookings/{bid}", headers=bearer(tok))).status == 404

    # refused over a database with rows, unless forced; nothing changes
    code, err = await maas(settings, capsys, "db", "restore", str(path))
    assert code == 2 and "database_not_empty" in err and "--force" in err, err
    assert await db.fetchval("SELECT count(*) FROM bookings WHERE id = $1", bid) == 0
    code, err = await maas(settings, capsys, "db", "restore", str(path), "--force")
    assert code == 0, err

    # back, whole: legs, passengers (still encrypted the same), tickets, the tap
    assert await _counts(db, bid) == before
    assert await db.fetchval("SELECT name_ct FROM booking_passengers WHERE booking_id = $1", bid) == name_ct
    # a restarted service (as the restore asks) reads it with the restored keys
    app2 = create_app(settings, clock=clock)
    client2 = await aiohttp_client(app2)
    app2[LIVE].current = app[LIVE].current
    r = await client2.get(f"/v1/bookings/{bid}", headers=bearer(tok))
    body = await r.json()
    assert r.status == 200 and body["status"] == "confirmed", body
    assert "张" in str(body["passengers"])                            # the name decrypts
    clock.advance(15)
    r = await client2.post("/v1/gates/g-0/validate", json={"qr": await qr_of(client2)},
                           headers=bearer(gates[0]))
    assert (await r.json())["code"] == "already_used"                 # the tap came back too
    clock.set(max(legs[1].valid_from + timedelta(minutes=1), clock.now()))
    r = await client2.post("/v1/gates/g-1/validate", json={"qr": await qr_of(client2)},
                           headers=bearer(gates[1]))
    got = await r.json()
    assert {k: got[k] for k in ("result", "code", "booking", "leg", "passengers")} == {
        "result": "accept", "code": "ok", "booking": bid, "leg": 1, "passengers": 1}, got
    assert SAMPLE.n_stops  # the sample network is what both apps planned on


async def test_backup_refusals_change_nothing(client, db, settings, cli_env, capsys, tmp_path):
    path = tmp_path / "maas.backup"
    cli_env.delenv("MAAS_BACKUP_PASSPHRASE")
    code, err = await maas(settings, capsys, "db", "backup", str(path))
    assert code == 2 and "backup_passphrase_missing" in err and not path.exists(), err

    cli_env.setenv("MAAS_BACKUP_PASSPHRASE", PHRASE)
    code, err = await maas(settings, capsys, "db", "backup", str(path))
    assert code == 0, err
    accounts = await db.fetchval("SELECT count(*) FROM accounts")
    await db.execute("INSERT INTO accounts (id, token_hash) VALUES ('acc_after', $1)", b"\x01" * 32)

    cli_env.setenv("MAAS_BACKUP_PASSPHRASE", "not it")
    code, err = await maas(settings, capsys, "db", "restore", str(path), "--force")
    assert code == 2 and "wrong_passphrase" in err, err
    # keys the environment does not hold: refused before anything is touched
    cli_env.setenv("MAAS_BACKUP_PASSPHRASE", PHRASE)
    from maas.settings import DataKeys

    cli_env.setenv("MAAS_SECRET_KEYS", DataKeys.generate_text("other"))
    code, err = await maas(settings, capsys, "db", "restore", str(path), "--force")
    assert code == 2 and "data_keys_missing" in err and "test1" in err, err
    assert await db.fetchval("SELECT count(*) FROM accounts") == accounts + 1

    (tmp_path / "junk").write_bytes(b"not a backup")
    code, err = await maas(settings, capsys, "db", "restore", str(tmp_path / "junk"), "--force")
    assert code == 2 and "not_a_backup" in err, err

    cli_env.setenv("PATH", str(tmp_path))          # no pg_dump for an external database
    code, err = await maas(settings, capsys, "db", "backup", str(tmp_path / "b2"))
    assert code == 2 and "pg_tool_missing" in err and "pg_dump" in err, err
