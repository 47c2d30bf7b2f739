"""The load run's judges: the PostgreSQL invariants and the SLO evaluation of Locust's CSV.

Locust itself is never imported here (it patches the process with gevent); the run is
exercised by `loadtests/run --smoke`.
"""

from __future__ import annotations

import io
import random
import sys
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # loadtests/ is not installed

from loadtests.invariants import check_invariants  # noqa: E402
from loadtests.payloads import forge, prc_id, republished  # noqa: E402
from loadtests.report import activation_effect, percentile, summarise_pyspy  # noqa: E402
from loadtests.slo import evaluate, load_profile, read_stats  # noqa: E402
from tests.polling import eventually_sync  # noqa: E402

CAPACITY = {"bus": 80, "rail": 600}
NOW = datetime.now(timezone.utc)
DAY = date(2026, 11, 26)


async def _account(conn: asyncpg.Connection, n: int) -> str:
    acc = f"acc_load{n}"
    await conn.execute("INSERT INTO accounts (id, token_hash) VALUES ($1, $2)", acc, bytes([n]) * 32)
    return acc


def _live_until() -> datetime:
    """A hold still live when the invariants run: from the wall clock now, not from NOW (taken
    at import; under a loaded parallel run this test may start more than 15 minutes later)."""
    return datetime.now(timezone.utc) + timedelta(minutes=15)


async def _booking(conn: asyncpg.Connection, bid: str, account: str, status: str, legs: list[dict],
                   passengers: int = 1, tickets: bool = True, confirmed_at: datetime | None = None,
                   cancelled_at: datetime | None = None) -> None:
    """A booking as the bookings store writes it (schema 0200), with its legs and tickets."""
    await conn.execute(
        """INSERT INTO bookings (id, account_id, status, itinerary_id, feed_versions, passenger_count,
               passenger_categories, currency, total_minor, expires_at, created_at, updated_at,
               confirmed_at, cancelled_at)
           VALUES ($1, $2, $3, 'it', '{}', $4, $5, 'CNY', 200, $6, $7, $7, $8, $9)""",
        bid, account, status, passengers, ["adult"] * passengers, _live_until(),
        NOW - timedelta(hours=1), confirmed_at or (NOW - timedelta(minutes=30) if status != "held" else None),
        cancelled_at)
    for p in range(passengers):
        await conn.execute(
            """INSERT INTO booking_passengers (booking_id, passenger_no, category, id_type, key_id,
                   name_ct, id_number_ct, name_masked, id_masked)
               VALUES ($1, $2, 'adult', 'prc_id', 'k1', '\\x00', '\\x00', '王*', '370***01')""", bid, p)
    for no, leg in enumerate(legs):
        await conn.execute(
            """INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id, agency_name, mode,
                   route_id, trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
                   departure, arrival, passengers, hold_until, unit_minor, price_source, price_minor,
                   cancelled_at)
               VALUES ($1, $2, $3, 'f', 'f:a', 'A', $4, 'f:r1', $5, $6, $7, $8, $9, $10, $11, $12,
                       $13, $14, 200, 'tariff:bus', 200, $15)""",
            bid, no, leg.get("status", status), leg.get("mode", "bus"), leg["trip"], DAY, leg["board"],
            leg["alight"], f"f:s{leg['board']}", f"f:s{leg['alight']}", NOW, NOW + timedelta(hours=1),
            passengers, leg.get("hold_until", _live_until()), leg.get("cancelled_at"))
        if tickets and leg.get("status", status) == "confirmed":
            for p in range(passengers):
                await conn.execute(
                    """INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status, issued_at)
                       VALUES ($1, $2, $3, $4, 'adult', 'issued', $5)""",
                    f"tk_{bid}_{no}_{p}", bid, no, p, NOW - timedelta(minutes=30))


