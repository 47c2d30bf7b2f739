"""Waiting for a condition, bounded: the one way tests synchronise with work they do not drive.

A test never sleeps a fixed time hoping that background work is done by then (too short on
a loaded machine, wasted time on an idle one). It names the condition and polls it:

    await eventually(lambda: app[LIVE].current.versions == {"town": v2})
    eventually_sync(lambda: not pid_exists(pid), message="the child outlived its parent")

`timeout` bounds a hang; it is not a timing threshold: a healthy run meets the condition long
before it, and a test must not depend on how long that took. The predicate may be a plain
function or return an awaitable (for `eventually`); its first truthy value is returned.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable

__all__ = ["eventually", "eventually_sync", "TIMEOUT_S"]

TIMEOUT_S = 30.0     # generous: the suite shares 2 cores with other work
INTERVAL_S = 0.02


def _describe(predicate: Callable[[], Any], message: str | None, timeout: float) -> str:
    what = message or getattr(predicate, "__qualname__", repr(predicate))
    return f"not true within {timeout:g} s: {what}"


async def eventually(predicate: Callable[[], Any], timeout: float = TIMEOUT_S,
                     interval: float = INTERVAL_S, message: str | None = None) -> Any:
    """Poll `predicate` (sync, or returning an awaitable) until it is truthy; AssertionError
    after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = predicate()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        if loop.time() >= end:
            raise AssertionError(_describe(predicate, message, timeout))
        await asyncio.sleep(interval)


def eventually_sync(predicate: Callable[[], Any], timeout: float = TIMEOUT_S,
                    interval: float = INTERVAL_S, message: str | None = None) -> Any:
    """`eventually` for tests without an event loop (subprocesses, psutil)."""
    end = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= end:
            raise AssertionError(_describe(predicate, message, timeout))
        time.sleep(interval)
