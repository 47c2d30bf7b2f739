"""Publishing a feed: read -> validate -> stats -> compile -> store, and activation.

    result = await import_feed(pool, "feed.zip", feed="jinan-bus", operator_id="op1")
    await activate(pool, result.version, "op1")

The version id comes from the sha256 of the uploaded bytes, so the same bytes for the same
feed are always the same version: uploading them again stores nothing new. The CPU work
(unzip, validation, compilation) runs in a worker thread, never on the event loop; gtfs-guru
and numpy release the GIL for most of it. A version with errors is stored as `rejected`
with its report and nothing live changes. Activation flips one row per feed in one
transaction and sends NOTIFY maas_network in it, so every worker reloads after commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import asyncio
import functools
import hashlib
import json
import logging
import os
import multiprocessing as mp
import re
import resource
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from feeds import store
from feeds.errors import (AnalysisMemoryExceeded, FeedOwnedByOtherOperator, InvalidFeedName,
                          OperatorRequired, UncompressedTooLarge)
from feeds.notices import Notice, has_errors, to_report
from feeds.reader import ArchiveLimits, read_archive
from feeds.stats import feed_stats
from feeds.validate import ValidationLimits, validate

__all__ = [
    "IngestLimits", "ImportResult", "import_feed", "activate", "analyse", "check_feed_name", "close_analyser",
    "version_id", "limits_from",
]

log = logging.getLogger(__name__)

_FEED_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")


@dataclass(frozen=True)
class IngestLimits:
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
    validation: ValidationLimits = field(default_factory=ValidationLimits)
    keep_archive: bool = True  # store the uploaded zip beside the compiled network
    # address space the analysis process may add for one feed (None: unlimited)
    memory_bytes: int | None = None


def limits_from(settings: Any) -> IngestLimits:
    """IngestLimits from maas.settings.FeedSettings (or a Settings holding one in .feeds)."""
    if settings is None:
        return IngestLimits()
    fs = getattr(settings, "feeds", settings)
    return IngestLimits(
        archive=ArchiveLimits(
            max_uncompressed_bytes=fs.max_uncompressed_bytes,
            max_ratio=fs.max_compression_ratio,
            max_members=fs.max_members,
        ),
        validation=ValidationLimits(max_rows=fs.max_rows, max_notices_per_code=fs.max_notices_per_code),
        keep_archive=fs.keep_archive,
        memory_bytes=fs.analysis_memory_bytes,
    )


@dataclass(frozen=True)
class ImportResult:
    version: str
    feed: str
    status: str  # rejected | accepted | active | superseded
    created: bool  # False: these exact bytes were already a version of this feed
    stats: dict[str, Any]
    report: list[dict[str, Any]]  # feeds.notices.Notice as dicts
    activated: bool = False

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"


@dataclass(frozen=True)
class Analysis:
    stats: dict[str, Any]
    notices: list[Notice]
    compiled: bytes | None  # None when the report has errors
    archive: bytes | None


def check_feed_name(feed: str) -> str:
    if not _FEED_NAME.fullmatch(feed or ""):
        raise InvalidFeedName(
            f"feed name {feed!r}: use 1-48 lowercase letters, digits, '-' or '_' "
            "(it prefixes every id of the feed, e.g. 'jinan-bus:STOP1')",
            feed=feed,
        )
    return feed


_BOARD_TIME = re.compile(r"^\s*(\d{1,4})\s*:\s*(\d{1,5})\s*$")
MAX_BOARD_S = 4 * 3600


def parse_board_times(text: str) -> dict[int, int]:
    """"TYPE:SECONDS[,TYPE:SECONDS]" (GTFS route_type, basic or extended, 0-1799; 0-14400 s)
    -> {route_type: seconds}; ValueError saying what is wrong."""
    out: dict[int, int] = {}
    for part in text.split(","):
        m = _BOARD_TIME.match(part)
        if not m:
            raise ValueError(f"{part.strip()!r} is not ROUTE_TYPE:SECONDS (e.g. 2:120)")
        t, v = int(m.group(1)), int(m.group(2))
        if t > 1799 or v > MAX_BOARD_S:
            raise ValueError(f"{part.strip()!r}: route_type 0-1799, seconds 0-{MAX_BOARD_S}")
        if t in out:
            raise ValueError(f"route_type {t} given twice")
        out[t] = v
    return out


def version_id(feed: str, sha256: str, board_times: Mapping[int, int] | None = None) -> str:
    """'{feed}-' + 16 hex of the zip's sha256; with the operator's board times, of the sha256
    of both (the same zip published with other board times is another version)."""
    if board_times:
        own = ",".join(f"{t}:{int(board_times[t])}" for t in sorted(board_times))
        sha256 = hashlib.sha256(f"{sha256}|board_times={own}".encode()).hexdigest()
    return f"{feed}-{sha256[:16]}"


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def analyse(
    path: str | os.PathLike[str], *, feed: str, version: str, limits: IngestLimits, today: date | None,
    board_times: Mapping[int, int] | None = None,
) -> Analysis:
    """The synchronous, CPU-heavy part; raises a feeds.errors reader error for a bad zip."""
    from feeds.compile import compile_feed
    from feeds.errors import CompileError
    from routing.network import to_bytes

    archive_limits = limits.archive
    fits = limits.memory_bytes // MEMORY_PER_BYTE if limits.memory_bytes else None
    if fits is not None and fits < archive_limits.max_uncompressed_bytes:
        archive_limits = replace(archive_limits, max_uncompressed_bytes=fits)
    try:
        try:
            files = read_archive(path, archive_limits)
        except UncompressedTooLarge:
            if archive_limits is limits.archive:
                raise
            # more unpacked than analysis could hold: refused while unpacking, in seconds,
            # not after minutes of validation ending in the watchdog
            raise _too_large(limits, estimated_bytes=(fits + 1) * MEMORY_PER_BYTE) from None
        notices = validate(path, files, limits.validation, today=today)
        stats = feed_stats(files)
        compiled = None
        if not has_errors(notices):
            try:
                network = compile_feed(files, feed=feed, version=version, board_times=board_times)
                compiled = to_bytes(network)
                # the compiled network knows more than the files alone (a bus route whose stops
                # lie km apart is a coach): report its modes, as the planner will use them
                stats["modes"] = dict(Counter(str(m) for m in network.route_mode))
            except CompileError as exc:
                notices.append(Notice("compile_failed", "error", None, None, None, str(exc)))
    except MemoryError:
        raise _too_large(limits) from None
    # the zip itself is read by the caller when it stores it (not pickled back from here)
    return Analysis(stats, notices, compiled, None)


# Resident bytes validating and compiling a feed takes per byte of its files unpacked, at
# least: measured 15.0 (76 MB unpacked: 1.1 GB past the libraries) and 13.6 (289 MB: 3.7 GB);
# smaller feeds more (fixed costs). A feed estimated past the limit is refused at once; one
# under it that still needs more is stopped by the watchdog (_limit_memory).
MEMORY_PER_BYTE = 12


def _too_large(limits: IngestLimits, **extra: int) -> AnalysisMemoryExceeded:
    return AnalysisMemoryExceeded(
        f"validating and compiling this feed needs more than the {limits.memory_bytes} bytes of "
        "memory feed analysis may use here (FeedSettings.analysis_memory_bytes); split the feed "
        "or raise the limit", memory_bytes=limits.memory_bytes, **extra)


_ANALYSER: ProcessPoolExecutor | None = None
_ANALYSER_MEMORY: int | None = None


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)   # the serving process is gone (killed, or ended without stopping us)


def _analyser_init(memory_bytes: int | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a Ctrl-C is for the server, which stops us
    if memory_bytes:
        _limit_memory(memory_bytes)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        os.nice(10)   # below the serving processes: a big upload never slows the gates
    except OSError:
        pass


def _limit_memory(budget: int) -> None:
    """Hold this process to `budget` bytes of memory past what it holds once its libraries are
    loaded.

    Resident memory is what a feed costs the machine, so a watchdog thread reads it every
    _WATCH_S and ends the process (SIGKILL: the parent sees it die) once it passes the budget.
    The kernel's RLIMIT_AS is the backstop for what the watchdog could miss, set loose
    (_AS_FACTOR x budget): the allocators reserve far more address space than they touch
    (a 76 MB feed: 1.2 GB resident, 6.6 GB mapped); glibc is held to two malloc arenas
    (each thread arena maps 64 MiB). Past either, the parent answers
    feed_too_large_to_analyse and starts a fresh process for the next upload."""
    import ctypes

    import feeds.compile  # noqa: F401 — their mappings (gtfs-guru alone maps ~1 GB) are not the feed's
    import feeds.stats  # noqa: F401
    import routing.network  # noqa: F401

    try:
        ctypes.CDLL(None).mallopt(-8, 2)   # M_ARENA_MAX
    except (OSError, AttributeError):
        pass
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _statm(0) + _AS_FACTOR * budget
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    threading.Thread(target=_watch_resident, args=(_statm(1) + budget,), daemon=True).start()


_WATCH_S = 0.05
_AS_FACTOR = 8


def _watch_resident(cap: int) -> None:
    while _statm(1) <= cap:
        time.sleep(_WATCH_S)
    os.write(2, f"feed analysis: resident memory past {cap} bytes, stopping\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


def _statm(field: int) -> int:
    """Bytes of this process: field 0 = address space, 1 = resident."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[field]) * resource.getpagesize()


