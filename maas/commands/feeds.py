"""`maas feeds ...`: validate a zip offline, import/activate/list against the configured data.

    maas feeds validate PATH.zip [--json]            report only; no database; exit 1 on errors
    maas feeds import PATH.zip --feed NAME [--operator ID] [--activate]
    maas feeds activate VERSION                       (also a rollback to an earlier version)
    maas feeds list

Exit codes: 0 ok, 1 the feed has errors (report printed), 2 refused before validation
(not a zip, unsafe archive, ownership, unknown version: `maas: <code>: <detail>`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date
from typing import Any, Callable

from feeds.notices import Notice, has_errors, summary, to_report

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    feeds = subparsers.add_parser("feeds", help="publish and check GTFS feeds").add_subparsers(
        dest="feeds_command", required=True
    )
    p = feeds.add_parser("validate", help="print a feed's validation report (no database)")
    p.add_argument("path", help="GTFS zip")
    p.add_argument("--json", action="store_true", help="print {stats, report} as JSON")
    p.add_argument("--date", type=date.fromisoformat, help="judge expiry against this date (ISO)")
    p.set_defaults(func=cmd_validate)

    p = feeds.add_parser("import", help="validate and store a zip as a version of a feed")
    add_common(p)
    p.add_argument("path", help="GTFS zip")
    p.add_argument("--feed", required=True, help="feed name (prefixes every id: 'feed:stop_id')")
    p.add_argument("--operator", help="publishing operator (required for a new feed)")
    p.add_argument("--activate", action="store_true", help="make it live if it has no errors")
    p.add_argument("--board-times", metavar="TYPE:S[,TYPE:S]",
                   help="board times by route_type for this feed's routes (as POST /v1/feeds board_times)")
    p.set_defaults(func=cmd_import)

    p = feeds.add_parser("activate", help="make a stored version live (or roll back to it)")
    add_common(p)
    p.add_argument("version")
    p.set_defaults(func=cmd_activate)

    p = feeds.add_parser("list", help="feeds and their versions")
    add_common(p)
    p.set_defaults(func=cmd_list)


def cmd_validate(args: argparse.Namespace) -> int:
    from feeds.errors import FeedError
    from feeds.ingest import limits_from
    from feeds.reader import read_archive
    from feeds.stats import feed_stats
    from feeds.validate import validate
    from maas.settings import Settings

    limits = limits_from(Settings().feeds)
    try:
        files = read_archive(args.path, limits.archive)
    except FeedError as exc:
        print(f"maas: {exc.code}: {exc.detail}", file=sys.stderr)
        return 2
    notices = validate(args.path, files, limits.validation, today=args.date)
    stats = feed_stats(files)
    if args.json:
        print(json.dumps({"stats": stats, "report": to_report(notices)}, ensure_ascii=False, indent=1))
    else:
        _print_report(notices, stats)
    return 1 if has_errors(notices) else 0


def cmd_import(args: argparse.Namespace) -> int:
    from feeds.ingest import import_feed, parse_board_times
    from maas.commands.common import backends, settings_from_args
    from maas.commands.common import run as _run

    try:
        board_times = parse_board_times(args.board_times) if args.board_times else None
    except ValueError as exc:
        print(f"--board-times: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        settings = settings_from_args(args)
        async with backends(settings) as (pool, _):
            result = await import_feed(
                pool, args.path, feed=args.feed, operator_id=args.operator,
                activate=args.activate, settings=settings.feeds, board_times=board_times,
            )
        notices = [Notice(**n) for n in result.report]
        _print_report(notices, result.stats, file=sys.stderr)
        print(json.dumps({"version": result.version, "feed": result.feed, "status": result.status,
                          "created": result.created, "activated": result.activated}))
        return 1 if result.rejected else 0

    return _run(run)


def cmd_activate(args: argparse.Namespace) -> int:
    from feeds.ingest import activate
    from maas.commands.common import backends, settings_from_args
    from maas.commands.common import run as _run

    async def run() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            out = await activate(pool, args.version, None)
        print(json.dumps(out))
        return 0

    return _run(run)


def cmd_list(args: argparse.Namespace) -> int:
    from feeds import store
    from maas.commands.common import backends, settings_from_args
    from maas.commands.common import run as _run

    async def run() -> int:
        async with backends(settings_from_args(args)) as (pool, _):
            async with pool.acquire() as conn:
                feeds = await store.list_feeds(conn)
        for f in feeds:
            for v in f["versions"]:
                print(json.dumps({"feed": f["name"], "operator_id": f["operator_id"],
                                  "version": v["id"], "status": v["status"],
                                  "created_at": v["created_at"].isoformat(),
                                  "errors": v["errors"], "warnings": v["warnings"]}))
        return 0

    return _run(run)


def _print_report(notices: list[Notice], stats: dict[str, Any], file: Any = None) -> None:
    out = file or sys.stdout
    for n in notices:
        where = ":".join(str(x) for x in (n.file, n.row) if x is not None)
        col = f" [{n.field}]" if n.field else ""
        print(f"{n.severity.upper():7} {n.code:45} {where}{col}  {n.message}", file=out)
    counts = summary(notices)
    by_code = Counter(n.code for n in notices if n.severity == "error")
    print(
        f"\n{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info"
        + (f" — errors: {', '.join(f'{c} x{k}' for c, k in by_code.most_common())}" if by_code else ""),
        file=out,
    )
    keys = ("agencies", "stops", "routes", "trips", "stop_times")
    print("stats: " + ", ".join(f"{k} {stats.get(k)}" for k in keys)
          + f", service {stats.get('start_date')}..{stats.get('end_date')}, modes {stats.get('modes')}",
          file=out)
