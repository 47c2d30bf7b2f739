"""SQL of check-in (tables in maas/migrations/0300_gates.sql; bookings from 0200_bookings.sql).

The store owns every statement and turns PostgreSQL's answers into domain outcomes: a conflict
on gate_taps(booking_id, leg_no) is `AlreadyUsed` (online: ON CONFLICT DO NOTHING; offline
uploads: the unique violation), a unique violation on the taps' burned steps
(gate_taps_burned_step) is a replayed code (`CodeExpired`). Secrets are sealed/unsealed here
with the data-at-rest keys.
"""

from __future__ import annotations

import functools
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

import asyncpg

from ticketing.checkin_config import CheckinConfig
from ticketing.checkin_errors import AlreadyUsed, CodeExpired
from ticketing.keyring import DataKeyring, seal, signing_key_aad, unseal
from ticketing.manifest import ManifestEntry, ManifestLeg, ReplacedBy
from ticketing.totp import leg_secret, new_secret

__all__ = [
    "TicketState", "SecretCache", "TokenSource", "NewSecret", "new_sealed_secret", "token_source", "ensure_secret", "create_secret",
    "ticket_state", "record_tap", "station_secrets", "manifest_content", "upload_taps", "list_conflicts",
    "UploadedTap", "reseal_all", "QrTap", "record_taps", "record_qr_tap",
    "TokenAsk", "token_sources", "secret_aad", "face_aad", "max_margins", "replacements",
    "warm_connection",
]


@dataclass(frozen=True)
class TicketState:
    status: str                      # booking status
    cancelled_legs: frozenset[int]   # legs not confirmed any more
    secret: bytes | None
    replaced: dict[int, ReplacedBy] = field(default_factory=dict)   # of cancelled_legs: replaced


def secret_aad(booking: str) -> bytes:
    return b"maas.totp:" + booking.encode()


def face_aad(account: str) -> bytes:
    return b"maas.face:" + account.encode()


class SecretCache:
    """Unsealed TOTP secrets by booking (they never change), bounded LRU, per process."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._d: OrderedDict[str, bytes] = OrderedDict()

    def get(self, booking: str) -> bytes | None:
        v = self._d.get(booking)
        if v is not None:
            self._d.move_to_end(booking)
        return v

    def put(self, booking: str, secret: bytes) -> None:
        self._d[booking] = secret
        if len(self._d) > self.size:
            self._d.popitem(last=False)

    def unsealed(self, booking: str, keys: DataKeyring, data_key_id: str, sealed: bytes) -> bytes:
        """Unseal a stored secret and keep it."""
        secret = unseal(keys, data_key_id, sealed, secret_aad(booking))
        self.put(booking, secret)
        return secret

    def __repr__(self) -> str:
        return f"SecretCache(n={len(self._d)})"


@dataclass(frozen=True)
class TokenSource:
    """What a journey token is made of, read in one statement: the booking, its confirmed
    legs and its sealed TOTP secret (None until the first token creates it)."""

    account_id: str
    status: str
    categories: tuple[str, ...]
    legs: tuple[tuple[int, str, str, str, datetime, datetime], ...]  # leg_no, from, to, mode, dep, arr
    data_key_id: str | None
    sealed_secret: bytes | None
    issued_at: datetime | None
    created: bool = False            # this statement stored the caller's new secret


@dataclass(frozen=True)
class NewSecret:
    """A booking's would-be TOTP secret, sealed, for `token_source` to store if there is none."""

    secret: bytes
    data_key_id: str
    sealed: bytes
    issued_at: datetime


def new_sealed_secret(keys: DataKeyring, booking_id: str, now: datetime) -> NewSecret:
    secret = new_secret()
    dek, blob = seal(keys, secret, secret_aad(booking_id))
    return NewSecret(secret, dek, blob, now)


