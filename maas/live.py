"""The live network: the merged active feeds, the planner and the stop index, swapped atomically.

(Stub by the lead; the feeds-compile area replaces the body, keeping `LiveNetwork`,
`Snapshot` and `live_ctx`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from aiohttp import web

from maas.appkeys import LIVE

__all__ = ["LiveNetwork", "Snapshot", "live_ctx"]


@dataclass(frozen=True)
class Snapshot:
    network: Any = None
    planner: Any = None
    stops: Any = None
    versions: dict[str, str] = field(default_factory=dict)
    loaded: bool = False


class LiveNetwork:
    def __init__(self) -> None:
        self.current = Snapshot()

    async def reload(self) -> None:
        self.current = Snapshot(loaded=True)


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    holder = LiveNetwork()
    app[LIVE] = holder
    await holder.reload()
    yield
