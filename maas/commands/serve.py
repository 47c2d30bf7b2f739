"""`maas serve`: run the HTTP service (N worker processes on one port)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from maas.commands.common import settings_from_args

__all__ = ["register"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP service")
    add_common(p)
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (default 8080; 0 = any free port)")
    p.add_argument("--workers", type=int, help="worker processes sharing the port (default 1)")
    p.add_argument("--demo", action="store_true", help="load and activate the Shandong demo feeds")
    p.add_argument("--scale", type=_positive_scale, default=None,
                   help="with --demo: size of the demo network (default 1; 10 = the province, "
                        "about 3.1M connections a day)")
    p.set_defaults(func=cmd_serve)


def _positive_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError("scale must be > 0 and <= 100")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from maas.serve import exit_now, run_serve

    if args.scale is not None and not args.demo:
        raise SystemExit("maas serve: --scale needs --demo")
    exit_now(run_serve(settings_from_args(args), demo=args.demo, scale=args.scale or 1.0))
    return 0  # not reached
