"""Plain, frozen configuration of check-in, built from `maas.settings.GateSettings`.

The pure core (tokens, gate validator, faces) takes this, never the pydantic settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["Margins", "CheckinConfig", "mode_of", "DEFAULT_MARGINS", "from_settings"]


@dataclass(frozen=True)
class Margins:
    """A leg's ticket admits at its boarding station from `before_departure_s` before the
    departure until `after_arrival_s` after the scheduled arrival (delays, on-board checks)."""

    before_departure_s: int
    after_arrival_s: int


# Gate opening per mode: a bus validator admits shortly before; an airport boarding gate hours
# before (check-in, security); every mode tolerates delays after the scheduled arrival.
DEFAULT_MARGINS: dict[str, Margins] = {
    "bus": Margins(30 * 60, 60 * 60),
    "tram": Margins(30 * 60, 60 * 60),
    "metro": Margins(30 * 60, 60 * 60),
    "ferry": Margins(60 * 60, 60 * 60),
    "coach": Margins(60 * 60, 60 * 60),
    "rail": Margins(2 * 3600, 60 * 60),
    "air": Margins(4 * 3600, 60 * 60),
    "other": Margins(60 * 60, 60 * 60),
}


def mode_of(value: object) -> str:
    """Our mode name for a GTFS route_type (basic or extended) or a mode string."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v.isdigit():
            return mode_of(int(v))
        aliases = {"subway": "metro", "train": "rail", "flight": "air", "plane": "air",
                   "intercity_bus": "coach", "boat": "ferry", "trolleybus": "bus"}
        v = aliases.get(v, v)
        return v if v in DEFAULT_MARGINS else "other"
    if isinstance(value, int):
        basic = {0: "tram", 1: "metro", 2: "rail", 3: "bus", 4: "ferry", 11: "bus", 12: "rail"}
        if value in basic:
            return basic[value]
        if 100 <= value < 200:
            return "rail"
        if 200 <= value < 300:
            return "coach"
        if 400 <= value < 500:
            return "metro"
        if 700 <= value < 800:
            return "bus"
        if 900 <= value < 1000:
            return "tram"
        if value in (1000, 1200):
            return "ferry"
        if 1100 <= value < 1200:
            return "air"
    return "other"


@dataclass(frozen=True)
class CheckinConfig:
    totp_step_s: int = 15
    totp_skew_steps: int = 1
    totp_digits: int = 6
    margins: dict[str, Margins] = field(default_factory=lambda: dict(DEFAULT_MARGINS))
    face_dimension: int = 128
    face_threshold: float = 0.6
    face_retention_s: int = 24 * 3600
    face_gallery_cache_s: float = 5.0
    # A manifest for date D covers every validity window that touches D in any time zone
    # (UTC-12 .. UTC+14), so a gate anywhere gets its whole local day.
    manifest_before_s: int = 14 * 3600
    manifest_after_s: int = 12 * 3600

    def margins_for(self, mode: object) -> Margins:
        m = mode_of(mode)
        return self.margins.get(m) or self.margins.get("other") or DEFAULT_MARGINS["other"]

    def window(self, mode: object, departure: datetime, arrival: datetime) -> tuple[datetime, datetime]:
        """The admission window of a leg at its boarding station."""
        m = self.margins_for(mode)
        return (departure - timedelta(seconds=m.before_departure_s),
                arrival + timedelta(seconds=m.after_arrival_s))


def from_settings(s: object) -> CheckinConfig:
    """CheckinConfig from maas.settings.GateSettings (read by attribute: no pydantic here)."""
    margins = {mode: Margins(int(before) * 60, int(after) * 60)
               for mode, (before, after) in getattr(s, "window_min").items()}
    return CheckinConfig(
        totp_step_s=int(getattr(s, "totp_step_s")),
        totp_skew_steps=int(getattr(s, "totp_skew_steps")),
        totp_digits=int(getattr(s, "totp_digits")),
        margins=margins,
        face_dimension=int(getattr(s, "face_dimension")),
        face_threshold=float(getattr(s, "face_threshold")),
        face_retention_s=int(float(getattr(s, "face_retention_h")) * 3600),
        face_gallery_cache_s=float(getattr(s, "face_gallery_cache_s", 5.0)),
    )
