"""Apply one parsed GTFS-Realtime message to the stored realtime state of its feed.

    outcome = await apply_message(pool, msg, check=UpdateCheck.of(network), planner=planner,
                                  now=clock.now(), past_horizon_s=21600)

Refusals of the whole message happen before anything is written (`TripOfAnotherFeed`,
`TimeBeyondHorizon`); the rest is one transaction under the feed's writer lock, ending with
`NOTIFY maas_realtime`, so the live state is never half-applied and every worker reloads
after the commit.

Per update, ignored with a reason (counted, never an error): unknown_trip, unknown_stop,
not_running_that_day (the static network's answer), stale_timestamp (older than what is
stored for that run), and the parser's own (vehicle_position, unsupported_relationship, ...).

A FULL_DATASET message replaces the feed's state: runs and alerts it does not name are
removed (a stale update it carries leaves the newer stored one in place). A DIFFERENTIAL
message upserts what it carries and removes the entities it marks deleted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from feeds import realtime_store as store
from feeds.errors import TimeBeyondHorizon, TripOfAnotherFeed
from feeds.realtime import RealtimeMessage
from feeds.realtime_check import UpdateCheck
from routing.updates import TripUpdate

__all__ = ["Ignored", "Outcome", "apply_message", "KEEP_DAYS"]

KEEP_DAYS = 2   # runs older than this many days before today are dropped when a message comes


@dataclass(frozen=True)
class Ignored:
    entity_id: str
    reason: str
    trip_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    feed: str
    full_dataset: bool
    timestamp: int | None
    revision: int
    trip_updates: int                   # applied (stored)
    alerts: int                         # applied (stored)
    removed: int                        # stored entities removed (full dataset, deletes, old runs)
    ignored: tuple[Ignored, ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)   # reason -> count


def _check_horizon(msg: RealtimeMessage, oldest: int) -> None:
    def utc(t: int) -> str:
        return f"{datetime.fromtimestamp(t, timezone.utc):%Y-%m-%d %H:%M:%S} UTC"

    def refuse(what: str, t: int) -> None:
        raise TimeBeyondHorizon(
            f"{what} is {utc(t)}, older than the past horizon ({utc(oldest)}; "
            "setting realtime.past_horizon_s): nothing was applied", at=what, time=t)

    if msg.timestamp is not None and msg.timestamp < oldest:
        refuse("header.timestamp", msg.timestamp)
    for eid, u in msg.trip_updates:
        if u.timestamp is not None and u.timestamp < oldest:
            refuse(f"entity {eid!r} timestamp", u.timestamp)
        for s in u.stop_updates:
            for ev in (s.arrival, s.departure):
                if ev is not None and ev.time is not None and ev.time < oldest:
                    refuse(f"entity {eid!r} stop_sequence {s.stop_sequence} time", ev.time)


def _check_feeds(msg: RealtimeMessage, check: UpdateCheck) -> None:
    trips = [u.trip_id for _, u in msg.trip_updates] + [t for _, t in msg.deleted if t]
    for trip in trips:
        other = check.foreign(trip, msg.feed)
        if other is not None:
            raise TripOfAnotherFeed(
                f"trip {trip.removeprefix(msg.feed + ':')!r} belongs to feed {other!r}, not "
                f"{msg.feed!r}: nothing was applied", trip_id=trip, feed=msg.feed, other_feed=other)


def _sorted_out(msg: RealtimeMessage, check: UpdateCheck, planner: Any
                ) -> tuple[list[tuple[str, TripUpdate]], list[Ignored]]:
    ok: list[tuple[str, TripUpdate]] = []
    ignored = [Ignored(s.entity_id, s.reason, s.trip_id) for s in msg.skipped]
    for eid, u in msg.trip_updates:
        u = check.instance(u)
        if eid in msg.undated:
            u = check.dated(u)
        reason = check.reason(u, planner)
        if reason is None:
            ok.append((eid, u))
        else:
            ignored.append(Ignored(eid, reason, u.trip_id))
    return ok, ignored


async def apply_message(pool: Any, msg: RealtimeMessage, *, check: UpdateCheck, planner: Any,
                        now: datetime, past_horizon_s: int) -> Outcome:
    _check_horizon(msg, int(now.timestamp()) - past_horizon_s)
    _check_feeds(msg, check)
    ok, ignored = _sorted_out(msg, check, planner)
    feed = msg.feed
    async with pool.acquire() as conn, conn.transaction():
        await store.lock_feed(conn, feed)
        stamps = await store.stored_stamps(conn, feed, [(u.trip_id, u.service_date) for _, u in ok])
        fresh, stale_keys = [], []
        for eid, u in ok:
            old = stamps.get((u.trip_id, u.service_date))
            if old is not None and u.timestamp is not None and u.timestamp < old:
                ignored.append(Ignored(eid, "stale_timestamp", u.trip_id))
                stale_keys.append((u.trip_id, u.service_date))
            else:
                fresh.append((eid, u))
        removed = 0
        if msg.full_dataset:
            keep = [(u.trip_id, u.service_date) for _, u in fresh] + stale_keys
            removed += await store.delete_updates_except(conn, feed, keep)
            removed += await store.delete_alerts_except(conn, feed, [a.id.removeprefix(feed + ":") for a in msg.alerts])
        else:
            gone = [eid for eid, _ in msg.deleted]
            removed += await store.delete_updates(conn, feed, gone, [t for _, t in msg.deleted if t])
            removed += await store.delete_alerts(conn, feed, gone)
        removed += await store.delete_old_updates(conn, feed, now.date() - timedelta(days=KEEP_DAYS))
        await store.upsert_updates(conn, feed, fresh, now)
        await store.upsert_alerts(conn, feed, [(a.id.removeprefix(feed + ":"), a) for a in msg.alerts], now)
        revision = await store.bump_feed(conn, feed, msg.timestamp, now)
        await store.notify(conn, feed, revision)
    return Outcome(feed=feed, full_dataset=msg.full_dataset, timestamp=msg.timestamp,
                   revision=revision, trip_updates=len(fresh), alerts=len(msg.alerts),
                   removed=removed, ignored=tuple(ignored),
                   reasons=dict(Counter(i.reason for i in ignored)))