# a booking's rows for its token, one per leg (token_source; token_sources, per request)
_TOKEN_ROWS = """SELECT b.account_id, b.status, b.passenger_categories,
                        s.data_key_id, s.sealed_secret, s.issued_at,
                        l.leg_no, l.status AS leg_status, l.from_stop, l.to_stop, l.mode,
                        l.departure, l.arrival
                   FROM bookings b
                   LEFT JOIN booking_secrets s ON s.booking_id = b.id
                   LEFT JOIN booking_legs l ON l.booking_id = b.id"""

_TOKEN_SOURCE = f"""WITH src AS ({_TOKEN_ROWS} WHERE b.id = $1),
           made AS (
               INSERT INTO booking_secrets (booking_id, data_key_id, sealed_secret, issued_at)
               SELECT $1, $3, $4, $5
                WHERE $4::bytea IS NOT NULL
                  AND EXISTS (SELECT 1 FROM src
                               WHERE account_id = $2 AND status = 'confirmed'
                                 AND leg_status = 'confirmed' AND sealed_secret IS NULL)
               ON CONFLICT (booking_id) DO NOTHING
               RETURNING issued_at)
           SELECT src.*, (SELECT issued_at FROM made) AS made_at FROM src ORDER BY leg_no"""


async def token_source(conn: Any, booking_id: str, account: str | None = None,
                       new: NewSecret | None = None) -> TokenSource | None:
    """The booking, its confirmed legs (leg_no order) and its sealed secret; one round trip.

    With `new`, the same statement stores it as the booking's secret when the booking is
    `account`'s, confirmed, with a confirmed leg, and has no secret yet (`created`): the first
    token of a booking takes one statement, not a read and then an insert. A secret stored by
    a racing request meanwhile wins (nothing is stored; the caller reads theirs).

    One row per leg, filtered here rather than in SQL: with `l.status = 'confirmed'` in the
    statement, a generic plan on a young table ANDs in the partial occupancy index and reads
    thousands of index entries per call (measured). The insert's conditions look at the read
    rows (the CTE, materialised), never into booking_legs' indexes. (A plpgsql function with
    generic plans, migration 0851, cost more than it saved here: dropped by 0852.)"""
    rows = await conn.fetch(
        _TOKEN_SOURCE,
        booking_id, account, new.data_key_id if new else None, new.sealed if new else None,
        new.issued_at if new else None)
    return _token_source(rows, new)


def _token_source(rows: Sequence[Any], new: NewSecret | None) -> TokenSource | None:
    """A TokenSource from one booking's rows (one per leg, leg_no order; made_at: ours stored)."""
    if not rows:
        return None
    b = rows[0]
    legs = tuple((r["leg_no"], r["from_stop"], r["to_stop"], r["mode"], r["departure"], r["arrival"])
                 for r in rows if r["leg_status"] == "confirmed")
    if new is not None and b["made_at"] is not None:
        return TokenSource(b["account_id"], b["status"], tuple(b["passenger_categories"]), legs,
                           new.data_key_id, new.sealed, b["made_at"], created=True)
    return TokenSource(b["account_id"], b["status"], tuple(b["passenger_categories"]), legs,
                       b["data_key_id"], b["sealed_secret"], b["issued_at"])


@dataclass(frozen=True)
class TokenAsk:
    """One `token_source` call for `token_sources` (a batch: ticketing/batcher.py)."""

    booking: str
    account: str | None
    new: NewSecret | None


