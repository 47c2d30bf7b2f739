"""The language a request asks names in: `lang=` if given, else the best of zh/en in
Accept-Language (q-weighted), else None (names as published)."""

from __future__ import annotations

from aiohttp import web

from routing.names import primary

__all__ = ["request_lang"]


def request_lang(request: web.Request, lang: str | None, accept: bool = True) -> str | None:
    if lang:
        return primary(lang)
    header = request.headers.get("Accept-Language") if accept else None
    if not header:
        return None     # most API clients send none
    best, best_q = None, 0.0
    for part in header.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        p = primary(tag)
        if p is not None and q > best_q:
            best, best_q = p, q
    return best
