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
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from maas.serve import exit_now, run_serve

    exit_now(run_serve(settings_from_args(args), demo=args.demo))
    return 0  # not reached