# token_source for many bookings in one statement: each request's rows carry its ordinal `n`;
# a stored secret is matched to the request that brought it by its sealed bytes (unique per
# seal), so two requests of one booking in one array never both think theirs was stored
_TOKEN_SOURCES = f"""WITH req AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[])
              WITH ORDINALITY AS r(booking, account, dek, sealed, issued, n)),
   src AS (
       SELECT r.n, r.booking, r.sealed AS asked, x.*
         FROM req r CROSS JOIN LATERAL (
              -- per request, by the keys (OFFSET 0: never pulled up into a hash join
              -- scanning the tables)
              {_TOKEN_ROWS} WHERE b.id = r.booking OFFSET 0) x),
   made AS (
       INSERT INTO booking_secrets (booking_id, data_key_id, sealed_secret, issued_at)
       SELECT r.booking, r.dek, r.sealed, r.issued FROM req r
        WHERE r.sealed IS NOT NULL
          AND EXISTS (SELECT 1 FROM src
                       WHERE src.n = r.n AND src.account_id = r.account AND src.status = 'confirmed'
                         AND src.leg_status = 'confirmed' AND src.sealed_secret IS NULL)
        ORDER BY r.booking, r.n
       ON CONFLICT (booking_id) DO NOTHING
       RETURNING booking_id, sealed_secret, issued_at)
   SELECT src.*, made.issued_at AS made_at
     FROM src LEFT JOIN made ON made.booking_id = src.booking AND made.sealed_secret = src.asked
    ORDER BY src.n, src.leg_no"""


async def token_sources(conn: Any, asks: Sequence[TokenAsk]) -> list[TokenSource | None]:
    """`token_source` for each ask, in one statement and one transaction; per ask, in order,
    what it would give alone (asks of one booking behave as one after the other: the first
    to bring a secret stores it). The caller sorts by booking (a stable lock order)."""
    rows = await conn.fetch(
        _TOKEN_SOURCES, [a.booking for a in asks], [a.account for a in asks],
        [a.new.data_key_id if a.new else None for a in asks],
        [a.new.sealed if a.new else None for a in asks],
        [a.new.issued_at if a.new else None for a in asks])
    by: dict[int, list[Any]] = {}
    for r in rows:
        by.setdefault(r["n"], []).append(r)
    return [_token_source(by.get(i, ()), a.new) for i, a in enumerate(asks, 1)]


async def ensure_secret(conn: Any, booking_id: str, keys: DataKeyring,
                        now: datetime) -> tuple[bytes, datetime]:
    """The booking's TOTP secret and the token's issue time; created on first use."""
    sql = "SELECT data_key_id, sealed_secret, issued_at FROM booking_secrets WHERE booking_id = $1"
    row = await conn.fetchrow(sql, booking_id)
    if row is None:
        return await create_secret(conn, booking_id, keys, now)
    secret = unseal(keys, row["data_key_id"], row["sealed_secret"], secret_aad(booking_id))
    return secret, row["issued_at"]


async def create_secret(conn: Any, booking_id: str, keys: DataKeyring,
                        now: datetime) -> tuple[bytes, datetime]:
    """Create the booking's TOTP secret (the caller saw none); if another request created it
    first, theirs, so every token of a booking carries one secret and one issue time."""
    secret = new_secret()
    dek, blob = seal(keys, secret, secret_aad(booking_id))
    issued = await conn.fetchval(
        "INSERT INTO booking_secrets (booking_id, data_key_id, sealed_secret, issued_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (booking_id) DO NOTHING RETURNING issued_at",
        booking_id, dek, blob, now)
    if issued is not None:
        return secret, issued
    row = await conn.fetchrow(   # the winner's
        "SELECT data_key_id, sealed_secret, issued_at FROM booking_secrets WHERE booking_id = $1",
        booking_id)
    return unseal(keys, row["data_key_id"], row["sealed_secret"], secret_aad(booking_id)), row["issued_at"]


_TICKET_STATE = """SELECT b.status, s.data_key_id, s.sealed_secret,
                          array(SELECT l.leg_no FROM booking_legs l
                                WHERE l.booking_id = b.id AND l.status <> 'confirmed') AS cancelled,
                          EXISTS (SELECT 1 FROM booking_legs l
                                  WHERE l.booking_id = b.id AND l.status = 'replaced') AS replaced
                     FROM bookings b LEFT JOIN booking_secrets s ON s.booking_id = b.id
                    WHERE b.id = $1"""


