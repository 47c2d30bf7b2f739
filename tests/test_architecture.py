"""Pure core, thin shell: the domain packages never import the HTTP layer or the service.

routing/ is pure (arrays in, itineraries out). feeds/ and ticketing/ are pure too, except
their store modules (which own their SQL and may use asyncpg) and the use-case modules
(feeds/ingest.py, ticketing/service.py, ticketing/checkin_service.py) that orchestrate the pure core and a store. None of them imports aiohttp, redis,
pydantic or maas.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEVER = {"aiohttp", "redis", "pydantic", "pydantic_settings", "maas", "locust"}
IO = {"asyncpg"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _may_do_io(path: Path) -> bool:
    # stores own their SQL; ingest/service modules orchestrate the pure core and a store
    return "store" in path.stem or path.stem == "ingest" or path.stem.endswith("service")


@pytest.mark.parametrize("package", ["routing", "feeds", "ticketing"])
def test_domain_packages_stay_pure(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        found = _imports(path)
        bad = found & NEVER
        if package == "routing" or not _may_do_io(path):
            bad |= found & IO
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, "\n".join(offenders)
