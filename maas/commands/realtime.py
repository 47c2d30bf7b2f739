"""`maas realtime ...`: realtime by hand, for demos and replays (issue 11).

    maas realtime delay --feed FEED --trip TRIP (--minutes N | --cancel) [--date YYYY-MM-DD]
                        [--wait S] [--now ISO]

`delay` builds the GTFS-Realtime TripUpdate an operator would push (feeds/realtime_build.py: a
delay from the trip's first stop on, or the trip cancelled; a differential message) and applies
it through the path of POST /v1/realtime (maas.realtime.receive: the same checks, one
transaction, NOTIFY maas_realtime), including connection protection's jobs for the confirmed
bookings on that run, which the running server's workers take (`disrupted`, then `rebooked` or
`rebook_failed`: GET /v1/bookings/{id}/events). It prints the counts POST /v1/realtime answers
plus `bookings` (protection jobs queued); with `--wait S` it waits up to S seconds for the
server to finish the jobs of this update (`protection`: done | pending; others' jobs in the queue
are not waited for). Exit 0 when the update was applied, 1 when
it was ignored (its reason in `reasons`), 2 when refused (unknown feed or trip: `maas: code`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import date, datetime, timezone
from typing import Any, Callable

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    rt = subparsers.add_parser("realtime", help="apply realtime updates by hand (demo, replay)"
                               ).add_subparsers(dest="realtime_command", required=True)
    p = rt.add_parser("delay", help="delay or cancel one trip, as an operator's GTFS-RT push would")
    add_common(p)
    p.add_argument("--feed", required=True, help="the trip's feed, e.g. china-railway")
    p.add_argument("--trip", required=True, help='trip id, "FEED:TRIP" (as bookings show it) or bare')
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--minutes", type=int, help="delay in minutes from the first stop on")
    what.add_argument("--cancel", action="store_true", help="the trip does not run")
    p.add_argument("--date", type=date.fromisoformat,
                   help="service date (default: today in the feed's time zone)")
    p.add_argument("--wait", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds for the server to finish this update's protection jobs")
    p.add_argument("--now", type=datetime.fromisoformat,
                   help="apply as of this instant (ISO with offset; default: now)")
    p.set_defaults(func=cmd_delay)


class _At:
    def __init__(self, fixed: datetime | None) -> None:
        if fixed is not None and fixed.tzinfo is None:
            raise SystemExit("maas: --now needs an offset, e.g. 2026-12-01T06:20:00+08:00")
        self.fixed = fixed

    def now(self) -> datetime:
        return self.fixed.astimezone(timezone.utc) if self.fixed else datetime.now(timezone.utc)


def _first_stop(network: Any, trip_id: str) -> str | None:
    import numpy as np

    found = np.flatnonzero(network.trip_id == trip_id) if len(network.trip_id) else []
    if not len(found):
        return None
    t = int(found[0])
    return str(network.stop_id[network.st_stop[network.trip_st_start[t]]])


def cmd_delay(args: argparse.Namespace) -> int:
    from aiohttp import web

    from feeds.errors import UnknownFeed
    from feeds.realtime_build import trip_message
    from maas.appkeys import CLOCK, DB, LIVE, SETTINGS
    from maas.commands.common import backends, run, settings_from_args
    from maas.live import LiveNetwork
    from maas.protection import enqueue_jobs
    from maas.realtime import STORED_HOOKS, receive
    from ticketing import protection_store as pstore

    settings = settings_from_args(args)
    clock = _At(args.now)
    trip = args.trip if args.trip.startswith(f"{args.feed}:") else f"{args.feed}:{args.trip}"

    async def main() -> int:
        async with backends(settings) as (pool, _):
            live = LiveNetwork(pool, settings.routing.to_config(), settings.data_dir / "networks")
            snap = await live.reload()
            if args.feed not in snap.network.feeds:
                raise UnknownFeed(f"feed {args.feed!r} has no active version", feed=args.feed)
            first = _first_stop(snap.network, trip)
            if first is None:
                raise UnknownTrip(f"no trip {trip} in the active timetable", trip_id=trip)
            body = trip_message(args.feed, trip, timestamp=int(clock.now().timestamp()),
                                delay_s=None if args.cancel else args.minutes * 60,
                                cancel=args.cancel, first_stop=first, start_date=args.date)
            # the application receive() needs: the same settings, pool, clock and live network,
            # and protection's hook (its jobs are rows: the server's workers take them)
            app = web.Application()
            app[SETTINGS], app[DB], app[CLOCK], app[LIVE] = settings, pool, clock, live
            app[STORED_HOOKS] = []
            queued: list[int] = []      # ids of this update's protection jobs

            async def count(app: web.Application, feed: str, runs: Any) -> None:
                queued.extend(await enqueue_jobs(app, feed, runs))
            app[STORED_HOOKS].append(count)
            out = await receive(app, args.feed, body)
            result: dict[str, Any] = {
                "feed": args.feed, "trip_id": trip, "cancelled": bool(args.cancel),
                "delay_s": None if args.cancel else args.minutes * 60,
                "revision": out.revision, "trip_updates": out.trip_updates,
                "ignored": len(out.ignored), "reasons": out.reasons, "bookings": len(queued)}
            if args.wait > 0 and queued:
                deadline = time.monotonic() + args.wait
                while await pstore.open_jobs(pool, queued) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                result["protection"] = "pending" if await pstore.open_jobs(pool, queued) else "done"
            print(json.dumps(result), flush=True)
            return 0 if out.trip_updates else 1

    return run(main)


class UnknownTrip(Exception):
    code, status = "unknown_trip", 404

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail, self.extra = detail, extra