async def _tap(conn: asyncpg.Connection, bid: str, leg: int, station: str, at: datetime, gate: str = "g1") -> None:
    await conn.execute(
        """INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method, online,
               totp_step, tapped_at, recorded_at)
           VALUES ($1, $2, $3, $4, $5, 'qr', true, 1, $6, $6)""",
        f"tap-{bid}-{leg}", bid, leg, gate, station, at)


async def _card(conn: asyncpg.Connection, bid: str, leg: int, passenger: int, station: str,
                at: datetime, online: bool = True, recorded: datetime | None = None) -> None:
    """An ID-card entry of one passenger (schema 0650: passenger_taps)."""
    await conn.execute(
        """INSERT INTO passenger_taps (tap_id, booking_id, leg_no, passenger_no, gate_id, station,
               method, online, tapped_at, recorded_at)
           VALUES ($1, $2, $3, $4, 'g1', $5, 'id_card', $6, $7, $8)""",
        f"card-{bid}-{leg}-{passenger}", bid, leg, passenger, station, online, at, recorded or at)


def _by_name(violations) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {v.invariant.name: v.count for v in violations}


@pytest.fixture
async def conn(database_url: str):  # type: ignore[no-untyped-def]
    c = await asyncpg.connect(database_url)
    try:
        yield c
    finally:
        await c.close()


async def test_a_consistent_database_passes_every_invariant(conn):
    acc = await _account(conn, 1)
    await conn.execute("INSERT INTO seat_capacity (scope, ref_id, feed, seats) VALUES ('trip', 'f:t1', 'f', 2)")
    # two seats sold on segments 0..1 and one on 2..3: at capacity, not above
    await _booking(conn, "bk_1", acc, "confirmed", [{"trip": "f:t1", "board": 0, "alight": 2}])
    await _booking(conn, "bk_2", acc, "confirmed", [{"trip": "f:t1", "board": 1, "alight": 3}])
    await _booking(conn, "bk_3", acc, "confirmed", [{"trip": "f:t1", "board": 2, "alight": 4}])
    # an expired hold no longer occupies its seats, even if the sweeper has not run
    await _booking(conn, "bk_4", acc, "held", [{"trip": "f:t1", "board": 0, "alight": 1,
                                                "hold_until": NOW - timedelta(minutes=1)}])
    # cancelled after being tapped: the tap was legitimate when it happened
    await _booking(conn, "bk_5", acc, "cancelled", [{"trip": "f:t2", "board": 0, "alight": 1,
                                                     "status": "cancelled", "cancelled_at": NOW}],
                   tickets=False, cancelled_at=NOW)
    await _tap(conn, "bk_1", 0, "f:s0", NOW - timedelta(minutes=5))
    await _tap(conn, "bk_5", 0, "f:s0", NOW - timedelta(minutes=5))
    # ID cards: each passenger of a party of two once, before any QR of the party
    await _booking(conn, "bk_6", acc, "confirmed", [{"trip": "f:t3", "board": 0, "alight": 1}],
                   passengers=2)
    await _card(conn, "bk_6", 0, 0, "f:s0", NOW - timedelta(minutes=6))
    await _card(conn, "bk_6", 0, 1, "f:s0", NOW - timedelta(minutes=5))
    result = await check_invariants(conn, CAPACITY, 100)
    assert _by_name(result) == {"no_overselling": 0, "no_double_admission": 0, "tickets_complete": 0,
                                "taps_confirmed": 0}


