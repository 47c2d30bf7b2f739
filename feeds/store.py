"""SQL of feeds and feed versions (asyncpg). Tables: maas/migrations/0100_feeds.sql.

Every multi-step write runs in one transaction (callers pass a connection inside one).
A version's status moves: accepted -> active -> superseded -> active ... ; rejected stays
rejected. `load_active` is what the live network (maas/live.py) loads.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from feeds.errors import FeedOwnedByOtherOperator, FeedVersionNotFound, FeedVersionRejected

__all__ = [
    "feed_owner", "claim_feed", "insert_version", "get_version", "list_feeds",
    "activate_version", "load_active", "NOTIFY_CHANNEL", "active_feeds", "notify_activated",
]

NOTIFY_CHANNEL = "maas_network"

_SUMMARY_COLUMNS = "id, feed, sha256, status, uploaded_by, size_bytes, stats, created_at, activated_at"


async def feed_owner(conn: asyncpg.Connection, feed: str) -> str | None:
    return await conn.fetchval("SELECT operator_id FROM feeds WHERE name = $1", feed)


async def feed_operators(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, list[str]]:
    """operator id -> the feeds it owns (every operator that has published)."""
    rows = await conn.fetch("SELECT operator_id, name FROM feeds ORDER BY operator_id, name")
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["operator_id"], []).append(r["name"])
    return out


async def claim_feed(conn: asyncpg.Connection, feed: str, operator_id: str) -> None:
    """Create the feed for `operator_id`, or check that it is theirs (locks the feed row)."""
    await conn.execute(
        "INSERT INTO feeds (name, operator_id) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        feed, operator_id,
    )
    owner = await conn.fetchval("SELECT operator_id FROM feeds WHERE name = $1 FOR UPDATE", feed)
    if owner != operator_id:
        raise FeedOwnedByOtherOperator(
            f"feed {feed!r} belongs to another operator; publish under another name", feed=feed
        )


async def insert_version(
    conn: asyncpg.Connection, *, version: str, feed: str, sha256: str, status: str,
    uploaded_by: str | None, size_bytes: int, stats: dict[str, Any],
    report: list[dict[str, Any]], archive: bytes | None, compiled: bytes | None,
) -> bool:
    """Store a version; False (and nothing changed) if that version already exists."""
    inserted = await conn.fetchval(
        """INSERT INTO feed_versions
               (id, feed, sha256, status, uploaded_by, size_bytes, stats, report, archive, compiled)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8::text::jsonb, $9, $10)
           ON CONFLICT DO NOTHING
           RETURNING true""",
        version, feed, sha256, status, uploaded_by, size_bytes,
        _json(stats), _json(report), archive, compiled,
    )
    return bool(inserted)


async def get_version(conn: asyncpg.Connection, version: str, *, report: bool = True) -> dict[str, Any] | None:
    """A version with its owner (`operator_id`) and, unless report=False, its report."""
    cols = ", ".join(f"v.{c.strip()}" for c in _SUMMARY_COLUMNS.split(","))
    row = await conn.fetchrow(
        f"""SELECT {cols}, f.operator_id {', v.report' if report else ''}
              FROM feed_versions v JOIN feeds f ON f.name = v.feed
             WHERE v.id = $1""",
        version,
    )
    return _row(row) if row else None


async def list_feeds(conn: asyncpg.Connection, operator_id: str | None = None) -> list[dict[str, Any]]:
    """Feeds (all, or one operator's) with their versions, newest first, without reports."""
    feeds = await conn.fetch(
        """SELECT name, operator_id, created_at FROM feeds
            WHERE $1::text IS NULL OR operator_id = $1 ORDER BY name""",
        operator_id,
    )
    versions = await conn.fetch(
        f"""SELECT {_SUMMARY_COLUMNS},
                   (SELECT count(*) FROM jsonb_array_elements(report) n
                     WHERE n->>'severity' = 'error') AS errors,
                   (SELECT count(*) FROM jsonb_array_elements(report) n
                     WHERE n->>'severity' = 'warning') AS warnings
              FROM feed_versions WHERE feed = ANY($1::text[])
             ORDER BY created_at DESC, id""",
        [f["name"] for f in feeds],
    )
    by_feed: dict[str, list[dict[str, Any]]] = {}
    for v in versions:
        by_feed.setdefault(v["feed"], []).append(_row(v))
    out = []
    for f in feeds:
        vs = by_feed.get(f["name"], [])
        active = next((v["id"] for v in vs if v["status"] == "active"), None)
        out.append({**dict(f), "active_version": active, "versions": vs})
    return out


async def activate_version(
    conn: asyncpg.Connection, version: str, operator_id: str | None
) -> tuple[dict[str, Any], str | None]:
    """Make `version` its feed's active one; returns (version row, previous active id).

    Run inside a transaction; the feed row is locked so two activations of one feed
    serialize. operator_id None = admin. Already active: nothing changes.
    """
    row = await conn.fetchrow(
        """SELECT v.id, v.feed, v.status, f.operator_id
             FROM feed_versions v JOIN feeds f ON f.name = v.feed
            WHERE v.id = $1
              FOR UPDATE OF f, v""",
        version,
    )
    if row is None:
        raise FeedVersionNotFound(f"no feed version {version!r}", version=version)
    if operator_id is not None and row["operator_id"] != operator_id:
        raise FeedOwnedByOtherOperator(
            f"feed {row['feed']!r} belongs to another operator", feed=row["feed"]
        )
    if row["status"] in ("rejected", "uploaded"):
        raise FeedVersionRejected(
            f"version {version!r} is {row['status']}; fix the errors in its report and upload again",
            version=version, status=row["status"],
        )
    previous = await conn.fetchval(
        "SELECT id FROM feed_versions WHERE feed = $1 AND status = 'active'", row["feed"]
    )
    if previous != version:
        await conn.execute(
            "UPDATE feed_versions SET status = 'superseded' WHERE feed = $1 AND status = 'active'",
            row["feed"],
        )
        await conn.execute(
            "UPDATE feed_versions SET status = 'active', activated_at = now() WHERE id = $1", version
        )
    return dict(row) | {"status": "active"}, previous


async def load_active(conn: asyncpg.Connection) -> list[tuple[str, str, bytes]]:
    """(feed, version, compiled network bytes) of every active version, by feed name."""
    rows = await conn.fetch(
        "SELECT feed, id, compiled FROM feed_versions WHERE status = 'active' ORDER BY feed"
    )
    return [(r["feed"], r["id"], bytes(r["compiled"])) for r in rows]


async def active_feeds(conn: asyncpg.Connection | asyncpg.Pool) -> set[str]:
    """Names of the feeds that have an active version."""
    rows = await conn.fetch("SELECT feed FROM feed_versions WHERE status = 'active'")
    return {r["feed"] for r in rows}


async def notify_activated(conn: asyncpg.Connection, payload: str) -> None:
    """Tell every worker (LISTEN on NOTIFY_CHANNEL) that the active set changed; delivered
    when the caller's transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, payload)


def _json(value: Any) -> str:
    # Sent as text and cast in SQL, so it works with or without a jsonb codec on the pool.
    return json.dumps(value, ensure_ascii=False)


def _row(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for key in ("stats", "report"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out
