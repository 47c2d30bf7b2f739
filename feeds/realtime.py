"""GTFS-Realtime in: a `FeedMessage` (protobuf bytes) -> plain data, no I/O.

    msg = parse(body, feed="town", default_date=date(2026, 11, 23))
    msg.trip_updates    # routing.updates.TripUpdate, ids namespaced "town:..."
    msg.alerts          # feeds.alerts.Alert
    msg.deleted         # differential: entity ids the producer withdrew
    msg.skipped         # entities we do not take, each with its reason

Ids are namespaced with the feed name as the static network spells them (`"feed:trip_id"`,
`"feed:stop_id"`); an id the producer already namespaced with this feed (`"town:T1"` from
feed town) is kept as is. Whether a trip id belongs to another feed is the ingest's
question (it has the network).

What is not taken, and why (`Skipped.reason`): vehicle positions (`vehicle_position`),
trips ADDED / DUPLICATED / UNSCHEDULED / REPLACEMENT / NEW / DELETED (`unsupported_relationship`: the
static network has no run to overlay), a TripUpdate without trip_id (`no_trip_id`: matching
by route + direction + start time is not supported).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.transit import gtfs_realtime_pb2 as rt

from feeds.alerts import Alert, InformedEntity
from feeds.errors import NotProtobuf
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

__all__ = ["RealtimeMessage", "Skipped", "parse", "parse_message", "namespaced"]

_TRIP = rt.TripDescriptor
_STU = rt.TripUpdate.StopTimeUpdate
# trip schedule_relationship values we overlay on the static timetable
_OVERLAID = {_TRIP.SCHEDULED}
_CAUSES = {v: k.lower() for k, v in rt.Alert.Cause.items()}
_EFFECTS = {v: k.lower() for k, v in rt.Alert.Effect.items()}


@dataclass(frozen=True)
class Skipped:
    entity_id: str
    reason: str                     # stable code (see the module docstring)
    trip_id: str | None = None      # namespaced, when the entity named one


@dataclass(frozen=True)
class RealtimeMessage:
    feed: str
    full_dataset: bool              # header.incrementality FULL_DATASET (the default)
    timestamp: int | None           # header.timestamp, POSIX seconds
    trip_updates: tuple[tuple[str, TripUpdate], ...]   # (entity id, update)
    alerts: tuple[Alert, ...]
    deleted: tuple[tuple[str, str | None], ...]        # (entity id, trip id if it named one)
    skipped: tuple[Skipped, ...]
    undated: frozenset[str] = frozenset()   # entity ids whose trip had no start_date


def namespaced(feed: str, gtfs_id: str) -> str:
    """`"feed:id"`; an id the producer already namespaced with this feed is kept as given."""
    return gtfs_id if gtfs_id.startswith(f"{feed}:") else f"{feed}:{gtfs_id}"


def parse(body: bytes, *, feed: str, default_date: date) -> RealtimeMessage:
    """Protobuf bytes -> RealtimeMessage; NotProtobuf when they are not a FeedMessage.
    `default_date`: the service date of a trip whose descriptor has no start_date (the
    producer's "today" in the feed's time zone)."""
    message = rt.FeedMessage()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise NotProtobuf(f"the body is not a GTFS-Realtime FeedMessage: {exc}") from None
    if not message.IsInitialized() or not message.header.gtfs_realtime_version:
        raise NotProtobuf("the body is not a GTFS-Realtime FeedMessage (no header)")
    _check_values(message, "")
    return parse_message(message, feed=feed, default_date=default_date)


# POSIX seconds we can store (bigint) and show (a datetime): years 1970 to 9999
_TIME_FIELDS = frozenset({"timestamp", "time", "start", "end"})
_MAX_TIME = 253402300799


def _check_values(message: Message, path: str) -> None:
    """Refuse what no store or answer could hold: a NUL in a text, a time outside years
    1970-9999 (protobuf's uint64 reaches beyond PostgreSQL's bigint and Python's datetime)."""
    for fd, value in message.ListFields():
        where = f"{path}.{fd.name}" if path else fd.name
        repeated = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED
        values = value if repeated else (value,)
        for v in values:
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                _check_values(v, where)
            elif isinstance(v, str) and "\x00" in v:
                raise NotProtobuf(f"{where} contains a NUL character")
            elif fd.name in _TIME_FIELDS and isinstance(v, int) and not 0 <= v <= _MAX_TIME:
                raise NotProtobuf(f"{where} is {v}, not a time between 1970 and 9999 (POSIX seconds)")


def parse_message(message: rt.FeedMessage, *, feed: str, default_date: date) -> RealtimeMessage:
    header = message.header
    stamp = header.timestamp if header.HasField("timestamp") else None
    updates: list[tuple[str, TripUpdate]] = []
    alerts: list[Alert] = []
    deleted: list[tuple[str, str | None]] = []
    skipped: list[Skipped] = []
    undated: set[str] = set()
    for entity in message.entity:
        if entity.is_deleted:
            trip = entity.trip_update.trip.trip_id if entity.HasField("trip_update") else ""
            deleted.append((entity.id, namespaced(feed, trip) if trip else None))
        elif entity.HasField("trip_update"):
            got = _trip_update(entity.id, entity.trip_update, feed, default_date, stamp)
            if isinstance(got, Skipped):
                skipped.append(got)
            else:
                updates.append((entity.id, got))
                if not entity.trip_update.trip.start_date:
                    undated.add(entity.id)
        elif entity.HasField("alert"):
            alerts.append(_alert(entity.id, entity.alert, feed, stamp))
        elif entity.HasField("vehicle"):
            skipped.append(Skipped(entity.id, "vehicle_position"))
        else:
            skipped.append(Skipped(entity.id, "empty_entity"))
    return RealtimeMessage(
        feed=feed,
        full_dataset=header.incrementality != rt.FeedHeader.DIFFERENTIAL,
        timestamp=stamp, trip_updates=tuple(updates), alerts=tuple(alerts),
        deleted=tuple(deleted), skipped=tuple(skipped), undated=frozenset(undated))


def _trip_update(entity_id: str, tu: rt.TripUpdate, feed: str, default_date: date,
                 header_stamp: int | None) -> TripUpdate | Skipped:
    trip = tu.trip
    if not trip.trip_id:
        return Skipped(entity_id, "no_trip_id")
    trip_id = namespaced(feed, trip.trip_id)
    relationship = trip.schedule_relationship
    if relationship not in _OVERLAID and relationship != _TRIP.CANCELED:
        return Skipped(entity_id, "unsupported_relationship", trip_id)
    try:
        service_date = _date(trip.start_date) if trip.start_date else default_date
    except ValueError:
        return Skipped(entity_id, "bad_start_date", trip_id)
    stops = tuple(_stop_update(feed, stu) for stu in tu.stop_time_update)
    return TripUpdate(
        trip_id=trip_id, service_date=service_date,
        canceled=relationship == _TRIP.CANCELED,
        stop_updates=() if relationship == _TRIP.CANCELED else stops,
        timestamp=tu.timestamp if tu.HasField("timestamp") else header_stamp,
        start_time=trip.start_time or None)


def _stop_update(feed: str, stu: rt.TripUpdate.StopTimeUpdate) -> StopTimeUpdate:
    skipped = stu.schedule_relationship == _STU.SKIPPED
    no_data = stu.schedule_relationship == _STU.NO_DATA
    return StopTimeUpdate(
        stop_sequence=stu.stop_sequence if stu.HasField("stop_sequence") else None,
        stop_id=namespaced(feed, stu.stop_id) if stu.stop_id else None,
        arrival=None if (skipped or no_data) else _event(stu, "arrival"),
        departure=None if (skipped or no_data) else _event(stu, "departure"),
        skipped=skipped)


def _event(stu: rt.TripUpdate.StopTimeUpdate, name: str) -> StopTimeEvent | None:
    if not stu.HasField(name):
        return None
    ev = getattr(stu, name)
    delay = ev.delay if ev.HasField("delay") else None
    time = ev.time if ev.HasField("time") else None
    if delay is None and time is None:
        return None
    return StopTimeEvent(delay=delay, time=time)


def _alert(entity_id: str, a: rt.Alert, feed: str, header_stamp: int | None) -> Alert:
    periods = tuple(
        (p.start if p.HasField("start") else None, p.end if p.HasField("end") else None)
        for p in a.active_period)
    informed = tuple(_informed(feed, sel) for sel in a.informed_entity)
    return Alert(
        id=f"{feed}:{entity_id}", feed=feed, active_periods=periods, informed=informed,
        header=_texts(a.header_text), description=_texts(a.description_text), url=_texts(a.url),
        cause=_CAUSES.get(a.cause, "unknown_cause"), effect=_EFFECTS.get(a.effect, "unknown_effect"),
        timestamp=header_stamp)


def _informed(feed: str, sel: rt.EntitySelector) -> InformedEntity:
    trip = sel.trip.trip_id if sel.HasField("trip") and sel.trip.trip_id else ""
    return InformedEntity(
        agency=namespaced(feed, sel.agency_id) if sel.agency_id else None,
        route=namespaced(feed, sel.route_id) if sel.route_id else None,
        route_type=sel.route_type if sel.HasField("route_type") else None,
        trip=namespaced(feed, trip) if trip else None,
        stop=namespaced(feed, sel.stop_id) if sel.stop_id else None)


def _texts(ts: rt.TranslatedString) -> dict[str, str]:
    """language -> text; a translation without a language is under "" (the feed's own)."""
    return {t.language: t.text for t in ts.translation}


def _date(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))
