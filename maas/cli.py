"""The `maas` command: one subcommand group per noun, each in maas/commands/.

    maas serve | db ... | keys ... | settings | feeds ... | gate ... | realtime ...
"""

from __future__ import annotations

import argparse
import importlib
import sys

from maas import __version__
from maas.commands.common import add_common

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

# Each module of maas/commands/ named here has `register(subparsers, add_common)`; the
# order is the order of `maas --help`.
COMMAND_MODULES = ("serve", "db", "keys", "settings", "feeds", "gate", "realtime")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"maas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"maas.commands.{name}").register(sub, add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