def close_analyser() -> None:
    """Stop the analysis process (the next upload starts a new one)."""
    global _ANALYSER
    if _ANALYSER is not None:
        _ANALYSER.shutdown(wait=True)
        _ANALYSER = None


async def _analyse_elsewhere(path: str | os.PathLike[str], **kw: Any) -> Analysis:
    """`analyse` in a process of its own, at a lower priority than the server's.

    Validation and compilation hold the GIL for seconds (pandas, gtfs-kit, Python loops);
    in a thread of a serving worker they stalled every request of that worker, gate
    validations included. One long-lived process serves every upload of this process."""
    global _ANALYSER, _ANALYSER_MEMORY
    limits: IngestLimits = kw["limits"]
    if _ANALYSER is not None and _ANALYSER_MEMORY != limits.memory_bytes:
        close_analyser()
    if _ANALYSER is None:
        _ANALYSER = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                        initializer=_analyser_init, initargs=(limits.memory_bytes,))
        _ANALYSER_MEMORY = limits.memory_bytes
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _ANALYSER, functools.partial(analyse, os.fspath(path), **kw))
    except AnalysisMemoryExceeded:
        close_analyser()        # a fresh process for the next upload, its heap unfragmented
        raise
    except BrokenProcessPool:
        _ANALYSER = None        # it died (killed, out of memory): the next upload starts a new one
        if limits.memory_bytes:  # the watchdog ended it, or native code aborted on the cap
            raise _too_large(limits) from None
        raise


