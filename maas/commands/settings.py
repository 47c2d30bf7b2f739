"""`maas settings [--update-readme README.md]`: every setting with its default (Markdown)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["register", "settings_markdown"]


def register(subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = subparsers.add_parser("settings", help="print every setting with its default (Markdown)")
    p.add_argument("--update-readme", metavar="README", help="rewrite the settings table in this file")
    p.set_defaults(func=cmd_settings)


def settings_markdown() -> str:
    from maas.settings import settings_table

    lines = ["| environment variable | default | meaning |", "|---|---|---|"]
    for env, default, text in settings_table():
        lines.append(f"| `{env}` | `{default}` | {text} |")
    return "\n".join(lines) + "\n"


def cmd_settings(args: argparse.Namespace) -> int:
    table = settings_markdown()
    if not args.update_readme:
        print(table, end="")
        return 0
    path = Path(args.update_readme)
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition("<!-- settings:begin -->\n")
    _, _, tail = rest.partition("<!-- settings:end -->")
    path.write_text(head + "<!-- settings:begin -->\n" + table + "<!-- settings:end -->" + tail, encoding="utf-8")
    return 0
