"""The web app at `/`: passenger, operator and gate pages, served from the package itself.

Plain HTML, CSS and JavaScript modules in `maas/static/` (no build step, no CDN): `/` is the
page, `/static/<file>` its assets. Same origin as the API, so no CORS; every response carries a
strict Content-Security-Policy (no inline script or style, nothing from elsewhere) and
`X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from maas.errors import NotFound
from maas.http import Router

__all__ = ["router", "STATIC_DIR", "SECURITY_HEADERS"]

router = Router(tag="web app")
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

# blob: images are the QR codes (fetched with the passenger's token, shown from memory);
# media blob: the gate page's camera preview
_CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".css": "text/css",
    ".svg": "image/svg+xml", ".json": "application/json", ".ico": "image/x-icon",
}


def _asset(name: str) -> web.Response:
    path = STATIC_DIR / name
    kind = _TYPES.get(path.suffix)
    # only plain files directly in static/ with a known type: no traversal, no listing
    if "/" in name or "\\" in name or name.startswith(".") or kind is None or not path.is_file():
        raise NotFound("no such file of the web app")
    resp = web.Response(body=path.read_bytes(), content_type=kind,
                        charset="utf-8" if kind.startswith("text/") else None)
    resp.headers.update(SECURITY_HEADERS)
    resp.headers["Cache-Control"] = "no-cache"   # revalidate: a new version shows at once
    return resp


@router.get("/", summary="The web app (passenger, operator and gate pages)",
            response_content="text/html")
async def index(request: web.Request) -> web.Response:
    return _asset("index.html")


@router.get("/static/{name}", summary="A file of the web app (JavaScript module, CSS, icon)",
            response_content="text/javascript", errors={404: "no such file"})
async def static(request: web.Request) -> web.Response:
    return _asset(request.match_info["name"])
