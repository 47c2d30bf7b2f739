"""Which versions each worker of this instance serves, so an activation can wait for all.

Every worker keeps one Redis key `maas:served:<instance>:<worker>` holding the feed versions
its current snapshot serves (JSON {feed: version}). It writes the key when its snapshot swaps
and again every HEARTBEAT_S, with a time to live of ALIVE_S: a worker that died stops
refreshing it and Redis drops it, so a dead worker never blocks an activation (no clocks of
ours are compared). The instance is the supervisor's process (`maas serve --workers N`): its
workers share it; a process that runs the app itself (tests, one worker) is its own instance.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import uuid
from typing import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["WorkerRegistry", "instance_id", "HEARTBEAT_S", "ALIVE_S"]

HEARTBEAT_S = 1.0
ALIVE_S = 5          # seconds without a heartbeat after which a worker no longer counts
POLL_S = 0.05


def instance_id() -> str:
    """host:pid of the supervisor for a `maas serve` worker, else host:pid of this process."""
    pid = os.getppid() if multiprocessing.parent_process() is not None else os.getpid()
    return f"{socket.gethostname()}:{pid}"


class WorkerRegistry:
    def __init__(self, redis: aioredis.Redis, instance: str | None = None) -> None:
        self.redis = redis
        self.instance = instance or instance_id()
        self.worker = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"   # two apps in one process differ
        self._prefix = f"maas:served:{self.instance}:"

    async def publish(self, versions: Mapping[str, str]) -> None:
        """This worker serves `versions` (a swap, or the heartbeat). Redis errors are swallowed:
        a worker keeps serving without Redis; activations then wait for it in vain (202)."""
        try:
            await self.redis.set(self._prefix + self.worker, json.dumps(dict(versions)), ex=ALIVE_S)
        except (RedisError, OSError):
            pass

    async def withdraw(self) -> None:
        try:
            await self.redis.delete(self._prefix + self.worker)
        except (RedisError, OSError):
            pass

    async def workers(self) -> dict[str, dict[str, str]]:
        """{worker: {feed: version}} of the live workers of this instance."""
        keys = [k async for k in self.redis.scan_iter(match=self._prefix + "*", count=100)]
        if not keys:
            return {}
        values = await self.redis.mget(keys)
        out = {}
        for k, v in zip(keys, values):
            if v is not None:      # expired between SCAN and MGET: dead
                name = k.decode() if isinstance(k, bytes) else k
                out[name[len(self._prefix):]] = json.loads(v)
        return out

    async def all_serve(self, feed: str, version: str) -> bool:
        got = await self.workers()
        return bool(got) and all(v.get(feed) == version for v in got.values())

    async def wait_all_serve(self, feed: str, version: str, timeout_s: float) -> bool:
        """Poll until every live worker serves `version` of `feed`; False after `timeout_s`."""
        async def poll() -> None:
            while True:
                try:
                    if await self.all_serve(feed, version):
                        return
                except (RedisError, OSError):
                    pass
                await asyncio.sleep(POLL_S)
        try:
            await asyncio.wait_for(poll(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False
