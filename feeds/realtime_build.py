"""GTFS-Realtime out, for demos and replays: the FeedMessage an operator would push to say one
trip runs late or is cancelled. Pure (protobuf bytes, no I/O); `maas realtime delay` sends it
through the same path as POST /v1/realtime.

    body = trip_message("china-railway", "china-railway:G101", delay_s=2400,
                        first_stop="china-railway:jinanxi-jinghu", start_date=date(2026, 12, 6),
                        timestamp=1796000000)

A delay is a StopTimeUpdate at the trip's first stop (arrival and departure `delay`); the
spec's propagation carries it down the trip. A cancellation is the trip's
schedule_relationship CANCELED. The message is DIFFERENTIAL: the feed's other updates stay.
"""

from __future__ import annotations

from datetime import date

from google.transit import gtfs_realtime_pb2 as rt

__all__ = ["trip_message"]


def _bare(feed: str, gtfs_id: str) -> str:
    """The producer's own id: "feed:id" -> "id" (ids of this feed only)."""
    return gtfs_id[len(feed) + 1:] if gtfs_id.startswith(f"{feed}:") else gtfs_id


def trip_message(feed: str, trip_id: str, *, timestamp: int, delay_s: int | None = None,
                 cancel: bool = False, first_stop: str | None = None,
                 start_date: date | None = None) -> bytes:
    """One TripUpdate of `trip_id` (a delay of `delay_s` from `first_stop` on, or a
    cancellation) in a differential FeedMessage stamped `timestamp` (POSIX seconds)."""
    if cancel == (delay_s is not None):
        raise ValueError("give exactly one of delay_s and cancel")
    if delay_s is not None and not first_stop:
        raise ValueError("a delay needs the trip's first stop")
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = rt.FeedHeader.DIFFERENTIAL
    msg.header.timestamp = timestamp
    trip = _bare(feed, trip_id)
    e = msg.entity.add(id=f"maas-{'cancel' if cancel else 'delay'}-{trip}")
    tu = e.trip_update
    tu.trip.trip_id = trip
    if start_date is not None:
        tu.trip.start_date = start_date.strftime("%Y%m%d")
    tu.timestamp = timestamp
    if cancel:
        tu.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    else:
        stu = tu.stop_time_update.add()
        stu.stop_id = _bare(feed, first_stop or "")
        stu.arrival.delay = int(delay_s or 0)
        stu.departure.delay = int(delay_s or 0)
    return msg.SerializeToString()
