"""Fixtures of the web app tests: Debian's Chromium (installed if missing), the browser, and
the folder screenshots are kept in ($MAAS_SCREENSHOTS, else pytest's tmp; listed at the end)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.webapp.browser import Shots, ensure_chromium, start_browser

_SHOTS: list[Shots] = []


@pytest.fixture(scope="session")
def chromium() -> None:
    why = ensure_chromium()
    if why:
        pytest.skip(f"no headless Chromium for the web app tests: {why}")
    pytest.importorskip("selenium", reason="pip install -e '.[test]' installs selenium")


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    folder = os.environ.get("MAAS_SCREENSHOTS")
    s = Shots(Path(folder) if folder else tmp_path_factory.mktemp("screenshots"))
    _SHOTS.append(s)
    return s


@pytest.fixture
async def browser(chromium):  # type: ignore[no-untyped-def]
    driver = await asyncio.to_thread(start_browser)
    try:
        yield driver
    finally:
        await asyncio.to_thread(driver.quit)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    for s in _SHOTS:
        if s.taken:
            terminalreporter.write_line(f"web app screenshots ({len(s.taken)}): {s.folder}")
