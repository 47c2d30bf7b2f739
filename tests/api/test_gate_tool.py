"""`maas gate` against a real server (the test client's, on a free loopback port): sync the
manifest, check QR payloads and ID cards offline from args and stdin, queue, upload."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from contextlib import redirect_stdout

from maas.cli import main
from tests.api.test_idcards import LI, MISTYPED, ZHANG, book, clock, settings, trip  # noqa: F401
from tests.conftest import bearer


async def maas(*argv: str, stdin: str | None = None) -> tuple[int, list[dict]]:
    """Run `maas ...` in a thread (it does blocking HTTP to the server on this loop)."""
    def run() -> tuple[int, str]:
        out = io.StringIO()
        old = sys.stdin
        sys.stdin = io.StringIO(stdin or "")
        try:
            with redirect_stdout(out):
                try:
                    code = main(list(argv))
                except SystemExit as exc:
                    code = int(exc.code or 0)
        finally:
            sys.stdin = old
        return code, out.getvalue()

    code, text = await asyncio.to_thread(run)
    return code, [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_sync_check_offline_and_upload(trip, tmp_path, db, clock):
    client, tok, family, alone, token, keys = trip
    url = str(client.make_url("")).rstrip("/")
    state = str(tmp_path / "gate")
    code, out = await maas("gate", "sync", "--url", url, "--gate", "g-0", "--key", keys[0],
                           "--state", state, "--date", clock.now().date().isoformat())
    assert code == 0 and out[0]["id_cards"] == 3 and out[0]["bookings"] == 2, out
    assert keys[0] not in "".join(p.read_text() for p in (tmp_path / "gate").iterdir())
    now = clock.now().isoformat()
    # one ID card from the arguments
    code, out = await maas("gate", "check", "--state", state, "--now", now,
                           "--id-type", "prc_id", "--id-number", LI)
    assert code == 0 and (out[0]["code"], out[0]["booking"], out[0]["passenger"]) == ("ok", family, 1)
    # the family's QR and more cards from stdin, one per line; the earlier tap is remembered
    r = await client.get(f"/v1/bookings/{alone}/token", headers=bearer(tok))
    qr = (await r.json())["qr"]
    lines = "\n".join([
        qr,
        json.dumps({"id_card": {"id_type": "prc_id", "number": LI}}),
        json.dumps({"id_card": {"id_type": "prc_id", "number": ZHANG}}),
        json.dumps({"id_card": {"id_type": "prc_id", "number": MISTYPED}}),
        json.dumps({"face": [0.1] * 128}),
    ])
    code, out = await maas("gate", "check", "--state", state, "--now", now, "-", stdin=lines)
    assert code == 1
    assert [o["code"] for o in out] == ["ok", "already_used", "ok", "invalid_id", "face_online_only"]
    assert out[0]["booking"] == alone and out[2]["booking"] == family    # alone's leg used by its QR
    # online: the server has not seen the offline taps yet
    queue = tmp_path / "gate" / "taps.jsonl"
    assert queue.stat().st_mode & 0o077 == 0          # holds the cards read (proof) until uploaded
    code, out = await maas("gate", "upload", "--state", state, "--key", keys[0])
    assert code == 0 and out[0]["uploaded"] == 3 and out[0]["recorded"] == 3, out
    kept = "".join(p.read_text() for p in (tmp_path / "gate").glob("*.jsonl"))
    assert LI not in kept and ZHANG not in kept and qr not in kept   # the proof is gone once uploaded
    assert await db.fetchval("SELECT count(*) FROM passenger_taps WHERE NOT online") == 2
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE NOT online") == 1
    code, out = await maas("gate", "check", "--state", state, "--online", "--key", keys[0],
                           "--id-type", "prc_id", "--id-number", ZHANG)
    assert code == 1 and out[0]["code"] == "already_used"
    # a fresh manifest knows the uploaded taps
    code, _ = await maas("gate", "sync", "--url", url, "--gate", "g-0", "--key", keys[0],
                         "--state", state, "--date", clock.now().date().isoformat())
    code, out = await maas("gate", "check", "--state", state, "--now", now,
                           "--id-type", "prc_id", "--id-number", LI)
    assert out[0]["code"] == "already_used"


async def test_a_manifest_of_another_gate_does_not_open(trip, tmp_path, clock):
    client, tok, family, alone, token, keys = trip
    url = str(client.make_url("")).rstrip("/")
    code, _ = await maas("gate", "sync", "--url", url, "--gate", "g-0", "--key", keys[1],
                         "--state", str(tmp_path / "s"))
    assert code == 2                      # 403: the rail gate's key is not the bus gate's
    code, _ = await maas("gate", "check", "--state", str(tmp_path / "s"), "--qr", "x")
    assert code == 2                      # nothing synced: a clear refusal
