"""Domain metrics in `/metrics`: bookings by outcome, holds expired, gate decisions, feed
versions and activations, planner latency (`maas_realtime_lag_seconds` lives in maas/realtime.py).

Each is counted in one place, at the use-case boundary: `MeteredBookings` and `MeteredCheckin`
wrap the ticketing use cases (maas/services.py builds them for the server); the feed and plan
handlers count their one use case each. Labels are bounded: actions, stable error codes, modes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from maas.metric_batch import MetricBatch
from ticketing import checkin_store as checkin_store
from ticketing import store
from ticketing.checkin_service import Checkin
from ticketing.gate import Decision
from ticketing.service import Bookings

__all__ = ["DomainMetrics", "DOMAIN_METRICS", "MeteredBookings", "MeteredCheckin"]

T = TypeVar("T")

PLAN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class DomainMetrics:
    """The domain series of one app (one registry; None = prometheus-client's default one,
    aggregated over workers in multiprocess mode)."""

    def __init__(self, registry: CollectorRegistry | None, batch: MetricBatch | None = None) -> None:
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        # the per-request series (a decision, a booking outcome, a plan's time) are written
        # in batches; the rare ones (feeds, the sweeper) at once
        self.batch = batch or MetricBatch()
        self.bookings = Counter(
            "maas_bookings_total", "Booking use cases by action and outcome (a state or an error code)",
            ["action", "outcome"], **kw)
        self.holds_expired = Counter(
            "maas_holds_expired_total", "Holds written as expired by the hold-expiry sweeper", **kw)
        self.gate_decisions = Counter(
            "maas_gate_decisions_total",
            "Gate decisions: mode online (validate; via qr|id_card|face) or offline (uploaded taps, via tap)",
            ["mode", "via", "result", "code"], **kw)
        self.feed_versions = Counter(
            "maas_feed_versions_total", "New feed versions uploaded, by status after validation",
            ["status"], **kw)
        self.feed_activations = Counter(
            "maas_feed_activations_total", "Feed versions made live (also roll-backs; not a repeat of the live one), by feed",
            ["feed"], **kw)
        self._decisions: dict[tuple[str, str, str], Any] = {}   # online gate_decisions children
        self._outcomes: dict[tuple[str, str], Any] = {}   # bookings children
        self.plan_bodies = Counter(
            "maas_plan_bodies_total", "Point-query /v1/plan bodies: kept (answered from the "
            "worker's memo, Settings.plan_memo) or made", ["outcome"], **kw)
        self._bodies = {o: self.plan_bodies.labels(o) for o in ("kept", "made")}
        self._plans: dict[str, Any] = {}   # plan_latency children by kind
        self.plan_latency = Histogram(
            "maas_plan_duration_seconds", "Time to compute a /v1/plan answer (kind point|range)",
            ["kind"], buckets=PLAN_BUCKETS, **kw)

    async def booking(self, action: str, done: str, work: Awaitable[T]) -> T:
        """Await `work`, counting `done` on success or the domain error's code on failure."""
        try:
            out = await work
        except store.Replayed:
            raise   # a replayed Idempotency-Key: nothing was done this time
        except Exception as err:
            self._outcome(action, str(getattr(err, "code", None) or "error"))
            raise
        self._outcome(action, done)
        return out

    def _outcome(self, action: str, outcome: str) -> None:
        child = self._outcomes.get((action, outcome))
        if child is None:
            child = self._outcomes[(action, outcome)] = self.bookings.labels(action, outcome)
        self.batch.inc(child)

    def plan_took(self, kind: str, seconds: float) -> None:
        """One /v1/plan answer's time (maas_plan_duration_seconds{kind})."""
        child = self._plans.get(kind)
        if child is None:
            child = self._plans[kind] = self.plan_latency.labels(kind)
        self.batch.observe(child, seconds)

    def plan_body(self, kept: bool) -> None:
        """A point-query body answered from the memo (`kept`) or made."""
        self.batch.inc(self._bodies["kept" if kept else "made"])

    def decision(self, via: str, d: Decision) -> Decision:
        key = (via, d.result, d.code)
        child = self._decisions.get(key)
        if child is None:   # labels() takes a lock and builds the key on every call
            child = self._decisions[key] = self.gate_decisions.labels("online", via, d.result, d.code)
        self.batch.inc(child)
        return d


DOMAIN_METRICS = web.AppKey("domain_metrics", DomainMetrics)


class MeteredBookings(Bookings):
    """The booking use cases, each outcome counted (maas_bookings_total, maas_holds_expired_total)."""

    def __init__(self, metrics: DomainMetrics, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.metrics = metrics

    async def hold(self, *args: Any, **kw: Any) -> Any:
        return await self.metrics.booking("hold", "held", super().hold(*args, **kw))

    async def confirm(self, *args: Any, **kw: Any) -> Any:
        return await self.metrics.booking("confirm", "confirmed", super().confirm(*args, **kw))

    async def cancel(self, account_id: str, booking_id: str, leg_no: int | None = None,
                     conn: Any = None, legs: Any = None, idempotent: Any = None) -> Any:
        action = "cancel" if leg_no is None and legs is None else "cancel_leg"
        return await self.metrics.booking(action, "cancelled",
                                          super().cancel(account_id, booking_id, leg_no, conn,
                                                         legs, idempotent))

    async def exchange(self, *args: Any, **kw: Any) -> Any:
        return await self.metrics.booking("exchange", "exchanged", super().exchange(*args, **kw))

    async def sweep(self) -> int:
        n = await super().sweep()
        if n:
            self.metrics.holds_expired.inc(n)
            self.metrics.bookings.labels("expire", "expired").inc(n)
        return n


# an offline tap's outcome (the code) -> result; every other outcome refused the tap
_TAP_RESULT = {"recorded": "accept", "conflict": "conflict", "duplicate": "duplicate"}


class MeteredCheckin(Checkin):
    """The check-in use cases, each gate decision counted (maas_gate_decisions_total)."""

    def __init__(self, metrics: DomainMetrics, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.metrics = metrics

    async def validate_qr(self, *args: Any, **kw: Any) -> Decision:
        return self.metrics.decision("qr", await super().validate_qr(*args, **kw))

    async def validate_face(self, *args: Any, **kw: Any) -> Decision:
        return self.metrics.decision("face", await super().validate_face(*args, **kw))

    async def validate_id(self, *args: Any, **kw: Any) -> Decision:
        try:
            d = await super().validate_id(*args, **kw)
        except Exception as err:   # too_many_unknown_ids: refused before any look-up
            code = getattr(err, "code", None)
            if code:
                self.metrics.gate_decisions.labels("online", "id_card", "reject", code).inc()
            raise
        return self.metrics.decision("id_card", d)

    async def upload_taps(self, gate: str, station: str, stops: tuple[str, ...],
                          taps: Iterable[checkin_store.UploadedTap]) -> list[tuple[str, str]]:
        out = await super().upload_taps(gate, station, stops, taps)
        for _, outcome in out:
            result = _TAP_RESULT.get(outcome, "reject")
            self.metrics.gate_decisions.labels("offline", "tap", result, outcome).inc()
        return out