async def ticket_state(conn: Any, booking_id: str, keys: DataKeyring,
                       cache: SecretCache | None = None) -> TicketState | None:
    """What the online gate needs beyond the signed token: status, cancelled legs, secret."""
    row = await conn.fetchrow(_TICKET_STATE, booking_id)
    if row is None:
        return None
    replaced = (await replacements(conn, [booking_id])).get(booking_id, {}) if row["replaced"] else {}
    secret = cache.get(booking_id) if cache else None
    if secret is None and row["sealed_secret"] is not None:
        secret = unseal(keys, row["data_key_id"], row["sealed_secret"], secret_aad(booking_id))
        if cache:
            cache.put(booking_id, secret)
    return TicketState(row["status"], frozenset(row["cancelled"]), secret, replaced)


async def replacements(conn: Any, booking_ids: Sequence[str]) -> dict[str, dict[int, ReplacedBy]]:
    """booking -> {replaced leg -> the leg that replaced it}, following `replaced_by` through
    legs replaced again (an exchanged leg exchanged once more) to the last one. Departures UTC."""
    rows = await conn.fetch(
        """SELECT booking_id, leg_no, status, replaced_by, trip_id, departure, from_stop
             FROM booking_legs WHERE booking_id = ANY ($1::text[])""", list(set(booking_ids)))
    legs = {(r["booking_id"], r["leg_no"]): r for r in rows}
    out: dict[str, dict[int, ReplacedBy]] = {}
    for r in rows:
        if r["status"] != "replaced" or r["replaced_by"] is None:
            continue
        b, by = r["booking_id"], legs.get((r["booking_id"], r["replaced_by"]))
        seen = {r["leg_no"]}
        while by is not None and by["status"] == "replaced" and by["replaced_by"] is not None \
                and by["leg_no"] not in seen:
            seen.add(by["leg_no"])
            by = legs.get((b, by["replaced_by"]))
        if by is not None:
            out.setdefault(b, {})[r["leg_no"]] = ReplacedBy(by["leg_no"], by["trip_id"],
                                                            by["departure"], by["from_stop"])
    return out


BURNED_STEP_KEY = "gate_taps_burned_step"   # a step burned twice for a booking: code_expired
# record_tap with require_confirmed (a QR accept): _tap_statement(True, False, burn) as a
# function whose statements are planned once per connection (migrations 0851, 0854)
_GATE_TAP = "SELECT maas_gate_tap($1, $2, $3, $4, $5, $6, $7, $8, $9)"


@functools.cache
def _tap_statement(require_confirmed: bool, require_face: bool, burn: bool) -> str:
    """record_tap's statement for these options (built once each)."""
    face = """ AND EXISTS (SELECT 1 FROM face_templates f WHERE f.account_id = b.account_id
                 AND (f.consent_operators IS NULL OR l.agency_id = ANY (f.consent_operators)
                      OR l.feed = ANY (f.consent_operators)))""" if require_face else ""
    source = (
        f"""SELECT l.booking_id, l.from_stop FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
             WHERE l.booking_id = $2 AND l.leg_no = $3
               AND l.status = 'confirmed' AND b.status = 'confirmed'{face}"""
        if require_confirmed or require_face else "SELECT $2::text AS booking_id, NULL::text AS from_stop")
    # The tap's station is where the leg boards (the gate's station or one of its platforms).
    # A leg already entered is a conflict on gate_taps (booking_id, leg_no), which waits for a
    # racing insert to commit exactly like a unique violation would, but without the error
    # (and its log line in PostgreSQL): the statement then reports eligible-but-not-entered.
    # A burned step (`burned_step`, unique per booking among the taps: migration 0850) is
    # still a unique violation, on gate_taps_burned_step, and rolls the tap back.
    tap = f"""INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method,
                                    online, totp_step, tapped_at, recorded_at, burned_step)
              SELECT $1, booking_id, $3, $4, coalesce(from_stop, $5::text), $6, true, $7::bigint,
                     $8, $8, {"$7::bigint" if burn else "NULL"} FROM ok
              ON CONFLICT (booking_id, leg_no) DO NOTHING
              RETURNING booking_id"""
    # 0: booking or leg not (any more) eligible; 1: eligible, leg already entered; 2: entered
    return f"""WITH ok AS ({source}), tap AS ({tap})
                SELECT (SELECT count(*) FROM ok)::int + (SELECT count(*) FROM tap)::int"""