async def test_an_oversold_segment_is_found(conn):
    acc = await _account(conn, 2)
    await conn.execute("INSERT INTO seat_capacity (scope, ref_id, feed, seats) VALUES ('trip', 'f:t1', 'f', 2)")
    await _booking(conn, "bk_1", acc, "confirmed", [{"trip": "f:t1", "board": 0, "alight": 3}])
    await _booking(conn, "bk_2", acc, "confirmed", [{"trip": "f:t1", "board": 1, "alight": 2}])
    # a live hold on segment 1 makes three seats on a two-seat segment
    # (live when checked: NOW is the module's import time, and a full suite takes longer than a hold)
    await _booking(conn, "bk_3", acc, "held", [{"trip": "f:t1", "board": 1, "alight": 2,
                   "hold_until": datetime.now(timezone.utc) + timedelta(minutes=15)}])
    # a frequency run takes its GTFS trip's override; 3 passengers on a 2-seat run
    await _booking(conn, "bk_4", acc, "confirmed", [{"trip": "f:t1@08:00:00", "board": 5, "alight": 6}],
                   passengers=3)
    # no override: the per-mode default applies (bus 80 here)
    for n in range(81):
        await _booking(conn, f"bk_b{n}", acc, "confirmed", [{"trip": "f:busy", "board": 0, "alight": 1}])
    result = {v.invariant.name: v for v in await check_invariants(conn, CAPACITY, 100)}
    seats = result["no_overselling"]
    assert seats.count == 3
    found = {(r["trip_id"], r["seg"], r["occupied"], r["capacity"]) for r in seats.rows}
    assert found == {("f:t1", 1, 3, 2), ("f:t1@08:00:00", 5, 3, 2), ("f:busy", 0, 81, 80)}
    assert all(v.count == 0 for k, v in result.items() if k != "no_overselling")


async def test_missing_tickets_and_bad_taps_are_found(conn):
    acc = await _account(conn, 3)
    # confirmed, 2 passengers, but tickets for only one of them on leg 1
    await _booking(conn, "bk_1", acc, "confirmed", [{"trip": "f:t1", "board": 0, "alight": 1},
                                                    {"trip": "f:t2", "board": 0, "alight": 1}],
                   passengers=2, tickets=True)
    await conn.execute("DELETE FROM tickets WHERE booking_id = 'bk_1' AND leg_no = 1 AND passenger_no = 1")
    # a held booking whose tap was accepted; a confirmed one tapped at the wrong stop;
    # a cancelled one tapped after its cancellation
    await _booking(conn, "bk_2", acc, "held", [{"trip": "f:t3", "board": 0, "alight": 1}], tickets=False)
    await _tap(conn, "bk_2", 0, "f:s0", NOW)
    await _booking(conn, "bk_3", acc, "confirmed", [{"trip": "f:t3", "board": 2, "alight": 3}])
    await _tap(conn, "bk_3", 0, "f:s0", NOW)
    await _booking(conn, "bk_4", acc, "cancelled", [{"trip": "f:t3", "board": 0, "alight": 1,
                                                     "status": "cancelled", "cancelled_at": NOW - timedelta(minutes=9)}],
                   tickets=False, cancelled_at=NOW - timedelta(minutes=9))
    await _tap(conn, "bk_4", 0, "f:s0", NOW)
    # an issued ticket left behind on a cancelled booking
    await _booking(conn, "bk_5", acc, "cancelled", [{"trip": "f:t4", "board": 0, "alight": 1,
                                                     "status": "cancelled", "cancelled_at": NOW}],
                   tickets=False, cancelled_at=NOW)
    await conn.execute("""INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status, issued_at)
                          VALUES ('tk_x', 'bk_5', 0, 0, 'adult', 'issued', now())""")
    result = {v.invariant.name: v for v in await check_invariants(conn, CAPACITY, 100)}
    tickets = result["tickets_complete"]
    assert tickets.count == 2
    assert {(r["booking_id"], r["problem"].split(" ")[0]) for r in tickets.rows} == {("bk_1", "missing"), ("bk_5", "ticket")}
    taps = result["taps_confirmed"]
    assert sorted(r["booking_id"] for r in taps.rows) == ["bk_2", "bk_3", "bk_4"]
    assert result["no_overselling"].count == 0


