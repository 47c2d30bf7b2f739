"""`maas serve --demo`: the Shandong demo feeds, generated, imported and activated once.

The feeds are written to `<data_dir>/demo-feeds/` and published through the normal path
(feeds.ingest.import_feed: validate, compile, store, activate + NOTIFY), each under its own
operator. A demo feed that already has an active version is left alone, so running it
again (every `serve --demo`) changes nothing; a fresh database gets all of them. The scale
last loaded is kept in `<data_dir>/demo-feeds/SCALE`: asking for another scale
(`serve --demo --scale 10`) imports and activates every demo feed again at the new size.

Service runs from yesterday (late trips of the previous service day still run past
midnight) for DEMO_DAYS days.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from typing import Any

import asyncpg

from feeds import store as feed_store
from feeds.demo import demo_feed_plan, write_demo_feeds

__all__ = ["load_demo", "DEMO_DAYS"]

log = logging.getLogger(__name__)

DEMO_DAYS = 30


async def load_demo(pool: asyncpg.Pool, settings: Any, *, scale: float = 1.0,
                    start_date: date | None = None, seed: int = 0) -> list[str]:
    """Generate, import and activate the demo feeds missing an active version; returns the
    versions activated now (empty when everything was already live)."""
    from feeds.ingest import import_feed

    wanted = [name for name, _ in demo_feed_plan(scale)]
    out = settings.data_dir / "demo-feeds"
    marker = out / "SCALE"
    loaded = marker.read_text().strip() if marker.exists() else None
    if loaded is not None and loaded != repr(float(scale)):
        log.info("demo feeds were loaded at scale %s: loading them again at %s", loaded, scale)
        missing = set(wanted)
    else:
        missing = set(wanted) - await feed_store.active_feeds(pool)
    if not missing:
        log.info("demo feeds already active: %s", ", ".join(wanted))
        return []
    start = start_date or (date.today() - timedelta(days=1))
    loop = asyncio.get_running_loop()
    written = await loop.run_in_executor(
        None, lambda: write_demo_feeds(out, start_date=start, days=DEMO_DAYS, scale=scale,
                                       seed=seed))
    activated = []
    for name, operator, path in written:
        if name not in missing:
            continue
        result = await import_feed(pool, path, feed=name, operator_id=operator, activate=True,
                                   settings=settings, today=start)
        if result.rejected:   # a bug in the generator, not the user's fault: say it loudly
            errors = [n for n in result.report if n.get("severity") == "error"]
            raise RuntimeError(f"demo feed {name} was rejected: {errors[:3]}")
        log.info("demo feed %s: version %s active", name, result.version)
        activated.append(result.version)
    marker.write_text(repr(float(scale)) + "\n")
    return activated