async def record_tap(conn: Any, *, booking: str, leg: int, gate: str, station: str,
                     method: str, step: int | None, now: datetime,
                     require_confirmed: bool = False, require_face: bool = False) -> str | None:
    """Record an online entry atomically (tap + burned step in one statement); its tap id.

    AlreadyUsed when the leg already has an entry tap (e.g. another gate won the race);
    CodeExpired when this code's step was already accepted for the booking (a replay).
    With `require_confirmed`, the same statement checks that booking and leg are still
    confirmed and records nothing (returns None) if not — the caller then looks closer.
    With `require_face`, also that the booking's account still has a face template whose
    consent covers the leg's operator (a withdrawn face never admits, even from a cache)."""
    tap_id = str(uuid.uuid4())
    try:
        if require_confirmed and not require_face:   # every QR accept: migration 0851
            got = await conn.fetchval(_GATE_TAP, tap_id, booking, leg, gate, station, method,
                                      step, now, step is not None)
        else:
            got = await conn.fetchval(_tap_statement(require_confirmed, require_face, step is not None),
                                      tap_id, booking, leg, gate, station, method, step, now)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == BURNED_STEP_KEY:
            raise CodeExpired("this code was already accepted", leg=leg) from None
        raise AlreadyUsed("ticket already used for this leg", leg=leg) from None
    if got == 1:
        raise AlreadyUsed("ticket already used for this leg", leg=leg)
    return tap_id if got == 2 else None


@dataclass(frozen=True)
class QrTap:
    """One online QR accept for `record_taps` (what `record_tap` with require_confirmed takes;
    the tap's id is made when it is entered)."""

    booking: str
    leg: int
    gate: str
    station: str
    step: int | None
    now: datetime


# record_taps: maas_gate_tap for many accepts in one statement (migrations 0839, 0854)
_GATE_TAPS = "SELECT maas_gate_taps($1, $2, $3, $4, $5, $6)"


async def record_taps(conn: Any, taps: Sequence[QrTap]) -> list[bool | BaseException]:
    """Online QR accepts in one statement and one transaction (a batch: ticketing/batcher.py);
    per tap, in order, what `record_qr_tap` would give for it alone: True (entered), False
    (booking or leg not confirmed) or the exception it would raise (AlreadyUsed, CodeExpired),
    as an instance. Taps of one booking behave as one after the other; the caller sorts by
    booking (a stable lock order between concurrent batches)."""
    got = await conn.fetchval(
        _GATE_TAPS, [t.booking for t in taps], [t.leg for t in taps], [t.gate for t in taps],
        [t.station for t in taps], [t.step for t in taps], [t.now for t in taps])
    out: list[bool | BaseException] = []
    for t, g in zip(taps, got):
        if g in (0, 2):
            out.append(g == 2)
        elif g == 1:
            out.append(AlreadyUsed("ticket already used for this leg", leg=t.leg))
        else:
            out.append(CodeExpired("this code was already accepted", leg=t.leg))
    return out


async def record_qr_tap(conn: Any, t: QrTap) -> bool:
    """`record_tap` of one QrTap alone: entered (True) or not confirmed (False); raises as it
    does (the first accept of a batcher, a failed batch's items one by one)."""
    return await record_tap(conn, booking=t.booking, leg=t.leg, gate=t.gate, station=t.station,
                            method="qr", step=t.step, now=t.now,
                            require_confirmed=True) is not None


