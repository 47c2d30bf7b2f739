"""routing/ is a pure library: it never imports the service's I/O or HTTP stack."""

import ast
from pathlib import Path

import routing

FORBIDDEN = {"aiohttp", "asyncpg", "redis", "pydantic", "pydantic_settings", "maas"}


def test_routing_imports_no_io_or_http():
    root = Path(routing.__file__).parent
    found = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert found == []
