"""Hypothesis strategies for the property tests, in one place (as attrs keeps them).

Each strategy draws the domain's own plain data (tokens, itinerary keys, manifests, GTFS
stop_times text, booked legs), within the limits the code documents (a u32 unix time, a
255-byte string, UTF-8 text), so a failing example is a real input the code must handle.

Settings: `PURE` for pure code; `ON_DB` for tests on real PostgreSQL (few examples, no
deadline: a round trip's time is not what is tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from routing.itinerary import ItineraryKey, LegKey
from ticketing.bookings import LegState, RefundPolicy, RefundRule
from ticketing.fares import FareConfig
from ticketing.keyring import SigningKey, public_bytes
from ticketing.manifest import Manifest, ManifestEntry, ManifestLeg
from ticketing.tokens import TicketToken, TokenLeg

PURE = settings(max_examples=150, deadline=None)
ON_DB = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])

UTC = timezone.utc

# text as it comes out of a UTF-8 file: any character but lone surrogates
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)


def short_text(max_bytes: int = 255) -> st.SearchStrategy[str]:
    """Text whose UTF-8 fits a u8 length prefix."""
    return text.filter(lambda s: len(s.encode()) <= max_bytes)


def instants(lo: datetime = datetime(1971, 1, 1), hi: datetime = datetime(2105, 12, 31)
             ) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes to the second (the wire formats carry unix seconds)."""
    return st.datetimes(min_value=lo, max_value=hi, timezones=st.just(UTC)).map(
        lambda d: d.replace(microsecond=0))


signing_keys = st.builds(
    lambda raw, kid: SigningKey(kid, Ed25519PrivateKey.from_private_bytes(raw)),
    st.binary(min_size=32, max_size=32),
    st.text("0123456789abcdef", min_size=1, max_size=16))


# --- journey tokens (ticketing.tokens) -----------------------------------------------------

booking_ids = st.one_of(st.uuids().map(str), short_text())
station_ids = st.one_of(st.sampled_from(["crh:QDN", "qdbus:1001", "air:JNX-AIRPORT"]), short_text())


@st.composite
def ticket_tokens(draw: st.DrawFn, key_id: str | None = None) -> TicketToken:
    def leg(i: int) -> TokenLeg:
        start = draw(instants())
        return TokenLeg(draw(st.integers(0, 255)), draw(station_ids), draw(station_ids), start,
                        start + timedelta(seconds=draw(st.integers(0, 3 * 86400))))

    n_legs = draw(st.integers(0, 6))
    return TicketToken(
        key_id=key_id if key_id is not None else draw(st.text("0123456789abcdef", max_size=16)),
        booking=draw(booking_ids),
        issued_at=draw(instants()),
        passengers=tuple(draw(st.lists(st.tuples(st.sampled_from(
            ["adult", "child", "senior", "disabled"]), st.integers(0, 255)), max_size=4))),
        legs=tuple(leg(i) for i in range(n_legs)),
    )


def codes_for(n: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n)


# --- itinerary ids (routing.itinerary) -----------------------------------------------------

@st.composite
def leg_keys(draw: st.DrawFn) -> LegKey:
    board = draw(st.integers(0, 500))
    dep = draw(instants())
    return LegKey(draw(text), draw(st.dates(date(1990, 1, 1), date(2100, 12, 31))), board,
                  board + draw(st.integers(1, 200)), draw(text), draw(text), dep,
                  dep + timedelta(seconds=draw(st.integers(0, 2 * 86400))))


itinerary_keys = st.builds(
    lambda versions, legs: ItineraryKey(tuple(versions), tuple(legs)),
    st.lists(st.tuples(text, text), max_size=4),
    st.lists(leg_keys(), min_size=1, max_size=5))