_STATION_SECRETS = """SELECT s.booking_id, s.data_key_id, s.sealed_secret
                        FROM booking_legs l JOIN booking_secrets s ON s.booking_id = l.booking_id
                       WHERE l.from_stop = ANY ($1::text[]) AND l.status = 'confirmed'
                         AND l.departure <= $2 AND l.departure > $3 AND l.arrival >= $4"""


async def station_secrets(conn: Any, stops: Sequence[str], now: datetime, cfg: CheckinConfig,
                          keys: DataKeyring, cache: SecretCache) -> int:
    """Warm `cache` with the secrets of confirmed bookings boarding at `stops` around now,
    so the online accept path needs one statement. Returns how many were loaded."""
    before, after = max_margins(cfg)
    rows = await conn.fetch(_STATION_SECRETS, list(stops), now + before,
                            now - after - timedelta(days=2), now - after)
    for r in rows:
        b = r["booking_id"]
        if cache.get(b) is None:
            cache.put(b, unseal(keys, r["data_key_id"], r["sealed_secret"], secret_aad(b)))
    return len(rows)



_NEVER = datetime(2000, 1, 1, tzinfo=timezone.utc)


async def warm_connection(conn: Any) -> None:
    """Run the token's and the online gate's statements once on a new pooled connection, with
    arguments that match no row (no booking has the id '', an empty batch writes nothing), so
    its first requests find them prepared in asyncpg's cache and planned, their tables' and
    functions' catalog entries loaded in the backend (maas/db.py `db_warm`)."""
    await token_source(conn, "")
    await token_sources(conn, [])
    await conn.fetchval(_GATE_TAP, "", "", 0, "", "", "qr", None, _NEVER, False)
    await conn.fetchval(_GATE_TAPS, [], [], [], [], [], [])
    await conn.fetchrow(_TICKET_STATE, "")
    await conn.fetch(_STATION_SECRETS, [], _NEVER, _NEVER, _NEVER)

# --- manifests ----------------------------------------------------------------------------


def max_margins(cfg: CheckinConfig) -> tuple[timedelta, timedelta]:
    before = max(m.before_departure_s for m in cfg.margins.values()) if cfg.margins else 0
    after = max(m.after_arrival_s for m in cfg.margins.values()) if cfg.margins else 0
    return timedelta(seconds=before), timedelta(seconds=after)


