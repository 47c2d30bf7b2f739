"""SQL of the realtime state (migration 0400_realtime.sql): current trip updates and alerts
per feed, and the row <-> object mapping of their JSON bodies.

Writes happen in the caller's transaction, after `lock_feed` (one writer per feed); the
pooled connections decode jsonb to Python objects (maas.db), so bodies go in and out as dicts.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any, Iterable

import asyncpg

from feeds.alerts import Alert, InformedEntity
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

__all__ = [
    "NOTIFY_CHANNEL", "lock_feed", "stored_stamps", "upsert_updates", "delete_updates_except",
    "delete_updates", "delete_old_updates", "upsert_alerts", "delete_alerts_except",
    "delete_alerts", "bump_feed", "notify", "revisions", "load_feed", "try_pull_lock",
    "update_to_json", "update_from_json", "alert_to_json", "alert_from_json",
]

NOTIFY_CHANNEL = "maas_realtime"
_PULL_LOCK = 0x6D616173_7274  # "maasrt": the one worker that pulls GTFS-RT URLs

Key = tuple[str, date]      # (trip_id, service_date)


async def lock_feed(conn: asyncpg.Connection, feed: str) -> None:
    """One writer per feed: held until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('maas_realtime:' || $1))", feed)


async def try_pull_lock(conn: asyncpg.Connection) -> bool:
    """Session lock on a dedicated (unpooled) connection: whoever holds it pulls."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", _PULL_LOCK))


async def stored_stamps(conn: asyncpg.Connection, feed: str, keys: Iterable[Key]) -> dict[Key, int | None]:
    keys = list(keys)
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT u.trip_id, u.service_date, u.produced_ts
             FROM realtime_trip_updates u
             JOIN unnest($2::text[], $3::date[]) AS k(trip_id, service_date)
               ON u.trip_id = k.trip_id AND u.service_date = k.service_date
            WHERE u.feed = $1""",
        feed, [k[0] for k in keys], [k[1] for k in keys])
    return {(r["trip_id"], r["service_date"]): r["produced_ts"] for r in rows}


