"""Locust scenarios: passengers, station gates and operators using maas at the same time.

Run it through `loadtests/run` (which starts maas, seeds it and writes the seed file this
module reads from $MAAS_LOAD_SEED); never import it into pytest (Locust patches the
process with gevent).

Only unexpected answers are failures. Expected refusals — a seat sold out (409), an
itinerary planned on a timetable that was replaced meanwhile (410), a gate rejecting a
replayed, forged or wrong-station QR code — are successes; a gate ACCEPTING one of those
is a failure, and so is a legitimate ticket being rejected.

Each Locust process writes what it saw (outcome counts, every accepted booking leg, plan
and validate latencies with their times, feed activations) to
$MAAS_LOAD_OUT/outcomes-<pid>.json when the test stops; the runner checks them against
PostgreSQL.

Distributed ($MAAS_LOAD_DISTRIBUTED=1: a master and workers that may run on other machines,
`loadtests/run --distributed N` / `--worker`): only the master reads the seed file. A worker
asks the master for the seed (custom message `maas_seed_request`; the answer carries the mix,
the number of workers and the operator's zip), and when the run stops the master asks every
worker to stop its users and send what it saw (`maas_collect` -> `maas_outcomes`), which the
master writes as outcomes-<worker>.json, waiting a bounded time for each.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from typing import Any

from locust import User, between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project root
from loadtests.payloads import forge, passengers, republished  # noqa: E402

SEED: dict[str, Any] = {}
if os.environ.get("MAAS_LOAD_SEED"):
    with open(os.environ["MAAS_LOAD_SEED"], encoding="utf-8") as _fh:
        SEED = json.load(_fh)
OUT_DIR = os.environ.get("MAAS_LOAD_OUT", ".")
PROCESSES = max(1, int(os.environ.get("MAAS_LOAD_PROCESSES", "1")))
DISTRIBUTED = os.environ.get("MAAS_LOAD_DISTRIBUTED") == "1"
MIX: dict[str, float] = dict(SEED.get("mix", {}))
SEEDED = threading.Event()   # set once SEED holds the run's seed (at import, or from the master)
if SEED:
    SEEDED.set()
SEED_WAIT_S = 120.0
COLLECT_WAIT_S = 60.0

# What this process saw; written out at test stop.
OUTCOMES: Counter[str] = Counter()
ACCEPTED: list[tuple[str, int, str]] = []          # (booking, leg, gate) answered "accept"
SAMPLES: dict[str, list[tuple[float, float]]] = {"plan": [], "validate": []}  # (unix t, ms)
ACTIVATIONS: list[dict[str, Any]] = []
_LOCK = threading.Lock()

# Request names (one per endpoint, so the SLOs are per endpoint).
N_STOPS = "GET /v1/stops"
N_PLAN = "GET /v1/plan"
N_ACCOUNT = "POST /v1/accounts"
N_BOOK = "POST /v1/bookings"
N_BOOK_AGAIN = "POST /v1/bookings (same Idempotency-Key)"
N_CONFIRM = "POST /v1/bookings/{id}/confirm"
N_GET = "GET /v1/bookings/{id}"
N_TOKEN = "GET /v1/bookings/{id}/token"
N_CANCEL = "POST /v1/bookings/{id}/cancel"
N_VALIDATE = "POST /v1/gates/{gate}/validate"
N_PUBLISH = "POST /v1/feeds"
N_ACTIVATE = "POST /v1/feeds/{version}/activate"


def poisson_throughput(rate_key: str, default: float):  # type: ignore[no-untyped-def]
    """Like Locust's constant_throughput (at most MIX[rate_key] task runs a second per user,
    on average exactly that when the server keeps up), but with exponential gaps between task
    starts: users started together never stay in step, so arrivals look like many
    independent phones and gates rather than synchronized bursts. The rate is read when
    used: a distributed worker learns the mix from the master after import."""

    def wait_time(user: Any) -> float:
        now = time.monotonic()
        nxt = getattr(user, "_next_start", now) + user.rng.expovariate(float(MIX.get(rate_key, default)))
        user._next_start = max(nxt, now)   # a slow server never builds up a backlog to burst
        return max(0.0, user._next_start - now)

    return wait_time


def _count(what: str) -> None:
    with _LOCK:
        OUTCOMES[what] += 1


def _problem(resp: Any) -> str:
    """Status and the start of the body, for a failure message (also: the bug report)."""
    try:
        text = resp.text or ""
    except Exception:  # noqa: BLE001 — a body that cannot be decoded is itself the news
        text = "<undecodable body>"
    rid = resp.headers.get("X-Request-ID", "") if resp.headers else ""
    return f"HTTP {resp.status_code} {text[:300]}" + (f" [request {rid}]" if rid else "")


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except Exception:  # noqa: BLE001
        return None


def _code(resp: Any) -> str:
    body = _json(resp)
    return body.get("code", "") if isinstance(body, dict) else ""


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _wait_seeded() -> None:
    """A distributed worker's users start once the master's seed arrived (bounded)."""
    if not SEEDED.wait(SEED_WAIT_S):
        raise RuntimeError(f"no seed from the Locust master within {SEED_WAIT_S:.0f} s")


def _plan_params(rng: random.Random, pair: list[str]) -> dict[str, str]:
    lo, hi = SEED.get("plan_hours", [7, 19])
    minute = rng.randint(lo * 60, hi * 60 - 1)
    return {"from": pair[0], "to": pair[1], "date": SEED["plan_date"],
            "time": f"{minute // 60:02d}:{minute % 60:02d}"}


def plan(user: FastHttpUser, pair: list[str], itineraries: bool = False) -> list[dict[str, Any]]:
    """GET /v1/plan; its itineraries when asked for (parsing a plan is not free for the load
    generator either). Only 200 is expected for stops that exist."""
    params = _plan_params(user.rng, pair)
    if len(pair) > 2:   # a hot pair comes with the time its scarce trip leaves
        params["time"] = pair[2]
    with user.client.get("/v1/plan", params=params, name=N_PLAN, catch_response=True) as r:
        content = r.content or b""
        if r.status_code != 200 or b'"itineraries"' not in content:
            r.failure(_problem(r))
            return []
        r.success()
        _count("plan found" if b'"legs"' in content else "plan none")
        if not itineraries:
            return []
        data = _json(r)
        return data.get("itineraries", []) if isinstance(data, dict) else []


class Passenger(FastHttpUser):
    """A mobile app: find stops, plan (mostly); sometimes book, confirm, show the QR, cancel."""

    weight = int(MIX.get("passenger_weight", 6))
    wait_time = poisson_throughput("passenger_rate", 1.0)

    def on_start(self) -> None:
        _wait_seeded()
        self.rng = random.Random()
        self.token = ""
        with self.client.post("/v1/accounts", name=N_ACCOUNT, catch_response=True) as r:
            if r.status_code == 201 and _json(r) and "token" in r.json():
                self.token = r.json()["token"]
                r.success()
            else:
                r.failure(_problem(r))

    @task(int(MIX.get("stops_weight", 3)))
    def search_stops(self) -> None:
        q = self.rng.choice(SEED["stop_queries"])
        with self.client.get("/v1/stops", params={"q": q}, name=N_STOPS, catch_response=True) as r:
            if r.status_code == 200 and _json(r) is not None:
                r.success()
            else:
                r.failure(_problem(r))

    @task(int(MIX.get("plan_weight", 10)))
    def plan_only(self) -> None:
        plan(self, self.rng.choice(SEED["plan_pairs"]))

    @task(int(MIX.get("book_weight", 2)))
    def plan_and_book(self) -> None:
        if not self.token:
            return
        hot = SEED.get("hot_pairs") and self.rng.random() < float(MIX.get("hot_share", 0.3))
        pair = self.rng.choice(SEED["hot_pairs"] if hot else SEED["plan_pairs"])
        its = [it for it in plan(self, pair, itineraries=True) if it.get("id") and _transit_legs(it)]
        if not its:
            return
        booking = self.book(self.rng.choice(its[:3]))
        if booking is None:
            return
        if not self.confirm(booking):
            return
        self.show_token(booking)
        if self.rng.random() < float(MIX.get("cancel_share", 0.3)):
            self.cancel(booking)

    def book(self, itinerary: dict[str, Any]) -> str | None:
        key = str(uuid.uuid4())
        body = {"itinerary_id": itinerary["id"], "passengers": passengers(self.rng)}
        headers = {**_bearer(self.token), "Idempotency-Key": key}
        with self.client.post("/v1/bookings", json=body, headers=headers, name=N_BOOK,
                              catch_response=True) as r:
            data = _json(r)
            if r.status_code == 201 and isinstance(data, dict) and data.get("status") == "held":
                r.success()
                _count("booking held")
                booking = data["id"]
            elif r.status_code in (409, 410):   # sold out / timetable replaced meanwhile
                r.success()
                _count(f"booking refused {r.status_code} {_code(r)}")
                return None
            else:
                r.failure(_problem(r))
                return None
        if self.rng.random() < float(MIX.get("replay_share", 0.1)):
            # a retry with the same key must return the same booking, not a second one
            with self.client.post("/v1/bookings", json=body, headers=headers, name=N_BOOK_AGAIN,
                                  catch_response=True) as r:
                data = _json(r)
                if r.status_code == 201 and isinstance(data, dict) and data.get("id") == booking:
                    r.success()
                    _count("idempotent replay same booking")
                else:
                    r.failure("replay with the same Idempotency-Key did not return booking "
                              f"{booking}: {_problem(r)}")
        return booking

    def confirm(self, booking: str) -> bool:
        headers = {**_bearer(self.token), "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"/v1/bookings/{booking}/confirm", json={"payment_ref": f"pay-{booking}"},
                              headers=headers, name=N_CONFIRM, catch_response=True) as r:
            data = _json(r)
            if r.status_code == 200 and isinstance(data, dict) and data.get("status") == "confirmed":
                r.success()
                _count("booking confirmed")
                return True
            r.failure(_problem(r))
            return False

    def show_token(self, booking: str) -> None:
        with self.client.get(f"/v1/bookings/{booking}/token", headers=_bearer(self.token),
                             name=N_TOKEN, catch_response=True) as r:
            if r.status_code == 200 and isinstance(_json(r), dict) and r.json().get("qr"):
                r.success()
            else:
                r.failure(_problem(r))

    def cancel(self, booking: str) -> None:
        headers = {**_bearer(self.token), "Idempotency-Key": str(uuid.uuid4())}
        with self.client.post(f"/v1/bookings/{booking}/cancel", json={}, headers=headers,
                              name=N_CANCEL, catch_response=True) as r:
            data = _json(r)
            if r.status_code == 200 and isinstance(data, dict) and data.get("status") == "cancelled":
                r.success()
                _count("booking cancelled")
            else:
                r.failure(_problem(r))
                return
        with self.client.get(f"/v1/bookings/{booking}", headers=_bearer(self.token), name=N_GET,
                             catch_response=True) as r:
            data = _json(r)
            if r.status_code == 200 and isinstance(data, dict) and data.get("status") == "cancelled":
                r.success()
            else:
                r.failure(f"cancelled booking reads back as: {_problem(r)}")


def _transit_legs(itinerary: dict[str, Any]) -> list[dict[str, Any]]:
    return [leg for leg in itinerary.get("legs", []) if leg.get("mode") != "walk"]


# --- gates --------------------------------------------------------------------------------

_POOL: deque[dict[str, Any]] = deque()   # bookings with legs left to enter, next-ready first
_POOL_READY = False


def _claim_ticket(environment: Any) -> tuple[dict[str, Any], int, str] | None:
    """(booking, leg, station): the next leg of a pre-booked confirmed booking to enter.

    Legs of one booking are entered at least one TOTP step apart (+1 s): an accepted code's
    step can never admit again, so two legs of a booking entered within one step would be
    refused as a replay. Each Locust process owns a disjoint share of the bookings."""
    global _POOL_READY
    with _LOCK:
        if not _POOL_READY:
            index = getattr(environment.runner, "worker_index", 0) if PROCESSES > 1 else 0
            for entry in SEED.get("pool", [])[index::PROCESSES]:
                _POOL.append({**entry, "left": list(entry["legs"]), "ready_at": 0.0})
            _POOL_READY = True
        now = time.time()
        for _ in range(min(len(_POOL), 64)):
            entry = _POOL.popleft()
            if entry["ready_at"] <= now:
                leg, station = entry["left"].pop(0)
                if entry["left"]:
                    entry["ready_at"] = now + _step_s() + 1.0
                    _POOL.append(entry)
                return entry, int(leg), station
            _POOL.append(entry)
        return None


def _step_s() -> float:
    return float(MIX.get("totp_step_s", 15))


class Gate(FastHttpUser):
    """A station gate: scan the QR of a passenger holding a confirmed ticket (accept), then
    what gates also see — the same code again, a forged code, a ticket for another
    station — which must all be rejected."""

    weight = int(MIX.get("gate_weight", 4))
    wait_time = poisson_throughput("gate_rate", 1.0)

    def on_start(self) -> None:
        _wait_seeded()
        self.rng = random.Random()

    def _validate(self, gate: list[str], qr: str, expect: set[str], why: str) -> dict[str, Any] | None:
        gate_id, key = gate
        with self.client.post(f"/v1/gates/{gate_id}/validate", json={"qr": qr},
                              headers=_bearer(key), name=N_VALIDATE, catch_response=True) as r:
            data = _json(r)
            if r.status_code != 200 or not isinstance(data, dict) or "result" not in data:
                r.failure(f"{why}: {_problem(r)}")
                return None
            got = data["result"] if data["result"] == "accept" else data.get("code", "?")
            if got in expect:
                r.success()
                _count(f"gate {why} -> {got}")
            else:
                r.failure(f"{why}: expected {'/'.join(sorted(expect))}, got {data['result']} "
                          f"{data.get('code')} (booking {data.get('booking')} leg {data.get('leg')})")
                _count(f"gate {why} -> UNEXPECTED {got}")
            return data

    @task
    def check_in(self) -> None:
        claim = _claim_ticket(self.environment)
        if claim is None:
            _count("gate pool exhausted" if not _POOL else "gate waited for a TOTP step")
            time.sleep(1.0)
            return
        ticket, leg, station = claim
        gates = SEED["gates"][station]
        with self.client.get(f"/v1/bookings/{ticket['booking']}/token", headers=_bearer(ticket["token"]),
                             name=N_TOKEN, catch_response=True) as r:
            if r.status_code != 200 or not isinstance(_json(r), dict) or not r.json().get("qr"):
                r.failure(_problem(r))
                return
            r.success()
            qr = r.json()["qr"]
        gate = self.rng.choice(gates)
        d = self._validate(gate, qr, {"accept"}, "valid ticket")
        if d is not None and d.get("result") == "accept":
            if d.get("leg") != leg:
                _count("gate accepted another leg than the one scanned for")
            with _LOCK:
                ACCEPTED.append((ticket["booking"], int(d.get("leg", -1)), gate[0]))
        # what else reaches a gate: each of these must be refused
        if self.rng.random() < float(MIX.get("replay_share", 0.6)):   # same code, another gate here
            self._validate(self.rng.choice(gates), qr, {"already_used", "code_expired"}, "replay")
        if self.rng.random() < float(MIX.get("wrong_station_share", 0.4)):
            elsewhere = [s for s in SEED["gate_stations"] if s not in ticket["boards"]]
            if elsewhere:
                other = SEED["gates"][self.rng.choice(elsewhere)]
                self._validate(self.rng.choice(other), qr, {"wrong_station"}, "wrong station")
        if self.rng.random() < float(MIX.get("forgery_share", 0.4)):
            self._validate(gate, forge(qr, self.rng),
                           {"bad_signature", "malformed", "unknown_key", "already_used",
                            "code_expired", "wrong_station"}, "forged")


# --- operators ----------------------------------------------------------------------------


class Operator(FastHttpUser):
    """An operator that now and then publishes a new version of its feed and activates it."""

    fixed_count = int(MIX.get("operators", 1))
    wait_time = between(1, 2)

    def on_start(self) -> None:
        _wait_seeded()
        self.op = SEED.get("operator") or {}
        self.zip = open(self.op["zip"], "rb").read() if self.op.get("zip") else b""
        self.started = time.time()
        self.n = 0
        self.next_at = self.started + float(MIX.get("operator_first_s", 20))

    @task
    def publish_and_activate(self) -> None:
        if not self.zip or time.time() < self.next_at:
            return
        self.n += 1
        self.next_at = time.time() + float(MIX.get("operator_every_s", 60))
        t0 = time.time()
        headers = {**_bearer(self.op["key"]), "Content-Type": "application/zip"}
        with self.client.post(f"/v1/feeds?feed={self.op['feed']}", data=republished(self.zip, self.n),
                              headers=headers, name=N_PUBLISH, catch_response=True) as r:
            data = _json(r)
            if r.status_code in (200, 201) and isinstance(data, dict) and data.get("version") is not None:
                r.success()
                version = data["version"]
            else:
                r.failure(_problem(r))
                return
        t1 = time.time()
        with self.client.post(f"/v1/feeds/{version}/activate", headers=_bearer(self.op["key"]),
                              name=N_ACTIVATE, catch_response=True) as r:
            if r.status_code == 200:
                r.success()
            else:
                r.failure(_problem(r))
                return
        with _LOCK:
            ACTIVATIONS.append({"feed": self.op["feed"], "version": str(version), "publish_at": t0,
                                "activate_at": t1, "done_at": time.time()})


# --- bookkeeping --------------------------------------------------------------------------


@events.request.add_listener
def _sample(request_type: str, name: str, response_time: float, exception: Any = None,
            start_time: float | None = None, **_: Any) -> None:
    kind = "plan" if name == N_PLAN else "validate" if name == N_VALIDATE else None
    if kind and exception is None:
        t = start_time if start_time else time.time() - response_time / 1000.0
        with _LOCK:
            SAMPLES[kind].append((t, response_time))


def _outcomes() -> dict[str, Any]:
    with _LOCK:
        return {"pid": os.getpid(), "outcomes": dict(OUTCOMES), "accepted": ACCEPTED,
                "samples": SAMPLES, "activations": ACTIVATIONS, "pool_left": len(_POOL)}


def _write(name: str, data: dict[str, Any]) -> None:
    with open(os.path.join(OUT_DIR, f"outcomes-{name}.json"), "w", encoding="utf-8") as fh:
        json.dump(data, fh)


@events.test_stop.add_listener
def _write_outcomes(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return
    if DISTRIBUTED and isinstance(runner, WorkerRunner):
        return   # sent to the master on its maas_collect
    _write(str(os.getpid()), _outcomes())


def _apply_mix() -> None:
    """User weights and task weights from MIX (at import, and again on a distributed worker
    once the master's seed arrived: task weights are drawn on the worker)."""
    Passenger.weight = int(MIX.get("passenger_weight", 6))
    Passenger.tasks = ([Passenger.search_stops] * int(MIX.get("stops_weight", 3))
                       + [Passenger.plan_only] * int(MIX.get("plan_weight", 10))
                       + [Passenger.plan_and_book] * int(MIX.get("book_weight", 2)))
    Gate.weight = int(MIX.get("gate_weight", 4))
    Operator.fixed_count = int(MIX.get("operators", 1))


_apply_mix()


# --- distributed: seed out to the workers, outcomes back to the master ----------------------

_COLLECTED: dict[str, bool] = {}


def _adopt_seed(data: dict[str, Any]) -> None:
    global PROCESSES
    seed = data["seed"]
    op = seed.get("operator") or {}
    if data.get("operator_zip"):
        fd, path = tempfile.mkstemp(prefix="maas-load-op-", suffix=".zip")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data["operator_zip"])
        seed["operator"] = {**op, "zip": path}
    SEED.clear()
    SEED.update(seed)
    MIX.clear()
    MIX.update(seed.get("mix", {}))
    PROCESSES = max(1, int(data.get("processes", 1)))
    _apply_mix()
    SEEDED.set()


