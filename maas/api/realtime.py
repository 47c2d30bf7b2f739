"""Realtime: operators push GTFS-RT messages; anyone reads the active alerts.

The push is streamed with a byte limit (realtime.max_body_bytes, Content-Length checked
first), then maas.realtime.receive does the rest (the same path as a pull).
"""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web
from pydantic import BaseModel, Field

from feeds import alerts as alerts_mod
from feeds import store as feeds_store
from feeds.errors import FeedOwnedByOtherOperator, NotProtobuf, RealtimeTooLarge, UnknownFeed
from feeds.ingest import check_feed_name
from maas.appkeys import CLOCK, DB, LIVE, SETTINGS
from maas.errors import UnsupportedMediaType
from maas.http import Router, annotate, principal_of
from maas.realtime import realtime_ctx, receive

router = Router(tag="realtime")

cleanup_ctx = realtime_ctx

PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf", "application/octet-stream",
                  "application/vnd.google.protobuf")
MAX_LISTED = 100   # ignored entities listed one by one in the answer (all are counted)
_CHUNK = 1 << 16


# --- models ----------------------------------------------------------------------------------


class PushQuery(BaseModel):
    feed: str = Field(description="the feed the message is about (its trips and stops are that feed's)")


class IgnoredEntity(BaseModel):
    entity_id: str
    trip_id: str | None = Field(None, description='"FEED:TRIP_ID" when the entity named a trip')
    reason: str = Field(description="unknown_trip, unknown_run (a frequency trip without its run's start_time), "
                        "unknown_stop, not_running_that_day, "
                        "stale_timestamp, unsupported_relationship, vehicle_position, no_trip_id, "
                        "bad_start_date, empty_entity")


class RealtimeApplied(BaseModel):
    feed: str
    incrementality: str = Field(description="full_dataset (replaces the feed's realtime state) or differential")
    timestamp: int | None = Field(None, description="header.timestamp (POSIX seconds)")
    revision: int = Field(description="the feed's realtime revision after this message")
    applied: int = Field(description="trip updates + alerts stored")
    trip_updates: int = Field(description="trip updates stored")
    alerts: int = Field(description="alerts stored")
    removed: int = Field(description="stored updates/alerts removed (not in a full dataset, deleted, past runs)")
    ignored: int = Field(description="entities not applied")
    reasons: dict[str, int] = Field(description="reason -> entities ignored for it")
    ignored_entities: list[IgnoredEntity] = Field(description=f"the first {MAX_LISTED} ignored entities")


class AlertsQuery(BaseModel):
    feed: str | None = Field(None, description="only this feed's alerts")
    stop: str | None = Field(None, description='only alerts naming this stop, "FEED:STOP_ID"')
    route: str | None = Field(None, description='only alerts naming this route, "FEED:ROUTE_ID"')
    lang: str | None = Field(None, description="language of the texts (BCP 47, e.g. zh, en, zh-CN); "
                             "falls back to the same primary language, the untagged text, English, "
                             "then the first one")


class Period(BaseModel):
    start: datetime | None = Field(None, description="UTC; null: since ever")
    end: datetime | None = Field(None, description="UTC, exclusive; null: until further notice")


class Informed(BaseModel):
    agency: str | None = None
    route: str | None = None
    route_type: int | None = None
    trip: str | None = None
    stop: str | None = None


class AlertOut(BaseModel):
    id: str = Field(description='"FEED:ENTITY_ID"')
    feed: str
    cause: str
    effect: str
    language: str | None = Field(None, description="language of header/description as given (null: untagged)")
    header: str | None = None
    description: str | None = None
    url: str | None = None
    active_periods: list[Period]
    informed: list[Informed] = Field(description="each one a selector: its fields all apply together")


class AlertList(BaseModel):
    alerts: list[AlertOut]


# --- endpoints -------------------------------------------------------------------------------