@st.composite
def feed_itinerary_keys(draw: st.DrawFn) -> ItineraryKey:
    """Keys as the planner makes them: trip and stop ids carry a "feed:" prefix of one of the
    versions (format 2 writes it once), now and then a stop of another feed or none; trip ids
    now and then long and alike (format 2 then deflates its text)."""
    key = draw(itinerary_keys.filter(lambda k: k.versions))
    feeds = [f for f, _ in key.versions]
    common = draw(st.sampled_from(["", "SP18GEN-Weekday-00_" * 6]))
    legs = []
    for leg in key.legs:
        feed = draw(st.sampled_from(feeds))
        stop_feed = draw(st.sampled_from([feed, feed, draw(text)]))
        legs.append(LegKey(f"{feed}:{common}{leg.trip_id}", leg.service_date, leg.board_pos,
                           leg.alight_pos, f"{feed}:{leg.from_stop}", f"{stop_feed}:{leg.to_stop}",
                           leg.departure, leg.arrival))
    return ItineraryKey(key.versions, tuple(legs))


# --- gate manifests (ticketing.manifest) ---------------------------------------------------

@st.composite
def manifests(draw: st.DrawFn, signer: SigningKey) -> Manifest:
    """A manifest whose key list holds `signer`'s public key (what a gate trusts on first use)."""
    def mleg() -> ManifestLeg:
        start = draw(instants())
        return ManifestLeg(draw(st.integers(0, 255)), start,
                           start + timedelta(seconds=draw(st.integers(0, 86400))))

    entries = {}
    for booking in draw(st.lists(booking_ids, max_size=4, unique=True)):
        legs = tuple(mleg() for _ in range(draw(st.integers(0, 3))))
        entries[booking] = ManifestEntry(
            booking, {leg.index: draw(st.binary(min_size=20, max_size=20)) for leg in legs},
            draw(st.integers(0, 9)), legs,
            frozenset(draw(st.lists(st.integers(0, 255), max_size=3))))
    keys = draw(st.dictionaries(st.text("0123456789abcdef", min_size=1, max_size=8),
                                st.binary(min_size=32, max_size=32), max_size=2))
    keys[signer.key_id] = public_bytes(signer.private)
    day = draw(st.dates(date(2000, 1, 1), date(2100, 12, 31)))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Manifest(
        gate=draw(text), station=draw(station_ids), date=day,
        issued_at=draw(instants()), covers_from=midnight - timedelta(hours=14),
        covers_until=midnight + timedelta(hours=36),
        totp_step_s=draw(st.integers(1, 300)), totp_skew_steps=draw(st.integers(0, 5)),
        totp_digits=draw(st.integers(6, 10)), keys=keys, entries=entries,
        revoked=draw(st.dictionaries(booking_ids, st.one_of(
            st.none(), st.lists(st.integers(0, 255), max_size=3).map(tuple)), max_size=3)),
        stops=tuple(draw(st.lists(station_ids, max_size=3))),
    )


# --- stop_times.txt (feeds.compile_csv and the pandas path) --------------------------------

ST_TRIPS = ["T1", "T2", "007", "trip-with-an-id-over-eight-bytes", "行程3"]
ST_STOPS = ["A", "B", "1.0", "LONG_STOP_ID_OVER_EIGHT_BYTES", "济南西"]
_UNKNOWN = ["NOPE", "T", ""]          # ids the other tables do not have; "" is an empty field
_OPTIONAL = ("arrival_time", "departure_time", "stop_sequence", "pickup_type", "drop_off_type",
             "shape_dist_traveled", "x")