def _on_seed_request(environment: Any, msg: Any, **_: Any) -> None:
    op = SEED.get("operator") or {}
    blob = b""
    if op.get("zip") and os.path.exists(op["zip"]):
        with open(op["zip"], "rb") as fh:
            blob = fh.read()
    workers = int(getattr(environment.parsed_options, "expect_workers", 1) or 1)
    environment.runner.send_message("maas_seed", {"seed": SEED, "processes": workers,
                                                  "operator_zip": blob}, client_id=msg.node_id)


def _on_seed(environment: Any, msg: Any, **_: Any) -> None:
    if not SEEDED.is_set():
        _adopt_seed(msg.data)


def _on_collect(environment: Any, msg: Any, **_: Any) -> None:
    environment.runner.stop()   # stops the users (each finishes its task, within stop_timeout)
    environment.runner.send_message("maas_outcomes", _outcomes())


def _on_outcomes(environment: Any, msg: Any, **_: Any) -> None:
    index = environment.runner.get_worker_index(msg.node_id)
    _write(f"worker{index}", msg.data)
    _COLLECTED[msg.node_id] = True


def _ask_for_seed(runner: Any) -> None:
    while not SEEDED.is_set():   # again every 2 s: the master may not have listened yet
        runner.send_message("maas_seed_request")
        SEEDED.wait(2.0)