async def import_feed(
    pool: asyncpg.Pool,
    path: str | os.PathLike[str],
    *,
    feed: str,
    operator_id: str | None,
    activate: bool = False,
    settings: Any = None,
    today: date | None = None,
    board_times: Mapping[int, int] | None = None,
) -> ImportResult:
    """Validate and store the zip at `path` as a version of `feed` for `operator_id`.

    operator_id None acts as admin: allowed on an existing feed (any owner), refused
    (OperatorRequired) for a feed that does not exist yet, since a feed needs an owner.
    """
    check_feed_name(feed)
    limits = limits_from(settings)
    loop = asyncio.get_running_loop()
    sha, size = await loop.run_in_executor(None, file_sha256, path)
    version = version_id(feed, sha, board_times)
    async with pool.acquire() as conn:
        owner = await store.feed_owner(conn, feed)
        _check_owner(feed, owner, operator_id)
        existing = await store.get_version(conn, version)
    if existing is None:
        analysis = await _analyse_elsewhere(path, feed=feed, version=version, limits=limits,
                                            today=today, board_times=dict(board_times or {}))
        if board_times:
            analysis.stats["board_times"] = {str(t): int(v) for t, v in sorted(board_times.items())}
        status = "rejected" if has_errors(analysis.notices) else "accepted"
        archive = await loop.run_in_executor(None, Path(path).read_bytes) if limits.keep_archive else None
        async with pool.acquire() as conn, conn.transaction():
            await store.claim_feed(conn, feed, operator_id or owner)  # type: ignore[arg-type]
            created = await store.insert_version(
                conn, version=version, feed=feed, sha256=sha, status=status,
                uploaded_by=operator_id, size_bytes=size, stats=analysis.stats,
                report=to_report(analysis.notices), archive=archive,
                compiled=analysis.compiled,
            )
            row = await store.get_version(conn, version)
        assert row is not None
        log.info("feed %s version %s: %s (%d notices)", feed, version, status, len(analysis.notices))
    else:
        created, row = False, existing
    result = ImportResult(
        version=version, feed=feed, status=row["status"], created=created,
        stats=row["stats"], report=row["report"],
    )
    if activate and not result.rejected:
        await _activate(pool, version, operator_id)
        result = ImportResult(**{**result.__dict__, "status": "active", "activated": True})
    return result


def _check_owner(feed: str, owner: str | None, operator_id: str | None) -> None:
    if owner is None and operator_id is None:
        raise OperatorRequired(f"feed {feed!r} is new: say which operator publishes it", feed=feed)
    if owner is not None and operator_id is not None and owner != operator_id:
        raise FeedOwnedByOtherOperator(
            f"feed {feed!r} belongs to another operator; publish under another name", feed=feed
        )


async def activate(pool: asyncpg.Pool, version: str, operator_id: str | None) -> dict[str, Any]:
    """Make `version` live for its feed (operator_id None = admin); returns
    {"version", "feed", "status": "active", "previous"}. Activating the active one is a no-op."""
    return await _activate(pool, version, operator_id)


async def _activate(pool: asyncpg.Pool, version: str, operator_id: str | None) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row, previous = await store.activate_version(conn, version, operator_id)
        if previous != version:
            payload = json.dumps({"feed": row["feed"], "version": version, "previous": previous})
            await store.notify_activated(conn, payload)
    return {"version": version, "feed": row["feed"], "status": "active", "previous": previous}
