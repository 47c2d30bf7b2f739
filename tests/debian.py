"""Debian packages that tests run (PostgreSQL, redis-server and haproxy for several instances,
haproxy to check deploy/'s example, chromium for the web app), installed with apt-get when
they are missing and we are root: a fresh machine runs the README's test command as it is.
Each caller says why it cannot when that fails, and skips with that reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

__all__ = ["ensure_packages"]


def ensure_packages(packages: Sequence[str], present: Callable[[], bool], *,
                    recommends: bool = True, timeout_s: float = 900) -> str | None:
    """None when `present()` holds, installing `packages` first if it does not; else why not.
    A fresh image may have no package lists yet: a failed install runs `apt-get update` and
    tries once more."""
    if present():
        return None
    names = " ".join(packages)
    if not shutil.which("apt-get"):
        return f"{names}: missing, and there is no apt-get to install them"
    if os.geteuid() != 0:
        return f"{names}: missing; run as root: apt-get install -y {names}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q",
               *(() if recommends else ("--no-install-recommends",)), *packages]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, text=True,
                       timeout=timeout_s)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not present():
        return f"apt-get install {names} failed: {done.stderr.strip()[-500:]}"
    return None
