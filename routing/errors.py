"""Typed errors of the routing package: each carries a stable `code` and an HTTP `status` hint."""

from __future__ import annotations

__all__ = [
    "RoutingError",
    "UnknownStop",
    "InvalidQuery",
    "DateOutOfService",
    "InvalidItineraryId",
    "LegNotFeasible",
    "NoTimetable",
    "UnknownTrip",
    "TripNotRunning",
    "PriceSearchTooLarge",
]


class RoutingError(Exception):
    code = "routing_error"
    status = 400

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class UnknownStop(RoutingError):
    code = "unknown_stop"
    status = 404


class InvalidQuery(RoutingError):
    code = "invalid_query"
    status = 400


class DateOutOfService(RoutingError):
    """The query date is outside every active feed's service range (extra: valid_from, valid_to)."""

    code = "date_out_of_service"
    status = 422


class InvalidItineraryId(RoutingError):
    code = "invalid_itinerary_id"
    status = 400


class LegNotFeasible(RoutingError):
    """A LegKey does not match the current network (trip gone, not running, times changed)."""

    code = "leg_not_feasible"
    status = 409


class NoTimetable(RoutingError):
    code = "timetable_not_loaded"
    status = 503


class UnknownTrip(RoutingError):
    code = "unknown_trip"
    status = 404


class TripNotRunning(RoutingError):
    """The trip exists but does not run on the asked service date."""

    code = "trip_not_running"
    status = 404


class PriceSearchTooLarge(RoutingError):
    """A criteria=price search outgrew its label buffers (extra: none)."""

    code = "price_search_too_large"
    status = 422
