"""Backend outages: which exceptions mean "PostgreSQL (or Redis) is not there right now".

maas.middleware asks `outage_of(exc)` for every unexpected exception; a backend outage is
answered 503 with a stable code and `Retry-After` instead of 500 `internal_error`. Nothing
else needs to catch these: a handler that does not touch the failed backend never sees
one, and the next request after the backend returns simply succeeds (asyncpg's pool drops
a broken connection on release and opens a new one on the next acquire; redis-py
reconnects per command).

What counts, and why by origin rather than by class alone:
  * asyncpg's connection errors (SQLSTATE class 08), the server shutting down or starting
    (57P01-57P03), "connection is closed" on a pooled connection, a connection left
    half-way through an error by a dying server (InternalClientError "another operation is
    in progress"), and a pool acquire or connect timeout;
  * OSError / TimeoutError raised *inside asyncpg* (connect() to a socket nobody listens
    on raises ConnectionRefusedError or FileNotFoundError as they are) — an OSError from
    elsewhere (a temp file, the feed analyser) stays a 500;
  * redis-py's ConnectionError and TimeoutError.

And one that is no outage but is answered the same way: a transaction PostgreSQL rolled back
because it conflicted with a concurrent one (SQLSTATE class 40: a deadlock's victim, a
serialization failure). Nothing of it was written, and the same request a moment later
succeeds or replays (Idempotency-Key): 503 `database_conflict` with `Retry-After: 1`, not 500.
(Where one is expected, the statement is retried once first: a lone booking statement that
loses to another worker's batch, ticketing/store.py `Batches`; what is left, such as a
booking's locking way meeting a batch, ticketing/README.md, is answered so.)
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import asyncpg
import redis.exceptions as redis_errors

from maas.errors import MaasError

__all__ = ["DatabaseUnavailable", "CacheUnavailable", "DatabaseConflict", "RETRY_AFTER_S",
           "outage_of", "retry_after_s", "loop_outage"]

# Seconds a client is told to wait: the supervisor restarts an embedded server within
# about this long (docs/RELIABILITY.md has the measured figures).
RETRY_AFTER_S = 5


class DatabaseUnavailable(MaasError):
    code, status, title = "database_unavailable", 503, "Database unavailable"


class CacheUnavailable(MaasError):
    code, status, title = "cache_unavailable", 503, "Cache unavailable"


class DatabaseConflict(MaasError):
    code, status, title = "database_conflict", 503, "Conflict with a concurrent request"


def retry_after_s(err: MaasError) -> int:
    """Seconds to tell the client of an outage (or conflict) to wait before retrying."""
    return 1 if isinstance(err, DatabaseConflict) else RETRY_AFTER_S


_PG_DOWN = (
    asyncpg.PostgresConnectionError,     # 08xxx, incl. ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,       # 57P03 starting up / shutting down
    asyncpg.AdminShutdownError,          # 57P01 terminated by a fast/immediate stop
    asyncpg.CrashShutdownError,          # 57P02 another backend crashed
)
_REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def _raised_in(tb: TracebackType | None, package: str) -> bool:
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name == package or name.startswith(package + "."):
            return True
        tb = tb.tb_next
    return False


def _one(exc: BaseException) -> MaasError | None:
    if isinstance(exc, _PG_DOWN):
        return DatabaseUnavailable("the database is unavailable; retry shortly")
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return DatabaseUnavailable("the database connection was lost; retry shortly")
    if isinstance(exc, asyncpg.InternalClientError) and "another operation" in str(exc):
        # a pooled connection whose server died mid-error ("cannot switch to state 12;
        # another operation (2) is in progress"): seen when the postmaster is killed
        return DatabaseUnavailable("the database connection was lost; retry shortly")
    if isinstance(exc, (OSError, asyncio.TimeoutError)) and _raised_in(exc.__traceback__, "asyncpg"):
        return DatabaseUnavailable("the database is unreachable; retry shortly")
    if isinstance(exc, asyncpg.TransactionRollbackError):
        return DatabaseConflict("this request's transaction conflicted with a concurrent one and "
                                "was rolled back (nothing was written); retry")
    if isinstance(exc, _REDIS_DOWN):
        return CacheUnavailable("the cache is unavailable; retry shortly")
    return None


def outage_of(exc: BaseException) -> MaasError | None:
    """The 503 error to answer for `exc` if it (or what caused it) is a backend outage."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        got = _one(cur)
        if got is not None:
            return got
        cur = cur.__cause__ or cur.__context__
    return None


def loop_outage(exc: BaseException) -> bool:
    """Whether a background loop (LISTEN reconnect, protection, realtime pull) should log
    `exc` and go on: any socket error or PostgreSQL error, or what `outage_of` calls an
    outage (asyncpg also raises a cut connection as InternalClientError or InterfaceError).
    Anything else is a bug and is raised, so that it is seen."""
    return isinstance(exc, (OSError, asyncpg.PostgresError)) or outage_of(exc) is not None
