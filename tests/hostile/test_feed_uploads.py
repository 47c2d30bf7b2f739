"""Hostile feed uploads: every one gets a 4xx with its own code, quickly, and feed analysis
stays inside its memory limit (FeedSettings.analysis_memory_bytes) whatever the zip holds."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from feeds import ingest
from tests.conftest import bearer

LIMIT = 256 * 1024 * 1024   # the analysis process's own libraries are not counted in it


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    feeds = settings.feeds.model_copy(update={"analysis_memory_bytes": LIMIT})
    return settings.model_copy(update={"feeds": feeds})


def _zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def big_feed(trips: int, stops_per_trip: int = 60) -> bytes:
    """A valid-looking feed of trips x stops_per_trip stop_times rows (about 40 bytes each)."""
    stops = "stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"S{i},Stop {i},36.{6000 + i:04d},117.{i:04d}\n" for i in range(stops_per_trip))
    rows = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"]
    for t in range(trips):
        h = 5 + t % 15
        rows.extend(f"T{t},{h:02d}:{i:02d}:00,{h:02d}:{i:02d}:30,S{i},{i}\n"
                    for i in range(stops_per_trip))
    return _zip({
        "agency.txt": b"agency_id,agency_name,agency_url,agency_timezone\nA,Big,http://big.example.cn,Asia/Shanghai\n",
        "stops.txt": stops.encode(),
        "routes.txt": b"route_id,agency_id,route_short_name,route_long_name,route_type\nR,A,1,One,3\n",
        "calendar.txt": b"service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
                        b"end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n",
        "trips.txt": ("route_id,service_id,trip_id\n" + "".join(f"R,D,T{t}\n" for t in range(trips))).encode(),
        "stop_times.txt": "".join(rows).encode(),
    })


async def _publish(client, key: str, body: bytes, feed: str = "big"):  # type: ignore[no-untyped-def]
    return await client.post(f"/v1/feeds?feed={feed}", data=io.BytesIO(body),
                              headers={**bearer(key), "Content-Type": "application/zip"})


async def _problem(r, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    text = await r.text()
    assert (r.status, r.content_type) == (status, "application/problem+json"), (r.status, text[:500])
    got = await r.json()
    assert got["code"] == code, got
    return got


async def test_a_feed_too_large_to_analyse_is_refused_and_a_small_one_still_loads(client, make_key):
    key = await make_key("operator", operator="op-big")
    body = big_feed(trips=25_000)             # 1.5 M stop_times rows, ~60 MB unpacked
    assert len(body) < 20 * 1024 * 1024
    r = await _publish(client, key, body)
    got = await _problem(r, 413, "feed_too_large_to_analyse")
    assert got["memory_bytes"] == LIMIT
    assert got["estimated_bytes"] > LIMIT     # refused from its size, before validating it
    r = await client.get("/v1/feeds", headers=bearer(key))
    assert (await r.json())["feeds"] == []    # nothing stored
    r = await _publish(client, key, big_feed(trips=20), feed="small")
    assert r.status == 201, await r.text()


async def test_a_feed_that_needs_more_than_estimated_is_stopped_while_analysed(
        client, make_key, settings):
    settings.feeds.analysis_memory_bytes = 100 * 1024 * 1024
    key = await make_key("operator", operator="op-big")
    body = big_feed(trips=4_000)              # 240 k rows, ~9.5 MB unpacked: estimated 95 MB
    r = await _publish(client, key, body)
    got = await _problem(r, 413, "feed_too_large_to_analyse")
    assert "estimated_bytes" not in got       # analysed, and stopped past the limit (watchdog or RLIMIT_AS)
    # the analysis process was replaced: the next (small) feed goes through it, under the limit
    r = await _publish(client, key, big_feed(trips=20), feed="small")
    assert r.status == 201, await r.text()


async def test_without_a_limit_the_analyser_is_unbounded():
    limits = ingest.limits_from(None)
    assert limits.memory_bytes is None


@pytest.mark.parametrize("make, status, code", [
    (lambda: b"", 400, "empty_upload"),
    (lambda: os.urandom(4096), 400, "not_a_zip"),
    (lambda: b"PK\x03\x04" + os.urandom(2000), 400, "not_a_zip"),
    (lambda: _zip({"stops.txt": b"\0" * (64 * 1024 * 1024)}), 422, "compression_ratio_too_high"),  # a bomb
    (lambda: _zip({"stops.txt": b"a," * (40 * 1024 * 1024)}), 413, "uncompressed_too_large"),  # a huge member
    (lambda: _zip({"../stops.txt": b"x"}), 422, "unsafe_member_name"),
    (lambda: _zip({f"f{i}.txt": b"x" for i in range(201)}), 422, "too_many_members"),
], ids=["empty", "random", "zip-header-then-random", "bomb", "huge-member", "unsafe-name", "members"])
async def test_hostile_zips(client, make_key, settings, make, status, code):
    key = await make_key("operator", operator="op-z")
    if code == "uncompressed_too_large":
        settings.feeds.max_compression_ratio = 10_000.0   # the size limit, not the ratio, refuses it
        settings.feeds.max_uncompressed_bytes = 64 * 1024 * 1024
        settings.feeds.analysis_memory_bytes = 1024 * 1024 * 1024   # could hold 85 MB unpacked
    r = await _publish(client, key, make(), feed="zips")
    await _problem(r, status, code)