async def test_a_step_accepted_twice_is_found(conn):
    # gate_taps cannot hold two taps of one leg (unique key) nor one burned step twice for a
    # booking (unique index); two legs burning one step is what a broken replay check would
    # leave, if the index were ever dropped
    acc = await _account(conn, 4)
    await _booking(conn, "bk_1", acc, "confirmed", [{"trip": "f:t1", "board": 0, "alight": 1},
                                                    {"trip": "f:t2", "board": 2, "alight": 3}])
    await conn.execute("DROP INDEX gate_taps_burned_step")
    for leg in (0, 1):
        await _tap(conn, "bk_1", leg, "f:s0", NOW, gate=f"g{leg}")
    await conn.execute("UPDATE gate_taps SET burned_step = 7 WHERE booking_id = 'bk_1'")
    result = {v.invariant.name: v for v in await check_invariants(conn, CAPACITY, 100)}
    assert result["no_double_admission"].count == 1
    assert result["no_double_admission"].rows[0]["source"] == "burned steps"


async def test_id_card_entries_are_judged_like_taps(conn):
    """passenger_taps count: a card entry on a booking not confirmed then, or at another stop,
    breaks taps_confirmed; an online card entry on a leg the party had entered by QR before,
    or one passenger entered twice (if the key were ever dropped), no_double_admission."""
    acc = await _account(conn, 5)
    await _booking(conn, "bk_1", acc, "held", [{"trip": "f:t1", "board": 0, "alight": 1}], tickets=False)
    await _card(conn, "bk_1", 0, 0, "f:s0", NOW)                          # not confirmed
    await _booking(conn, "bk_2", acc, "confirmed", [{"trip": "f:t2", "board": 2, "alight": 3}])
    await _card(conn, "bk_2", 0, 0, "f:s0", NOW)                          # wrong stop
    await _booking(conn, "bk_3", acc, "confirmed", [{"trip": "f:t3", "board": 0, "alight": 1}],
                   passengers=2)
    await _tap(conn, "bk_3", 0, "f:s0", NOW - timedelta(minutes=2))       # the party by QR ...
    await _card(conn, "bk_3", 0, 1, "f:s0", NOW)                          # ... then a card: no
    await _booking(conn, "bk_4", acc, "confirmed", [{"trip": "f:t4", "board": 0, "alight": 1}],
                   passengers=2)
    await _card(conn, "bk_4", 0, 0, "f:s0", NOW - timedelta(minutes=3))
    # an offline card entry uploaded after the party's QR is a conflict, not a violation
    await _tap(conn, "bk_4", 0, "f:s0", NOW - timedelta(minutes=2))
    await _card(conn, "bk_4", 0, 1, "f:s0", NOW - timedelta(minutes=4), online=False,
                recorded=NOW)
    result = {v.invariant.name: v for v in await check_invariants(conn, CAPACITY, 100)}
    taps = result["taps_confirmed"]
    assert sorted((r["source"], r["booking_id"]) for r in taps.rows) == [
        ("passenger_taps", "bk_1"), ("passenger_taps", "bk_2")]
    double = result["no_double_admission"]
    assert [(r["source"], r["booking_id"]) for r in double.rows] == [
        ("passenger_taps after the party", "bk_3")]
    await conn.execute("ALTER TABLE passenger_taps DROP CONSTRAINT passenger_taps_booking_id_leg_no_passenger_no_key")
    await conn.execute("UPDATE passenger_taps SET passenger_no = 0 WHERE tap_id = 'card-bk_4-0-1'")
    result = {v.invariant.name: v for v in await check_invariants(conn, CAPACITY, 100)}
    assert sorted(r["source"] for r in result["no_double_admission"].rows) == [
        "passenger_taps", "passenger_taps after the party"]


# --- SLO evaluation -----------------------------------------------------------------------

HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
          "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
          "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%")


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "locust_stats.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


SLO = """
[smoke]
max_failures = 0
[smoke.endpoints."GET /v1/plan"]
p50 = 50
p95 = 100
min_rps = 10
[smoke.endpoints."POST /v1/gates/{gate}/validate"]
p99 = 30
[smoke.endpoints."POST /v1/feeds"]
min_requests = 1
"""