@dataclass(frozen=True)
class StopTimesCsv:
    """A stop_times.txt as a table of field texts, and the ways of writing it out."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    bom: bool
    newline: str            # "\n" or "\r\n"
    final_newline: bool
    blank_after: frozenset[int]   # a blank line after these rows

    def text(self, quoted: frozenset[tuple[int, int]] = frozenset()) -> bytes:
        """The file; the fields at (line, column) in `quoted` are written in double quotes
        (line 0 is the header), which says the same thing to a CSV reader."""
        def line(i: int, fields: tuple[str, ...]) -> str:
            return ",".join(f'"{f}"' if (i, j) in quoted else f for j, f in enumerate(fields))

        lines = [line(0, self.columns)]
        for i, row in enumerate(self.rows):
            lines.append(line(i + 1, row))
            if i in self.blank_after and i + 1 < len(self.rows):
                lines.append("")
        body = self.newline.join(lines) + (self.newline if self.final_newline else "")
        return ("\ufeff" if self.bom else "").encode() + body.encode()


def _time(h: int, m: int, s: int, two_digit_hour: bool) -> str:
    return f"{h:02d}:{m:02d}:{s:02d}" if two_digit_hour or h >= 10 else f"{h}:{m:02d}:{s:02d}"


st_times = st.one_of(
    st.just(""),                                    # blank (timepoint=0 style)
    st.builds(_time, st.integers(0, 199), st.integers(0, 59), st.integers(0, 60), st.booleans()))
st_values = {
    "trip_id": st.sampled_from(ST_TRIPS + _UNKNOWN),
    "stop_id": st.sampled_from(ST_STOPS + _UNKNOWN),
    "arrival_time": st_times,
    "departure_time": st_times,
    "stop_sequence": st.integers(0, 10**6).map(str),
    "pickup_type": st.sampled_from(["", "0", "1", "2", "3", "7", "-999", "12"]),
    "drop_off_type": st.sampled_from(["", "0", "1", "2", "3", "7", "-999", "12"]),
    "shape_dist_traveled": st.one_of(st.just(""), st.floats(0, 1e5).map(lambda f: f"{f:.1f}")),
    "x": st.sampled_from(["", "y", "z9"]),
}


@st.composite
def stop_times_csvs(draw: st.DrawFn) -> StopTimesCsv:
    """The plain shape the numpy reader takes: no quotes, no spaces around fields, every line
    with the header's fields, well-formed times and sequences; any column order, optional
    columns present or not, empty fields, times past 24:00, BOM, CRLF, blank lines."""
    optional = draw(st.lists(st.sampled_from(_OPTIONAL), unique=True))
    columns = tuple(draw(st.permutations(["trip_id", "stop_id", *optional])))
    n = draw(st.integers(1, 30))
    rows = tuple(tuple(draw(st_values[c]) for c in columns) for _ in range(n))
    return StopTimesCsv(columns, rows, draw(st.booleans()), draw(st.sampled_from(["\n", "\r\n"])),
                        draw(st.booleans()),
                        frozenset(draw(st.lists(st.integers(0, n - 1), max_size=2))))


# --- booked legs and refund rules (ticketing.bookings) -------------------------------------

fractions = st.integers(0, 100).map(lambda p: p / 100)
refund_rules = st.builds(RefundRule, st.integers(0, 96).map(float), fractions, fractions)
refund_policies = st.builds(
    RefundPolicy, refund_rules,
    st.dictionaries(st.sampled_from(["bus", "rail", "air"]), refund_rules, max_size=2),
    st.dictionaries(st.sampled_from(["bus:B", "rail:R", "air:X"]), refund_rules, max_size=2))
fare_configs = st.builds(
    lambda linked, child: FareConfig(linked_discount=linked, concessions={"child": child}),
    st.integers(0, 30).map(lambda p: p / 100), fractions)
categories = st.lists(st.sampled_from(["adult", "child"]), min_size=1, max_size=3)


@st.composite
def booked_legs(draw: st.DrawFn, now: datetime) -> list[tuple[LegState, int]]:
    """1-4 legs (operator, mode, departure around `now`, one adult's unit price); the caller
    prices them as the store does at hold time."""
    out = []
    for n in range(draw(st.integers(1, 4))):
        operator, mode = draw(st.sampled_from([("bus:B", "bus"), ("rail:R", "rail"),
                                               ("air:X", "air"), ("rail:S", "rail")]))
        departure = now + timedelta(minutes=draw(st.integers(-600, 6000)))
        unit = draw(st.integers(0, 500_000))
        out.append((LegState(n, True, operator, mode, departure, unit, f"s{n}", 0), unit))
    return out