@router.post(
    "/v1/realtime",
    summary="Push a GTFS-Realtime FeedMessage (trip updates, alerts) for a feed",
    description="Body: the FeedMessage as protobuf bytes. FULL_DATASET (the default) replaces "
    "the feed's realtime state; DIFFERENTIAL adds to it (is_deleted entities removed). Entities "
    "that do not apply are counted with their reason; the message is refused whole (nothing "
    "applied) when it is not protobuf, names another feed's trip, or carries times older than "
    "realtime.past_horizon_s. Every worker plans on it within seconds.",
    auth=("operator",),
    query=PushQuery,
    response=RealtimeApplied,
    request_content="application/x-protobuf",
    errors={400: "not_protobuf, invalid_feed_name", 403: "feed_owned_by_other_operator",
            404: "unknown_feed", 413: "realtime_too_large", 415: "unsupported_media_type",
            422: "trip_of_another_feed, time_beyond_horizon"},
)
async def push(request: web.Request, query: PushQuery) -> RealtimeApplied:
    feed = check_feed_name(query.feed)
    ctype = request.content_type
    if ctype not in PROTOBUF_TYPES:
        raise UnsupportedMediaType(f"send the FeedMessage as application/x-protobuf, not {ctype}",
                                   content_type=ctype)
    async with request.app[DB].acquire() as conn:
        owner = await feeds_store.feed_owner(conn, feed)
    if owner is None:
        raise UnknownFeed(f"no feed {feed!r}", feed=feed)
    principal = principal_of(request)
    if principal.role == "operator" and owner != principal.operator_id:
        raise FeedOwnedByOtherOperator(f"feed {feed!r} belongs to another operator", feed=feed)
    body = await _read(request)
    out = await receive(request.app, feed, body)
    annotate(request, feed=feed, revision=out.revision, applied=out.trip_updates + out.alerts,
             ignored=len(out.ignored))
    return RealtimeApplied(
        feed=feed, incrementality="full_dataset" if out.full_dataset else "differential",
        timestamp=out.timestamp, revision=out.revision, applied=out.trip_updates + out.alerts,
        trip_updates=out.trip_updates, alerts=out.alerts, removed=out.removed,
        ignored=len(out.ignored), reasons=out.reasons,
        ignored_entities=[IgnoredEntity(entity_id=i.entity_id, trip_id=i.trip_id, reason=i.reason)
                          for i in out.ignored[:MAX_LISTED]])


@router.get("/v1/alerts", summary="Active service alerts", query=AlertsQuery, response=AlertList,
            description="Alerts whose active period holds now, newest feeds' texts in `lang`.")
async def list_alerts(request: web.Request, query: AlertsQuery) -> AlertList:
    now = int(request.app[CLOCK].now().timestamp())
    state = request.app[LIVE].current.realtime
    found = alerts_mod.select(state.all_alerts(), now=now, feed=query.feed, stop=query.stop,
                              route=query.route)
    return AlertList(alerts=[alert_out(a, query.lang) for a in found])


# --- helpers ---------------------------------------------------------------------------------


def alert_out(a: alerts_mod.Alert, lang: str | None) -> AlertOut:
    language, header = alerts_mod.text(a.header, lang)
    _, description = alerts_mod.text(a.description, language if language is not None else lang)
    _, url = alerts_mod.text(a.url, language if language is not None else lang)
    return AlertOut(
        id=a.id, feed=a.feed, cause=a.cause, effect=a.effect, language=language, header=header,
        description=description, url=url,
        active_periods=[Period(start=_utc(s), end=_utc(e)) for s, e in a.active_periods],
        informed=[Informed(agency=e.agency, route=e.route, route_type=e.route_type, trip=e.trip,
                           stop=e.stop) for e in a.informed])


def _utc(t: int | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc)


async def _read(request: web.Request) -> bytes:
    limit = request.app[SETTINGS].realtime.max_body_bytes
    too_large = RealtimeTooLarge(f"the message is larger than {limit} bytes (setting "
                                 "realtime.max_body_bytes)", max_bytes=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    if not size:
        raise NotProtobuf("the request body is empty; send the FeedMessage as protobuf bytes")
    return b"".join(chunks)