def test_slo_passes_and_fails_on_the_right_numbers(tmp_path: Path):
    stats = read_stats(_csv(tmp_path, [
        "GET,GET /v1/plan,1200,0,20,25.1,3,240,900,40.0,0.0,20,24,28,30,60,90,120,150,230,240,240",
        "POST,POST /v1/gates/{gate}/validate,3000,0,8,9.0,2,80,120,100.0,0.0,8,9,10,11,14,22,28,31,70,80,80",
        ",Aggregated,4200,0,10,13.0,2,240,400,140.0,0.0,10,12,14,16,30,60,90,110,200,240,240",
    ]))
    slo = tmp_path / "slo.toml"
    slo.write_text(SLO, encoding="utf-8")
    checks = {c.what: c for c in evaluate(stats, load_profile(slo, "smoke"))}
    assert checks["unexpected failures (all endpoints)"].ok
    assert checks["GET /v1/plan p50"].ok and checks["GET /v1/plan p95"].ok
    assert checks["GET /v1/plan req/s"].ok
    assert not checks["POST /v1/gates/{gate}/validate p99"].ok          # 31 ms > 30 ms
    assert checks["POST /v1/gates/{gate}/validate p99"].value == "31 ms"
    assert not checks["POST /v1/feeds requests"].ok                      # the operator never ran


def test_slo_counts_unexpected_failures_and_missing_samples(tmp_path: Path):
    stats = read_stats(_csv(tmp_path, [
        "GET,GET /v1/plan,10,2,20,25.1,3,240,900,0.5,0.1,20,24,28,30,60,90,120,150,230,240,240",
        "POST,POST /v1/gates/{gate}/validate,0,0,0,0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A",
        "POST,POST /v1/feeds,1,0,900,900,900,900,10,0.1,0.0,900,900,900,900,900,900,900,900,900,900,900",
        ",Aggregated,11,2,20,25.1,3,900,900,0.6,0.1,20,24,28,30,60,90,120,150,230,900,900",
    ]))
    slo = tmp_path / "slo.toml"
    slo.write_text(SLO, encoding="utf-8")
    checks = {c.what: c for c in evaluate(stats, load_profile(slo, "smoke"))}
    assert not checks["unexpected failures (all endpoints)"].ok
    assert checks["unexpected failures (all endpoints)"].value == "2"
    assert not checks["GET /v1/plan req/s"].ok                             # 0.5 < 10
    assert not checks["POST /v1/gates/{gate}/validate requests"].ok         # none ran
    assert "POST /v1/gates/{gate}/validate p99" not in checks
    assert checks["POST /v1/feeds requests"].ok


def test_the_shipped_slo_file_has_both_profiles():
    root = Path(__file__).resolve().parents[1] / "loadtests" / "slo.toml"
    for profile in ("smoke", "full"):
        p = load_profile(root, profile)
        assert p["max_failures"] == 0
        assert "GET /v1/plan" in p["endpoints"] and "POST /v1/gates/{gate}/validate" in p["endpoints"]


# --- report helpers -----------------------------------------------------------------------


def test_percentiles_and_activation_windows():
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([], 50) != percentile([], 50)   # NaN
    samples = [(100.0 + i * 0.1, 10.0) for i in range(300)]        # t = 100 .. 130
    samples += [(112.0, 500.0), (113.0, 400.0)]                     # slow during activation
    act = [{"feed": "f", "version": "v", "publish_at": 110.0, "activate_at": 111.0, "done_at": 112.5}]
    eff = activation_effect(samples, act, after_s=2.0)
    assert eff["during"]["max"] == 500.0 and eff["otherwise"]["max"] == 10.0
    assert eff["during"]["n"] + eff["otherwise"]["n"] < len(samples)  # 1 s margin excluded
    assert eff["timeline"][0]["publish_s"] == 1.0


