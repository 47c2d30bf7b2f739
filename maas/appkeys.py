"""Typed application keys: everything the app holds, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from maas.auth import LocalAuthCache
from maas.clock import Clock
from maas.settings import Settings

if TYPE_CHECKING:
    from maas.auth import Principal
    from maas.live import LiveNetwork
    from ticketing.service import Bookings

__all__ = ["SETTINGS", "DB", "REDIS", "CLOCK", "LIVE", "OPENAPI", "METRICS", "AUTH_CACHE", "BOOKINGS", "PRINCIPAL", "REQUEST_ID", "LOG_FIELDS"]

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
CLOCK = web.AppKey("clock", Clock)
LIVE: web.AppKey["LiveNetwork"] = web.AppKey("live")
OPENAPI = web.AppKey("openapi", dict)
METRICS: web.AppKey[Any] = web.AppKey("metrics")
AUTH_CACHE = web.AppKey("auth_cache", LocalAuthCache)
BOOKINGS: web.AppKey["Bookings"] = web.AppKey("bookings")   # maas/api/bookings.py builds it

# Per-request state (request[PRINCIPAL], request[REQUEST_ID]); maas.http.principal_of reads it.
PRINCIPAL: web.RequestKey["Principal"] = web.RequestKey("principal")
REQUEST_ID = web.RequestKey("request_id", str)
# Fields a handler adds to its request's one access log line (maas.http.annotate).
LOG_FIELDS = web.RequestKey("log_fields", dict)
