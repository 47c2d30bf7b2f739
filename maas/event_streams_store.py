"""Which accounts have an open GET /v1/events stream, per worker (`event_streams`, migration
0838): booking_events' trigger NOTIFYs `maas_events` only for those. The only SQL of it.

`open_stream` commits the account's row under the account's advisory lock (the trigger takes
it shared before it looks), so a stream that reads after it cannot miss a wake-up; `close`
deletes it; `refresh` rewrites a worker's rows with a new expiry and deletes every worker's
expired ones (a killed worker's).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

__all__ = ["open_stream", "close_stream", "refresh", "close_all", "listening"]

Conn = asyncpg.Connection | asyncpg.Pool


async def open_stream(conn: Conn, account: str, listener: str, ttl_s: int) -> None:
    await conn.execute("SELECT maas_event_stream_open($1, $2, $3)", account, listener, ttl_s)


async def close_stream(conn: Conn, account: str, listener: str) -> None:
    await conn.execute("DELETE FROM event_streams WHERE account_id = $1 AND listener = $2",
                       account, listener)


async def refresh(conn: Conn, listener: str, accounts: Sequence[str], ttl_s: int) -> None:
    await conn.execute("SELECT maas_event_streams_refresh($1, $2, $3)", listener,
                       list(accounts), ttl_s)


async def close_all(conn: Conn, listener: str) -> None:
    await conn.execute("DELETE FROM event_streams WHERE listener = $1", listener)


async def listening(conn: Conn) -> list[tuple[str, str]]:
    """(account, listener) of every row, in order (tests and operators)."""
    rows = await conn.fetch("SELECT account_id, listener FROM event_streams ORDER BY 1, 2")
    return [(r["account_id"], r["listener"]) for r in rows]