def test_pyspy_summary(tmp_path: Path):
    raw = tmp_path / "raw.txt"
    raw.write_text("main (x.py:1);handle (maas/http.py:9);plan (routing/planner.py:3) 30\n"
                   "main (x.py:1);handle (maas/http.py:9);dumps (json/encoder.py:2) 10\n"
                   "main (x.py:1);handle (maas/http.py:9) 10\n"
                   "main (x.py:1);EpollSelector.select (selectors.py:468) 50\n", encoding="utf-8")
    text = summarise_pyspy(raw)
    assert "50 busy samples (50 more waiting" in text
    assert " 60.0%  routing" in text and " 20.0%  json" in text and " 20.0%  maas" in text
    assert "100.0%  handle (maas/http.py:9)" in text


# --- what the load users send -------------------------------------------------------------


def test_generated_id_numbers_are_valid_prc_ids():
    from ticketing.passengers import validate_passenger

    rng = random.Random(3)
    for _ in range(200):
        number = prc_id(rng)
        assert validate_passenger(0, "王伟", number).id_number == number


def test_a_republished_feed_has_new_bytes_and_the_same_files():
    src = io.BytesIO()
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("stops.txt", "stop_id,stop_name\nA,甲\n")
        z.writestr("agency.txt", "agency_id,agency_name\nx,X\n")
    one, two = republished(src.getvalue(), 1), republished(src.getvalue(), 2)
    assert len({src.getvalue(), one, two}) == 3
    for data in (one, two):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.read("stops.txt").decode() == "stop_id,stop_name\nA,甲\n"
            assert sorted(z.namelist()) == ["agency.txt", "stops.txt"]


def test_forged_codes_never_verify():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ticketing.checkin_errors import Rejection
    from ticketing.tokens import TicketToken, TokenLeg, parse_qr, qr_payload, sign_static, verify

    key = Ed25519PrivateKey.generate()
    t0 = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    legs = tuple(TokenLeg(i, f"jinan-bus:S{i}", f"jinan-bus:S{i + 1}", t0, t0 + timedelta(hours=2))
                 for i in range(5))
    token = TicketToken(key_id="k1", booking="bk_0123456789abcdef0123", issued_at=t0,
                        passengers=(("adult", 1),), legs=legs)
    qr = qr_payload(sign_static(token, key), [123456 + i for i in range(5)])
    assert verify(parse_qr(qr), {"k1": key.public_key()}) == token   # the genuine one does
    rng = random.Random(5)
    for _ in range(300):
        fake = forge(qr, rng)
        assert fake != qr
        with pytest.raises(Rejection):
            verify(parse_qr(fake), {"k1": key.public_key()})


def test_locust_runs_niced_as_asked(tmp_path: Path):
    from loadtests.runner import _locust_cmd, parse_args

    a = parse_args(["--smoke"])
    assert a.loadgen_nice == -5
    assert _locust_cmd(a, "http://127.0.0.1:1", tmp_path)[:3] == ["nice", "-n", "-5"]
    a = parse_args(["--smoke", "--loadgen-nice", "0"])
    assert _locust_cmd(a, "http://127.0.0.1:1", tmp_path)[:3] == [sys.executable, "-m", "locust"]


def test_postgres_renice_sets_the_postmaster_and_its_children(tmp_path: Path):
    import subprocess

    import psutil

    from loadtests.runner import _renice_postgres, parse_args

    assert parse_args(["--smoke"]).db_nice == -5
    assert _renice_postgres(tmp_path, 5) == 0            # no embedded PostgreSQL there: nothing
    # a stand-in postmaster with one child, named by a postmaster.pid as PostgreSQL writes it
    master = subprocess.Popen([sys.executable, "-c", "import subprocess, sys; "
                               "subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"])
    try:
        eventually_sync(lambda: psutil.Process(master.pid).children(), message="a child started")
        (tmp_path / "postgres").mkdir()
        (tmp_path / "postgres" / "postmaster.pid").write_text(f"{master.pid}\n{tmp_path}\n")
        base = psutil.Process(master.pid).nice()
        assert _renice_postgres(tmp_path, min(19, base + 3)) == 2
        procs = [psutil.Process(master.pid), *psutil.Process(master.pid).children()]
        assert [p.nice() for p in procs] == [min(19, base + 3)] * 2
        assert _renice_postgres(tmp_path, 0) == 0        # 0: leave it alone
    finally:
        for p in psutil.Process(master.pid).children(recursive=True):
            p.kill()
        master.kill()
        master.wait()


