"""The pure check-in core imports no web framework, database driver, cache or pydantic."""

from __future__ import annotations

import subprocess
import sys

PURE = ["ticketing.base45", "ticketing.tokens", "ticketing.totp", "ticketing.gate",
        "ticketing.manifest", "ticketing.faces", "ticketing.keyring", "ticketing.checkin_config",
        "ticketing.checkin_errors"]
FORBIDDEN = ["aiohttp", "asyncpg", "redis", "pydantic", "maas"]


def test_pure_modules_import_nothing_from_the_shell():
    code = (f"import sys\nfor m in {PURE!r}: __import__(m)\n"
            f"print(','.join(sorted(f for f in {FORBIDDEN!r} if f in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure check-in modules pulled in: {out.stdout.strip()}"