async def upsert_updates(conn: asyncpg.Connection, feed: str,
                         rows: list[tuple[str, TripUpdate]], now: datetime) -> None:
    """rows: (entity id, update)."""
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO realtime_trip_updates
               (feed, trip_id, service_date, entity_id, produced_ts, body, applied_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (feed, trip_id, service_date) DO UPDATE
              SET entity_id = EXCLUDED.entity_id, produced_ts = EXCLUDED.produced_ts,
                  body = EXCLUDED.body, applied_at = EXCLUDED.applied_at""",
        [(feed, u.trip_id, u.service_date, eid, u.timestamp, update_to_json(u), now) for eid, u in rows])


async def delete_updates_except(conn: asyncpg.Connection, feed: str, keep: Iterable[Key]) -> int:
    """A full dataset replaces the feed's updates: every run it does not name goes."""
    keep = list(keep)
    status = await conn.execute(
        """DELETE FROM realtime_trip_updates u
            WHERE u.feed = $1
              AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::date[]) AS k(trip_id, service_date)
                               WHERE k.trip_id = u.trip_id AND k.service_date = u.service_date)""",
        feed, [k[0] for k in keep], [k[1] for k in keep])
    return int(status.split()[-1])


async def delete_updates(conn: asyncpg.Connection, feed: str, entity_ids: list[str],
                         trip_ids: list[str]) -> int:
    """Differential deletes: by entity id, or every run of a named trip."""
    status = await conn.execute(
        "DELETE FROM realtime_trip_updates WHERE feed = $1 AND (entity_id = ANY($2) OR trip_id = ANY($3))",
        feed, entity_ids, trip_ids)
    return int(status.split()[-1])


async def delete_old_updates(conn: asyncpg.Connection, feed: str, before: date) -> int:
    status = await conn.execute(
        "DELETE FROM realtime_trip_updates WHERE feed = $1 AND service_date < $2", feed, before)
    return int(status.split()[-1])


async def upsert_alerts(conn: asyncpg.Connection, feed: str, rows: list[tuple[str, Alert]],
                        now: datetime) -> None:
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO realtime_alerts (feed, entity_id, body, applied_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (feed, entity_id) DO UPDATE
              SET body = EXCLUDED.body, applied_at = EXCLUDED.applied_at""",
        [(feed, eid, alert_to_json(a), now) for eid, a in rows])


async def delete_alerts_except(conn: asyncpg.Connection, feed: str, keep: list[str]) -> int:
    status = await conn.execute(
        "DELETE FROM realtime_alerts WHERE feed = $1 AND NOT (entity_id = ANY($2))", feed, keep)
    return int(status.split()[-1])


async def delete_alerts(conn: asyncpg.Connection, feed: str, entity_ids: list[str]) -> int:
    status = await conn.execute(
        "DELETE FROM realtime_alerts WHERE feed = $1 AND entity_id = ANY($2)", feed, entity_ids)
    return int(status.split()[-1])


async def bump_feed(conn: asyncpg.Connection, feed: str, header_ts: int | None, now: datetime) -> int:
    """Record the applied message; returns the feed's new revision."""
    return await conn.fetchval(
        """INSERT INTO realtime_feeds (feed, revision, header_ts, applied_at) VALUES ($1, 1, $2, $3)
           ON CONFLICT (feed) DO UPDATE
              SET revision = realtime_feeds.revision + 1, header_ts = EXCLUDED.header_ts,
                  applied_at = EXCLUDED.applied_at
           RETURNING revision""",
        feed, header_ts, now)


async def notify(conn: asyncpg.Connection, feed: str, revision: int) -> None:
    """Sent in the writing transaction: listeners hear it only once it is committed."""
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"{feed} {revision}")


async def revisions(conn: asyncpg.Connection) -> dict[str, int]:
    return {r["feed"]: r["revision"] for r in await conn.fetch("SELECT feed, revision FROM realtime_feeds")}


async def load_feed(conn: asyncpg.Connection, feed: str) -> tuple[int, list[TripUpdate], list[Alert]]:
    """(revision, updates, alerts) of one feed, read in one snapshot (REPEATABLE READ)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        revision = await conn.fetchval("SELECT revision FROM realtime_feeds WHERE feed = $1", feed)
        ups = await conn.fetch(
            "SELECT body FROM realtime_trip_updates WHERE feed = $1 ORDER BY trip_id, service_date", feed)
        als = await conn.fetch("SELECT body FROM realtime_alerts WHERE feed = $1 ORDER BY entity_id", feed)
    return (revision or 0, [update_from_json(r["body"]) for r in ups],
            [alert_from_json(r["body"]) for r in als])


# --- JSON bodies -----------------------------------------------------------------------------


def update_to_json(u: TripUpdate) -> dict[str, Any]:
    out = asdict(u)
    out["service_date"] = u.service_date.isoformat()
    return out


def _event(d: dict[str, Any] | None) -> StopTimeEvent | None:
    return None if d is None else StopTimeEvent(delay=d.get("delay"), time=d.get("time"))


def update_from_json(d: dict[str, Any]) -> TripUpdate:
    return TripUpdate(
        trip_id=d["trip_id"], service_date=date.fromisoformat(d["service_date"]),
        canceled=d.get("canceled", False), timestamp=d.get("timestamp"),
        start_time=d.get("start_time"),
        stop_updates=tuple(
            StopTimeUpdate(stop_sequence=s.get("stop_sequence"), stop_id=s.get("stop_id"),
                           arrival=_event(s.get("arrival")), departure=_event(s.get("departure")),
                           skipped=s.get("skipped", False))
            for s in d.get("stop_updates", ())))


def alert_to_json(a: Alert) -> dict[str, Any]:
    out = asdict(a)
    out["header"], out["description"], out["url"] = dict(a.header), dict(a.description), dict(a.url)
    return out


def alert_from_json(d: dict[str, Any]) -> Alert:
    return Alert(
        id=d["id"], feed=d["feed"],
        active_periods=tuple((p[0], p[1]) for p in d.get("active_periods", ())),
        informed=tuple(InformedEntity(**e) for e in d.get("informed", ())),
        header=d.get("header", {}), description=d.get("description", {}), url=d.get("url", {}),
        cause=d.get("cause", "unknown_cause"), effect=d.get("effect", "unknown_effect"),
        timestamp=d.get("timestamp"))
