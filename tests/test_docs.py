"""The README stays true to the code."""

from __future__ import annotations

from pathlib import Path

from maas.commands.settings import settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_settings_table_matches_the_code():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- settings:begin -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert block == settings_markdown(), "run: maas settings --update-readme README.md"


def test_readme_has_the_two_setup_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/maas serve --demo" in readme
    assert 'pip install -e ".[test]" && .venv/bin/python -m pytest' in readme
    assert 'pip install -e ".[test]" && .venv/bin/python -m pytest' in ci
