"""The middleware's own CPU per request, in process: `maas.middleware.request_context` awaited
directly on mocked requests (no sockets, no aiohttp protocol), around a plain handler that
returns one prebuilt response and around a `maas.http.Router` endpoint with a model answer;
and one access line, the middleware's `access_line` against the generic `log_access` call it
replaces. Thread CPU, the least of 5 passes. Run from a tree's root, or name the tree, to
measure that tree; alternate trees (A B A B):

    git archive main | tar -x -C /tmp/base
    for t in /tmp/base $PWD /tmp/base $PWD; do .venv/bin/python benchmarks/bench_middleware.py $t; done
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time

TREE = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
sys.path.insert(0, TREE)

import uvloop  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import make_mocked_request  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import maas.logs  # noqa: E402
from maas.http import Router  # noqa: E402
from maas.logs import log_access, setup_logging  # noqa: E402
from maas.middleware import Metrics, make_middlewares  # noqa: E402


class Health(BaseModel):
    status: str


async def main() -> None:
    router = Router()

    @router.get("/healthz", summary="alive", response=Health)
    async def healthz(request: web.Request) -> Health:
        return Health(status="ok")

    app = web.Application(middlewares=make_middlewares(Metrics(CollectorRegistry())))
    app.add_routes(router.routes)
    app.freeze()
    middleware = app._middlewares[0]
    prebuilt = web.Response(body=b"{}", content_type="application/json")

    async def plain(request: web.Request) -> web.Response:
        return prebuilt

    n = 20000
    requests = [make_mocked_request("GET", "/healthz", app=app) for _ in range(n)]
    for req in requests:
        info = await app.router.resolve(req)
        info.add_app(app)
        info.freeze()
        req._match_info = info
    endpoint = requests[0].match_info.handler
    out: dict[str, list[float]] = {}
    for _ in range(5):
        for name, handler in (("middleware + plain handler", plain), ("middleware + Router endpoint", endpoint)):
            t = time.thread_time()
            for req in requests:
                await middleware(req, handler)
            out.setdefault(name, []).append((time.thread_time() - t) / n * 1e6)
    log = logging.getLogger("maas.http")
    six = {"gate": "g1", "result": "reject", "code": "already_used", "booking": "bk_0123456789abcdef0123",
           "leg": 1, "via": "qr"}
    for extra in ({}, six):
        def generic() -> None:
            fields = {"method": "POST", "route": "/v1/gates/{gate}/validate", "status": 200, "ms": 0.12}
            log_access(log, "%s %s %s", ("POST", "/v1/gates/{gate}/validate", 200), {**extra, **fields})
        calls = [("log_access", generic)]
        if hasattr(maas.logs, "access_line"):
            calls.append(("access_line", lambda: maas.logs.access_line(
                log, "POST", "/v1/gates/{gate}/validate", 200, 0.12, extra)))
        for _ in range(5):
            for name, call in calls:
                t = time.thread_time()
                for _ in range(50000):
                    call()
                out.setdefault(f"a line ({len(extra)} extra fields), {name}", []).append(
                    (time.thread_time() - t) / 50000 * 1e6)
    print(f"{TREE}: CPU us, least of 5: " + "; ".join(f"{k} {min(v):.2f}" for k, v in out.items()), flush=True)


if __name__ == "__main__":
    setup_logging("INFO")
    with open(os.path.join(tempfile.mkdtemp(prefix="bench-mw-"), "access.log"), "w") as stream:
        logging.getLogger().handlers[0].setStream(stream)   # type: ignore[attr-defined]
        uvloop.run(main())
