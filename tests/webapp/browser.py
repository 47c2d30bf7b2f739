"""Headless Chromium for the web app tests: Debian's chromium + chromedriver driven by Selenium.

`ensure_chromium()` installs them with apt-get when they are missing and we are root (a fresh
machine runs the README's test command as is); it says why when it cannot. Selenium is told
where the driver is, so it never downloads a browser or a driver of its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from tests.debian import ensure_packages
from tests.polling import eventually_sync

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
# a CJK font, so the Chinese pages' screenshots show characters (phones have their own)
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
PACKAGES = ("chromium", "chromium-driver", "fonts-wqy-microhei")
WAIT_S = 30.0        # bound of every wait for the page (a slow shared machine, never a sleep)


def ensure_chromium() -> str | None:
    """None when chromium and chromedriver are there (installing them if need be), else why not."""
    return ensure_packages(
        PACKAGES, lambda: all(os.path.exists(p) for p in (CHROMIUM, DRIVER, FONT)),
        recommends=False)


def start_browser(lang: str = "en-US", tz: str = "Asia/Shanghai") -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--lang={lang}", "--window-size=1280,1000", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    # the passenger's clock is the stations' (plan times are local to the origin stop)
    service = Service(DRIVER, env={**os.environ, "TZ": tz})
    driver = webdriver.Chrome(service=service, options=opts)
    driver.set_script_timeout(WAIT_S)
    return driver


def wait_for(what: Callable[[], Any], message: str, timeout: float = WAIT_S,
             page: Any = None) -> Any:
    """Poll `what` until it returns something truthy (tests/polling.py); its value. An element
    not there yet (or replaced meanwhile) counts as not yet; on a timeout the page's text is
    part of the message."""
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException)

    last: list[Exception] = []

    def attempt() -> Any:
        try:
            return what()
        except (NoSuchElementException, StaleElementReferenceException) as exc:
            last[:] = [exc]     # the page is changing under us: try again
            return None

    try:
        return eventually_sync(attempt, timeout, interval=0.1, message=message)
    except AssertionError as exc:
        seen = f"; the page says: {page.find_element('tag name', 'main').text[:2000]}" if page else ""
        raise AssertionError(f"{exc}" + (f" ({last[0]})" if last else "") + seen) from None


class Shots:
    """Screenshots kept as test artefacts: $MAAS_SCREENSHOTS or pytest's tmp dir."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, driver: Any, name: str) -> Path:
        path = self.folder / f"{name}.png"
        driver.save_screenshot(str(path))
        self.taken.append(path)
        print(f"screenshot: {path}")
        return path
