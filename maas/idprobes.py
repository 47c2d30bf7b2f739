"""The Redis counter behind the ID-card probe limit (ticketing.checkin_service.ProbeLimiter).

A gate key that presents many ID numbers without a ticket at its gate (`unknown_id`,
`wrong_station`) may be testing whether a person travels. Misses are counted per key in
fixed windows of the injected clock (`maas:idprobe:<key>:<window>`); the miss that crosses
`id_probe_limit` sets `maas:idprobe:block:<key>` to the end of the block, and the service
writes an alert row (id_probe_alerts, `maas gate alerts`). Redis down: the limit is not
enforced (logged), gates keep working — it guards privacy, not tickets.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import redis.asyncio as aioredis

__all__ = ["RedisProbeLimiter"]

log = logging.getLogger(__name__)
_PREFIX = "maas:idprobe:"


class RedisProbeLimiter:
    def __init__(self, redis: aioredis.Redis, limit: int, window_s: int, block_s: int) -> None:
        self.redis, self.limit, self.window_s, self.block_s = redis, limit, window_s, block_s

    async def blocked_until(self, who: str, now: datetime) -> datetime | None:
        try:
            raw = await self.redis.get(f"{_PREFIX}block:{who}")
        except Exception:  # noqa: BLE001 — fail open, see the module docstring
            log.warning("ID probe limit not checked: Redis unavailable", exc_info=True)
            return None
        return datetime.fromtimestamp(float(raw), timezone.utc) if raw else None

    async def miss(self, who: str, now: datetime) -> tuple[int, datetime] | None:
        window = int(now.timestamp()) // self.window_s
        key = f"{_PREFIX}{who}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                n, _ = await pipe.incr(key).expire(key, self.window_s * 2).execute()
            if int(n) <= self.limit:
                return None
            raw = await self.redis.get(f"{_PREFIX}block:{who}")
            if raw and float(raw) > now.timestamp():
                return None    # already slowed down and reported
            until = now + timedelta(seconds=self.block_s)
            await self.redis.set(f"{_PREFIX}block:{who}", str(until.timestamp()),
                                 ex=self.block_s + self.window_s)
        except Exception:  # noqa: BLE001
            log.warning("ID probe not counted: Redis unavailable", exc_info=True)
            return None
        return int(n), until
