"""Publishing feeds against real PostgreSQL: versions, rejection, ownership, activation, rollback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import asyncpg
import pytest

from feeds import errors, store
from feeds.ingest import activate, import_feed, version_id
from routing.network import from_bytes
from tests.polling import eventually, eventually_sync

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = DATA / "real" / "highdesert-point-2017.zip"
MARTA = DATA / "real" / "marta-rail-blue-green-2021.zip"


async def versions(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT id, status FROM feed_versions ORDER BY id")
    return [(r["id"], r["status"]) for r in rows]


async def test_accepted_then_same_bytes_same_version(db: asyncpg.Pool) -> None:
    first = await import_feed(db, SMALL, feed="point", operator_id="op1")
    assert first.status == "accepted" and first.created
    assert first.version.startswith("point-") and len(first.version) == len("point-") + 16
    assert first.stats["trips"] == 4 and first.stats["stop_times"] == 24
    assert all(n["severity"] != "error" for n in first.report)
    again = await import_feed(db, SMALL, feed="point", operator_id="op1")
    assert again.version == first.version and not again.created
    assert await versions(db) == [(first.version, "accepted")]
    row = await db.fetchrow("SELECT compiled, archive, sha256 FROM feed_versions")
    assert bytes(row["archive"]) == SMALL.read_bytes()
    net = from_bytes(bytes(row["compiled"]))
    assert net.feeds == ("point",) and net.n_trips == 4


async def test_same_bytes_under_another_feed_name_is_another_version(db: asyncpg.Pool) -> None:
    a = await import_feed(db, SMALL, feed="point-a", operator_id="op1")
    b = await import_feed(db, SMALL, feed="point-b", operator_id="op1")
    assert a.version != b.version


async def test_errors_store_a_rejected_version_with_its_report(db: asyncpg.Pool) -> None:
    result = await import_feed(db, DATA / "broken" / "undefined-stop.zip", feed="demo", operator_id="op1")
    assert result.rejected and result.created
    assert any(n["code"] == "foreign_key_violation" for n in result.report)
    async with db.acquire() as conn:
        row = await store.get_version(conn, result.version)
    assert row is not None and row["status"] == "rejected" and row["report"] == result.report
    assert await db.fetchval("SELECT compiled FROM feed_versions") is None
    with pytest.raises(errors.FeedVersionRejected) as exc:
        await activate(db, result.version, "op1")
    assert exc.value.status == 409


async def test_not_a_zip_stores_nothing(db: asyncpg.Pool, tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"hello")
    with pytest.raises(errors.NotAZip):
        await import_feed(db, path, feed="junk", operator_id="op1")
    assert await db.fetchval("SELECT count(*) FROM feeds") == 0


async def test_feed_belongs_to_its_first_publisher(db: asyncpg.Pool) -> None:
    await import_feed(db, SMALL, feed="point", operator_id="op1")
    with pytest.raises(errors.FeedOwnedByOtherOperator) as exc:
        await import_feed(db, MARTA, feed="point", operator_id="op2")
    assert exc.value.status == 403
    assert len(await versions(db)) == 1


async def test_admin_needs_an_operator_for_a_new_feed(db: asyncpg.Pool) -> None:
    with pytest.raises(errors.OperatorRequired):
        await import_feed(db, SMALL, feed="point", operator_id=None)
    await import_feed(db, SMALL, feed="point", operator_id="op1")
    r = await import_feed(db, MARTA, feed="point", operator_id=None)  # admin, existing feed
    async with db.acquire() as conn:
        assert r.created and await store.feed_owner(conn, "point") == "op1"


async def test_bad_feed_name(db: asyncpg.Pool) -> None:
    for name in ("", "Has:Colon", "a/b", "x" * 49, "UPPER"):
        with pytest.raises(errors.InvalidFeedName):
            await import_feed(db, SMALL, feed=name, operator_id="op1")


async def test_activate_rollback_and_notify(db: asyncpg.Pool, database_url: str) -> None:
    heard: list[dict] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(store.NOTIFY_CHANNEL, lambda *a: heard.append(json.loads(a[3])))
    try:
        v1 = (await import_feed(db, SMALL, feed="point", operator_id="op1", activate=True))
        assert v1.activated and v1.status == "active"
        v2 = await import_feed(db, MARTA, feed="point", operator_id="op1")
        assert v2.status == "accepted"
        out = await activate(db, v2.version, "op1")
        assert out["previous"] == v1.version
        assert dict(await versions(db)) == {v1.version: "superseded", v2.version: "active"}
        # rollback: activate the old one again
        await activate(db, v1.version, "op1")
        assert dict(await versions(db)) == {v1.version: "active", v2.version: "superseded"}
        async with db.acquire() as conn:
            active = await store.load_active(conn)
        assert [(f, v) for f, v, _ in active] == [("point", v1.version)]
        assert from_bytes(active[0][2]).feed_versions == (v1.version,)
        # activating the active one again changes nothing and notifies nobody
        await activate(db, v1.version, "op1")
        # notifications arrive in commit order: once this one is heard, all are
        barrier: list[str] = []
        await listener.add_listener("test_barrier", lambda *a: barrier.append(a[2]))
        await db.execute("NOTIFY test_barrier")
        await eventually(lambda: barrier)
        assert [h["version"] for h in heard] == [v1.version, v2.version, v1.version]
    finally:
        await listener.close()


async def test_activate_checks_owner_and_existence(db: asyncpg.Pool) -> None:
    v = await import_feed(db, SMALL, feed="point", operator_id="op1")
    with pytest.raises(errors.FeedOwnedByOtherOperator):
        await activate(db, v.version, "op2")
    with pytest.raises(errors.FeedVersionNotFound) as exc:
        await activate(db, version_id("point", "0" * 64), "op1")
    assert exc.value.status == 404
    await activate(db, v.version, None)  # admin may


async def test_rejected_upload_changes_nothing_live(db: asyncpg.Pool, tmp_path: Path) -> None:
    good = await import_feed(db, SMALL, feed="point", operator_id="op1", activate=True)
    async with db.acquire() as conn:
        before = await store.load_active(conn)
    bad = tmp_path / "bad.zip"
    shutil.copy(DATA / "broken" / "bart-errors.zip", bad)
    result = await import_feed(db, bad, feed="point", operator_id="op1", activate=True)
    assert result.rejected and not result.activated
    async with db.acquire() as conn:
        assert await store.load_active(conn) == before
    assert dict(await versions(db))[good.version] == "active"


async def test_list_feeds_by_operator(db: asyncpg.Pool) -> None:
    await import_feed(db, SMALL, feed="point", operator_id="op1", activate=True)
    await import_feed(db, DATA / "broken" / "undefined-stop.zip", feed="point", operator_id="op1")
    await import_feed(db, MARTA, feed="marta", operator_id="op2")
    async with db.acquire() as conn:
        mine = await store.list_feeds(conn, "op1")
        everything = await store.list_feeds(conn)
    assert [f["name"] for f in mine] == ["point"]
    assert [f["name"] for f in everything] == ["marta", "point"]
    point = mine[0]
    assert point["active_version"] is not None
    assert sorted(v["status"] for v in point["versions"]) == ["active", "rejected"]
    rejected = next(v for v in point["versions"] if v["status"] == "rejected")
    assert rejected["errors"] >= 1


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "real").glob("*.zip")))
async def test_every_real_feed_ingests_and_compiles(db: asyncpg.Pool, name: str) -> None:
    feed = name.split("-")[0]
    result = await import_feed(db, DATA / "real" / name, feed=feed, operator_id="op1", activate=True)
    assert result.status == "active", [n for n in result.report if n["severity"] == "error"]
    async with db.acquire() as conn:
        ((f, v, blob),) = await store.load_active(conn)
    net = from_bytes(blob)
    assert (f, v) == (feed, result.version) and net.feed_versions == (result.version,)
    assert net.n_stops == result.stats["stops"]
    assert all(s.startswith(f"{feed}:") for s in net.stop_id[:5])


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "broken").glob("*.zip")))
async def test_every_broken_feed_is_stored_rejected(db: asyncpg.Pool, name: str) -> None:
    result = await import_feed(db, DATA / "broken" / name, feed="broken", operator_id="op1", activate=True)
    assert result.rejected and not result.activated
    async with db.acquire() as conn:
        assert await store.load_active(conn) == []


def test_the_analysis_process_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A serving worker ends with os._exit (no atexit): its analysis process must not linger."""
    import subprocess
    import sys

    import psutil

    script = (
        "import asyncio, os, sys\n"
        "import feeds.ingest as i\n"
        "async def main():\n"
        f"    await i._analyse_elsewhere({str(SMALL)!r}, feed='f', version='v', limits=i.limits_from(None), today=None)\n"
        "    print(next(iter(i._ANALYSER._processes)), flush=True)\n"
        "asyncio.run(main())\n"
        "os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    eventually_sync(gone, message="the analysis process outlived its parent")