async def manifest_content(conn: Any, stops: Sequence[str], lo: datetime, hi: datetime,
                           cfg: CheckinConfig, keys: DataKeyring, now: datetime
                           ) -> tuple[dict[str, ManifestEntry], dict[str, tuple[int, ...] | None],
                                      dict[str, dict[int, ReplacedBy]]]:
    """Entries (confirmed bookings with a confirmed leg admitting at `stops` within [lo, hi)),
    revocations (cancelled or replaced bookings/legs that would have) and, of those, the legs
    replaced (by what) for a gate manifest."""
    before, after = max_margins(cfg)
    rows = await conn.fetch(
        """SELECT l.booking_id, b.status AS bstatus, b.passenger_count, l.leg_no,
                  l.status AS lstatus, l.mode, l.departure, l.arrival,
                  EXISTS (SELECT 1 FROM gate_taps t
                          WHERE t.booking_id = l.booking_id AND t.leg_no = l.leg_no) AS used
             FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
            WHERE l.from_stop = ANY ($1::text[]) AND l.departure < $3 AND l.departure > $2
              AND b.status IN ('confirmed', 'cancelled')""",
        list(stops), lo - after - timedelta(days=2), hi + before)
    legs: dict[str, list[ManifestLeg]] = {}
    used: dict[str, set[int]] = {}
    pax: dict[str, int] = {}
    revoked: dict[str, tuple[int, ...] | None] = {}
    gone: dict[str, set[int]] = {}
    for r in rows:
        vf, vu = cfg.window(r["mode"], r["departure"], r["arrival"])
        if not (vf < hi and vu >= lo):
            continue
        b = r["booking_id"]
        if r["bstatus"] != "confirmed":
            revoked[b] = None
        elif r["lstatus"] != "confirmed":
            prev = revoked.get(b, ())
            revoked[b] = tuple(sorted({*(prev or ()), r["leg_no"]}))
        else:
            legs.setdefault(b, []).append(ManifestLeg(r["leg_no"], vf, vu))
            pax[b] = r["passenger_count"]
            if r["used"]:
                used.setdefault(b, set()).add(r["leg_no"])
        if r["lstatus"] == "replaced" and r["bstatus"] == "confirmed":
            gone.setdefault(b, set()).add(r["leg_no"])
    entries: dict[str, ManifestEntry] = {}
    for b, bl in legs.items():
        secret, _ = await ensure_secret(conn, b, keys, now)
        entries[b] = ManifestEntry(b, {leg.index: leg_secret(secret, leg.index) for leg in bl},
                                   pax[b], tuple(bl), frozenset(used.get(b, ())))
    found = await replacements(conn, list(gone)) if gone else {}
    replaced = {b: {n: by for n, by in found.get(b, {}).items() if n in ns}
                for b, ns in gone.items() if found.get(b)}
    return entries, revoked, replaced


# --- offline taps and conflicts -----------------------------------------------------------


@dataclass(frozen=True)
class UploadedTap:
    tap_id: str
    booking: str
    leg: int
    at: datetime
    step: int | None
    passenger: int | None = None   # an ID-card tap (one passenger); None: the whole party
    qr: str | None = None          # proof of a QR tap: the payload scanned (checked by the service)
    id_card: tuple[str, str] | None = None   # proof of an ID-card tap: (id_type, number) read


async def _upload_one(conn: Any, gate: str, station: str, t: UploadedTap, now: datetime,
                      stops: Sequence[str] | None) -> str:
    prior = await conn.fetchval("SELECT outcome FROM offline_taps WHERE tap_id = $1", t.tap_id)
    if prior is not None:
        return "duplicate"
    leg = await conn.fetchrow(
        "SELECT agency_id, feed, from_stop FROM booking_legs WHERE booking_id = $1 AND leg_no = $2"
        " FOR UPDATE", t.booking, t.leg)
    if leg is None:
        outcome = "unknown_leg"
    elif stops is not None and leg["from_stop"] not in stops:
        return "wrong_station"       # a gate cannot have admitted this leg: nothing is stored
    else:
        current = await conn.fetchrow(
            "SELECT tap_id, gate_id, tapped_at FROM gate_taps WHERE booking_id = $1 AND leg_no = $2",
            t.booking, t.leg)
        if current is None:
            await conn.execute(
                """INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method,
                                          online, totp_step, tapped_at, recorded_at)
                   VALUES ($1, $2, $3, $4, $5, 'qr', false, $6, $7, $8)""",
                t.tap_id, t.booking, t.leg, gate, leg["from_stop"], t.step, t.at, now)
            outcome = "recorded"
        else:
            # first tap wins: the earlier one stays (or becomes) the leg's entry
            new_wins = t.at < current["tapped_at"]
            winner = (t.tap_id, gate, t.at) if new_wins else (
                current["tap_id"], current["gate_id"], current["tapped_at"])
            loser = (current["tap_id"], current["gate_id"], current["tapped_at"]) if new_wins else (
                t.tap_id, gate, t.at)
            if new_wins:
                await conn.execute(
                    """UPDATE gate_taps SET tap_id = $3, gate_id = $4, station = $5, method = 'qr',
                              online = false, totp_step = $6, tapped_at = $7, recorded_at = $8
                        WHERE booking_id = $1 AND leg_no = $2""",
                    t.booking, t.leg, t.tap_id, gate, leg["from_stop"], t.step, t.at, now)
            await conn.execute(
                """INSERT INTO tap_conflicts (booking_id, leg_no, agency_id, feed, winner_tap_id,
                       winner_gate, winner_at, loser_tap_id, loser_gate, loser_at, detected_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                t.booking, t.leg, leg["agency_id"], leg["feed"], *winner, *loser, now)
            outcome = "conflict"
    await conn.execute(
        """INSERT INTO offline_taps (tap_id, gate_id, station, booking_id, leg_no, totp_step,
                                     tapped_at, uploaded_at, outcome)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        t.tap_id, gate, station, t.booking, t.leg, t.step, t.at, now, outcome)
    return outcome