def test_target_needs_the_targets_database_and_distributed_shares_the_pool():
    from loadtests.runner import _locust_cmd, parse_args

    with pytest.raises(SystemExit):
        parse_args(["--smoke", "--target", "http://127.0.0.1:1", "--database-url", ""])
    a = parse_args(["--smoke", "--target", "http://127.0.0.1:1", "--database-url", "postgresql://x/y",
                    "--distributed", "3", "--local-workers", "1", "--master-bind", "0.0.0.0"])
    assert (a.processes, a.local_workers) == (3, 1)   # the gate pool is shared out over 3 workers
    cmd = _locust_cmd(a, a.target, Path("/tmp"))
    assert cmd[cmd.index("--expect-workers") + 1] == "3" and "--processes" not in cmd
    assert cmd[cmd.index("--master-bind-host") + 1] == "0.0.0.0"
    with pytest.raises(SystemExit):
        parse_args(["--smoke", "--distributed", "1", "--local-workers", "2"])


@pytest.mark.slow
def test_distributed_run_against_a_target_the_test_started(tmp_path: Path):
    """`loadtests/run --target URL --distributed 1`: no server of its own, a Locust master and
    one worker that learns the seed from the master and sends its outcomes back; every check
    (failures, SLOs, invariants, gates against taps) passes over a few seconds of load."""
    import json
    import os
    import signal
    import subprocess

    from loadtests.runner import WIDE_WINDOWS
    from maas.embedded import start_postgres

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAAS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env["MAAS_GATES__WINDOW_MIN"] = json.dumps(WIDE_WINDOWS)   # the target admits tomorrow's tickets
    data = tmp_path / "data"
    with (tmp_path / "serve.err").open("w") as err:
        serve = subprocess.Popen([sys.executable, "-m", "maas.cli", "serve", "--demo", "--scale", "0.2",
                                  "--port", "0", "--data-dir", str(data)],
                                 env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
    handle = None
    try:
        line = serve.stdout.readline()  # type: ignore[union-attr]
        assert "listening on http://" in line, (tmp_path / "serve.err").read_text()[-3000:]
        url = line.split("listening on ", 1)[1].split()[0]
        handle, db = start_postgres(data / "postgres")   # attaches to the target's PostgreSQL
        slo = tmp_path / "slo.toml"
        slo.write_text('[smoke]\nmax_failures = 0\n[smoke.endpoints."GET /v1/plan"]\np95 = 60000\n'
                       '[smoke.endpoints."POST /v1/gates/{gate}/validate"]\np95 = 60000\n')
        out = tmp_path / "out"
        run = subprocess.run(
            [str(Path(__file__).resolve().parents[1] / "loadtests" / "run"), "--smoke", "--target", url,
             "--database-url", db, "--distributed", "1", "--master-port", "0", "--time", "8",
             "--users", "6", "--spawn-rate", "6", "--pool", "20", "--slo", str(slo), "--out", str(out),
             "--loadgen-nice", "0", "--mix", '{"operator_first_s": 600}'],
            env={**env, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["target"] == url and "startup_s" not in summary   # no server of its own
        assert "--master" in summary["locust_command"] and "--expect-workers 1" in summary["locust_command"]
        assert [p.name for p in out.glob("outcomes-*.json")] == ["outcomes-worker0.json"]
        checks = {c["what"]: c for c in summary["checks"]}
        assert checks["distributed: every Locust worker sent what it saw"]["ok"]
        assert summary["endpoints"]["GET /v1/plan"]["requests"] > 0
        assert summary["accepted"] > 0   # the worker's gates entered tickets the master seeded
        assert serve.poll() is None      # the target was left running
    finally:
        if handle is not None:
            handle.cleanup()
        serve.send_signal(signal.SIGTERM)
        try:
            serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.communicate()
