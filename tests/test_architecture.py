"""Pure core, thin shell, and one home for SQL.

- The domain packages never import the HTTP layer or the service: routing/ is pure (arrays
  in, itineraries out). feeds/ and ticketing/ are pure too, except their store modules (which
  own their SQL and may use asyncpg) and the use-case modules (feeds/ingest.py,
  ticketing/service.py, ticketing/checkin_service.py) that orchestrate the pure core and a
  store. None of them imports aiohttp, redis, pydantic or maas.
- SQL lives only in `*store.py` modules: no SQL string literal and no database call
  (execute, fetch, fetchrow, fetchval, executemany, copy_*) anywhere else.
- Nothing outside maas/api/ imports from maas/api/ (the app factory finds the HTTP areas
  by name).
- No import cycles, except through imports made only for type checking
  (`if TYPE_CHECKING:`).

Each checker below is a function of a source tree, and the tests at the end plant a
violation in a scratch tree to show that it is caught.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("maas", "feeds", "routing", "ticketing")
NEVER = {"aiohttp", "redis", "pydantic", "pydantic_settings", "maas", "locust"}
IO = {"asyncpg"}
# asyncpg's query methods (Connection and Pool): called with the statement first
DB_CALLS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_from_query",
            "copy_from_table", "copy_records_to_table", "copy_to_table", "cursor", "prepare"}
SQL = re.compile(
    r"^\s*(?:SELECT\b.*\bFROM\b|SELECT\s+\w+\s*\(|INSERT\s+INTO\b|UPDATE\s+\w+\s+SET\b|"
    r"DELETE\s+FROM\b|WITH\s+\w+\s+AS\s*\(|(?:CREATE|ALTER|DROP)\s+(?:TABLE|INDEX|SCHEMA|"
    r"EXTENSION|TYPE|FUNCTION|TRIGGER|VIEW|SEQUENCE)\b|TRUNCATE\s+\w+\s*;?\s*$|"
    r"(?:UN)?LISTEN\s+\"?\w+\"?\s*;?\s*$|NOTIFY\s+\"?\w+\"?\s*(?:,.*)?;?\s*$|"
    r"(?:BEGIN|COMMIT|ROLLBACK)\s*;?\s*$)",
    re.IGNORECASE | re.DOTALL,
)


def _sources(root: Path) -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((root / package).rglob("*.py"))


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_store(path: Path) -> bool:
    return path.stem.endswith("store")


# --- imports -----------------------------------------------------------------------------------


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


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    out.update(id(n) for n in ast.walk(stmt))
    return out


def module_graph(root: Path) -> dict[str, set[str]]:
    """module -> the project modules it imports at run time (at any depth of the file, so
    an import inside a function counts; an import under `if TYPE_CHECKING:` does not)."""
    modules = {_module_name(root, p): p for p in _sources(root)}
    graph: dict[str, set[str]] = {m: set() for m in modules}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = _type_checking_only(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from pkg import mod` imports pkg.mod; `from mod import name` imports mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for t in targets:
                found = resolve(t)
                if found and found != mod:
                    graph[mod].add(found)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def api_imports_from_outside(root: Path) -> list[str]:
    """Modules outside maas/api/ that import a maas.api module."""
    graph = module_graph(root)
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in sorted(targets)
                  if t.startswith("maas.api") and not m.startswith("maas.api"))


def test_no_import_cycles() -> None:
    cycles = import_cycles(module_graph(ROOT))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_nothing_outside_the_http_layer_imports_it() -> None:
    assert api_imports_from_outside(ROOT) == []


# --- SQL -----------------------------------------------------------------------------------------


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def sql_outside_stores(root: Path) -> list[str]:
    """`path:line: what` for every SQL literal or database call outside a `*store.py` module."""
    offenders = []
    for path in _sources(root):
        if _is_store(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        where = path.relative_to(root)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in docs and SQL.match(node.value)):
                first = node.value.strip().splitlines()[0][:60]
                offenders.append(f"{where}:{node.lineno}: SQL literal {first!r}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and (node.func.attr in DB_CALLS or node.func.attr.startswith("copy_"))
                    and node.args):
                # redis pipelines' execute() takes no argument; asyncpg's takes the statement
                offenders.append(f"{where}:{node.lineno}: database call .{node.func.attr}(...)")
    return sorted(offenders, key=lambda o: (o.split(":")[0], int(o.split(":")[1]), o))


def test_sql_only_in_store_modules() -> None:
    offenders = sql_outside_stores(ROOT)
    assert not offenders, "SQL outside *store.py:\n" + "\n".join(offenders)


# --- the checkers catch what they are for --------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_sql_checker_catches_literals_and_calls_outside_stores(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "ticketing/keys.py": (
            '"""SELECT key FROM keys: a docstring may say so."""\n'
            "async def load(conn):\n"
            "    return await conn.fetch(QUERY)\n"
            "QUERY = '''\n    SELECT key_id FROM signing_keys WHERE active'''\n"
            "async def bump(pool, n):\n"
            "    await pool.execute(f'UPDATE counters SET n = {n}')\n"
            "async def flush(pipe):\n"
            "    await pipe.execute()\n"),
        "ticketing/keys_store.py": "async def load(conn):\n"
                                   "    return await conn.fetch('SELECT key FROM keys')\n",
        "maas/db.py": "async def run(conn, sql):\n    await conn.copy_records_to_table('t', records=[])\n",
    })
    assert sql_outside_stores(root) == [
        "maas/db.py:2: database call .copy_records_to_table(...)",
        "ticketing/keys.py:3: database call .fetch(...)",
        "ticketing/keys.py:4: SQL literal 'SELECT key_id FROM signing_keys WHERE active'",
        "ticketing/keys.py:7: SQL literal 'UPDATE counters SET n ='",
        "ticketing/keys.py:7: database call .execute(...)",
    ]


def test_the_cycle_checker_catches_cycles_but_not_type_only_ones(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "maas/a.py": "from maas import b\n",
        "maas/b.py": "def f():\n    from maas.c import x\n",          # a lazy import counts
        "maas/c.py": "from maas.a import y\n",
        "feeds/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from feeds.e import E\n",
        "feeds/e.py": "from feeds.d import D\n",
        "routing/f.py": "from . import g\n",
        "routing/g.py": "from .f import F\n",
    })
    assert import_cycles(module_graph(root)) == [["maas.a", "maas.b", "maas.c"],
                                                 ["routing.f", "routing.g"]]


def test_the_layer_checker_catches_an_import_of_the_http_layer(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "maas/api/__init__.py": "",
        "maas/api/bookings.py": "def rotate(): ...\n",
        "maas/api/plan.py": "from maas.api.bookings import rotate\n",   # inside: fine
        "maas/cli.py": "def main():\n    from maas.api.bookings import rotate\n",
    })
    assert api_imports_from_outside(root) == ["maas.cli -> maas.api.bookings"]