async def upload_taps(pool: Any, gate: str, station: str, taps: Iterable[UploadedTap],
                      now: datetime, stops: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """Store offline taps; (tap id, outcome) each: recorded | conflict | duplicate |
    unknown_leg | wrong_station (the leg does not board at `stops`, the gate's stop ids).

    Each tap is its own transaction, serialised per booking leg by the leg's row lock, so
    two gates uploading taps of one ticket at once still detect the conflict exactly once."""
    out = []
    async with pool.acquire() as conn:
        for t in taps:
            for attempt in range(3):
                try:
                    async with conn.transaction():
                        outcome = await _upload_one(conn, gate, station, t, now, stops)
                    break
                except asyncpg.UniqueViolationError:
                    # an online accept or the same tap id slipped in between; look again
                    if attempt == 2:
                        raise
            out.append((t.tap_id, outcome))
    return out


async def list_conflicts(conn: Any, operator: str, limit: int = 100) -> list[dict[str, Any]]:
    """Conflicts on legs of this operator ("feed:agency_id", or a feed it owns), newest first,
    each with the leg's boarding stop (`from_stop`: its times are shown local to it)."""
    rows = await conn.fetch(
        """SELECT c.*, l.from_stop FROM tap_conflicts c
             LEFT JOIN booking_legs l ON l.booking_id = c.booking_id AND l.leg_no = c.leg_no
            WHERE c.agency_id = $1 OR c.feed = $1
            ORDER BY c.detected_at DESC, c.id DESC LIMIT $2""", operator, limit)
    return [dict(r) for r in rows]


# --- data-key rotation --------------------------------------------------------------------


async def reseal_all(pool: Any, keys: DataKeyring) -> int:
    """Re-seal every check-in secret still under an older data-at-rest key with the active one
    (TOTP secrets, face templates, signing keys), so old keys can then be dropped. Each row in
    its own short transaction, locked, re-read: safe while the service runs. Returns rows."""

    tables = (
        ("booking_secrets", "booking_id", "sealed_secret", secret_aad),
        ("face_templates", "account_id", "sealed_template", face_aad),
        ("signing_keys", "key_id", "sealed_private", signing_key_aad),
    )
    n = 0
    async with pool.acquire() as conn:
        for table, pk, col, aad in tables:
            ids = [r[0] for r in await conn.fetch(
                f"SELECT {pk} FROM {table} WHERE data_key_id <> $1", keys.active)]
            for row_id in ids:
                async with conn.transaction():
                    row = await conn.fetchrow(
                        f"SELECT data_key_id, {col} FROM {table} WHERE {pk} = $1 FOR UPDATE", row_id)
                    if row is None or row["data_key_id"] == keys.active:
                        continue
                    plain = unseal(keys, row["data_key_id"], row[col], aad(row_id))
                    dek, blob = seal(keys, plain, aad(row_id))
                    await conn.execute(
                        f"UPDATE {table} SET data_key_id = $2, {col} = $3 WHERE {pk} = $1",
                        row_id, dek, blob)
                    n += 1
    return n
