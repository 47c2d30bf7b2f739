"""The domain use cases, built from the one Settings object.

ticketing/ never reads maas settings: this module turns Settings into each area's frozen
config and builds the use-case objects (`ticketing.service.Bookings`,
`ticketing.checkin_service.Checkin`). The HTTP areas' cleanup contexts and the CLI both
build them here, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from maas.clock import SystemClock
from maas.domain_metrics import DomainMetrics, MeteredBookings, MeteredCheckin
from maas.settings import BookingSettings, Settings
from ticketing.bookings import RefundPolicy, RefundRule
from ticketing.checkin_config import from_settings
from ticketing.checkin_service import Checkin
from ticketing.fares import FareConfig, Tariff
from ticketing.inventory import CapacityConfig
from ticketing.passengers import AgeRules
from ticketing.keyring_store import KeyCache
from ticketing.pii import Keyring
from ticketing.service import BookingConfig, Bookings

__all__ = ["booking_config", "keyring_of", "bookings_of", "checkin_of", "rotate_personal_data",
           "rotate_checkin_data"]


def _rule(r) -> RefundRule:  # type: ignore[no-untyped-def]
    return RefundRule(r.full_until_h, r.before_departure, r.after_departure)


def booking_config(s: BookingSettings) -> BookingConfig:
    tariff = lambda t: Tariff(t.per_km, t.minimum, t.base)  # noqa: E731
    return BookingConfig(
        fares=FareConfig(
            currency=s.currency,
            mode_tariffs={m: tariff(t) for m, t in s.tariffs.items()},
            operator_tariffs={o: tariff(t) for o, t in s.operator_tariffs.items()},
            concessions=dict(s.concessions), linked_discount=s.linked_discount, fx=dict(s.fx)),
        refunds=RefundPolicy(_rule(s.refund), {m: _rule(r) for m, r in s.refund_by_mode.items()},
                             {o: _rule(r) for o, r in s.refund_by_operator.items()}),
        capacity=CapacityConfig(dict(s.capacity), s.capacity_default),
        hold_ttl=timedelta(seconds=s.hold_ttl_s),
        max_passengers=s.max_passengers,
        sweeper_interval_s=s.sweeper_interval_s,
        ages=AgeRules(s.child_under_age, s.senior_from_age),
        exchange_offer_ttl=timedelta(seconds=s.exchange_offer_ttl_s),
    )


def keyring_of(settings: Settings) -> Keyring:
    keys = settings.data_keys()
    return Keyring(dict(keys.keys), keys.active)


def bookings_of(pool: Any, settings: Settings, now: Callable[[], datetime],
                metrics: DomainMetrics | None = None) -> Bookings:
    """With `metrics` (the server), each use case's outcome is counted (maas/domain_metrics.py)."""
    args = (pool, booking_config(settings.bookings), keyring_of(settings), now)
    return Bookings(*args) if metrics is None else MeteredBookings(metrics, *args)


def checkin_of(pool: Any, settings: Settings, now: Callable[[], datetime],
               metrics: DomainMetrics | None = None) -> Checkin:
    """One per worker: it holds the per-process check-in caches. With `metrics` (the server),
    each gate decision is counted."""
    dk = settings.data_keys()
    args = (pool, from_settings(settings.gates), dk, KeyCache(dk, settings.gates.key_cache_s), now)
    return Checkin(*args) if metrics is None else MeteredCheckin(metrics, *args)  # type: ignore[arg-type]


async def rotate_personal_data(pool: Any, settings: Settings) -> int:
    """Re-encrypt passenger names and ID numbers still under an older data key with the
    active one (`maas keys rotate-data`, after `MAAS_SECRET_KEYS` gets a new first key)."""
    return await bookings_of(pool, settings, SystemClock().now).rotate_keys()


async def rotate_checkin_data(pool: Any, settings: Settings) -> int:
    """Re-seal TOTP secrets, face templates and signing keys under the active data key
    (`maas keys rotate-data`)."""
    return await checkin_of(pool, settings, SystemClock().now).reseal_all()