@events.init.add_listener
def _distributed(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if not DISTRIBUTED:
        return
    if isinstance(runner, MasterRunner):
        runner.register_message("maas_seed_request", _on_seed_request)
        runner.register_message("maas_outcomes", _on_outcomes)
    elif isinstance(runner, WorkerRunner):
        import gevent

        runner.register_message("maas_seed", _on_seed)
        runner.register_message("maas_collect", _on_collect, concurrent=True)
        if not SEEDED.is_set():
            gevent.spawn(_ask_for_seed, runner)


@events.test_stopping.add_listener
def _collect(environment: Any, **_: Any) -> None:
    """On the master, before it tells the workers to quit: each worker stops its users and
    sends its outcomes; wait for all of them (bounded)."""
    runner = environment.runner
    if not (DISTRIBUTED and isinstance(runner, MasterRunner)):
        return
    import gevent

    clients = [c.id for c in runner.clients.all]
    for cid in clients:
        _COLLECTED.pop(cid, None)
        runner.send_message("maas_collect", client_id=cid)
    deadline = time.monotonic() + COLLECT_WAIT_S + float(environment.stop_timeout or 0)
    while time.monotonic() < deadline and not all(_COLLECTED.get(c) for c in clients):
        gevent.sleep(0.2)


__all__ = ["Passenger", "Gate", "Operator", "User"]
