"""`maas feeds validate|import|activate|list` as an operator's script would run them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from maas.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_validate_prints_the_report_and_fails_on_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["feeds", "validate", str(DATA / "broken" / "duplicate-ids.zip")]) == 1
    out = capsys.readouterr().out
    assert "ERROR" in out and "duplicate_key" in out and "stops.txt" in out


def test_validate_real_feed_exits_zero_and_json(capsys) -> None:  # type: ignore[no-untyped-def]
    path = str(DATA / "real" / "highdesert-point-2017.zip")
    assert main(["feeds", "validate", path, "--json", "--date", "2017-06-01"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["stats"]["trips"] == 4
    assert not [n for n in body["report"] if n["severity"] == "error"]


def test_validate_not_a_zip_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x.zip"
    path.write_bytes(b"nope")
    assert main(["feeds", "validate", str(path)]) == 2
    assert "not_a_zip" in capsys.readouterr().err


def test_import_activate_list(database_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    common = ["--database-url", database_url, "--data-dir", str(tmp_path)]
    small = str(DATA / "real" / "highdesert-point-2017.zip")
    assert main(["feeds", "import", small, "--feed", "point", "--operator", "op1", "--activate", *common]) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["status"] == "active" and first["activated"] is True
    marta = str(DATA / "real" / "marta-rail-blue-green-2021.zip")
    assert main(["feeds", "import", marta, "--feed", "point", *common]) == 0  # owner known
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["status"] == "accepted"
    bad = str(DATA / "broken" / "undefined-stop.zip")
    assert main(["feeds", "import", bad, "--feed", "point", *common]) == 1
    assert "foreign_key_violation" in capsys.readouterr().err
    assert main(["feeds", "activate", second["version"], *common]) == 0
    capsys.readouterr()
    assert main(["feeds", "list", *common]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["version"]: r["status"] for r in rows} == {
        first["version"]: "superseded", second["version"]: "active",
        next(r["version"] for r in rows if r["status"] == "rejected"): "rejected",
    }

    async def active() -> list:  # type: ignore[type-arg]
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(r) for r in await conn.fetch(
                "SELECT feed, id FROM feed_versions WHERE status = 'active'")]
        finally:
            await conn.close()

    assert asyncio.run(active()) == [("point", second["version"])]


def test_import_new_feed_without_operator_exits_2(database_url: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    small = str(DATA / "real" / "highdesert-point-2017.zip")
    code = main(["feeds", "import", small, "--feed", "point", "--database-url", database_url,
                 "--data-dir", str(tmp_path)])
    assert code == 2 and "operator_required" in capsys.readouterr().err
