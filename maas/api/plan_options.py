"""The /v1/plan options that shape a journey, in one model: GET /v1/plan and GET /v1/reach
take them, and POST /v1/bookings takes the ones its itinerary was planned with (connection
protection re-plans a disrupted journey with them). Their bounds live here only."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from maas.http import INT32_MAX

__all__ = ["PlanOptions"]


class PlanOptions(BaseModel):
    modes: str | None = Field(None, max_length=200, description="Comma-separated modes to use: bus, coach, rail, metro, tram, ferry, air, other")
    max_transfers: int | None = Field(None, ge=0, le=INT32_MAX, description="At most this many changes; capped at routing.max_transfers (default 6)")
    wheelchair: bool = Field(False, description="Only wheelchair-accessible trips (wheelchair_accessible=1) and stops (wheelchair_boarding=1, inherited from the station)")
    max_walk_m: float | None = Field(None, ge=0, le=100_000, description="Longest walk between two stops (at most 100 km); 0 = no walking between different stops except transfers.txt. Default routing.walk_radius_m")
    min_transfer_s: int | None = Field(None, ge=0, le=86400, description="Your minimum connection time: be at every boarding (the first included) this many seconds before departure, instead of the mode defaults (airport check-in, rail gates) and the default change time; transfers.txt and operator station rules still apply")
    profile: Literal["default", "elderly"] = Field("default", description="Travel profile: defaults of the options below. elderly: walk_speed 0.8 m/s, extra_transfer_s 300, max_transfers 3, fewer changes preferred (a change ranks as 10 min of arrival), step-free where known (no stop or trip the feed marks not accessible); an option given explicitly wins")
    walk_speed: float | None = Field(None, ge=0.3, le=3.0, description="Walking speed, m/s (0.3-3.0), for every walk (access, egress, changes); default routing.walk_speed_mps (1.2), elderly 0.8")
    extra_transfer_s: int | None = Field(None, ge=0, le=3600, description="Seconds added to every change between two vehicles (on top of the change time, walk, transfers.txt and station rules); default 0, elderly 300")
