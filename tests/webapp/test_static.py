"""The web app's files: served from the package at / and /static/, same origin, a strict CSP,
no inline script or style, nothing fetched from elsewhere."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from maas.api.webapp import STATIC_DIR

ASSETS = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())


def _csp(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


async def test_the_page_is_served_with_a_strict_policy(client) -> None:  # type: ignore[no-untyped-def]
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    csp = _csp(resp.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in v for values in csp.values() for v in values)
    assert "<main" in await resp.text()


async def test_every_asset_is_served_with_its_type(client) -> None:  # type: ignore[no-untyped-def]
    types = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
    for name in ASSETS:
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200, name
        assert resp.content_type == types[name[name.rindex("."):]], name
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.read() == (STATIC_DIR / name).read_bytes()


async def test_nothing_else_is_reachable(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/static/missing.js", "/static/..%2Fwebapp.py", "/static/%2E%2E%2Fapp.py",
                 "/static/.hidden", "/static/", "/static/app.py"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert resp.content_type == "application/problem+json", path


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


def test_no_inline_code_and_nothing_from_elsewhere() -> None:
    page = _Tags()
    page.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert not page.inline_script
    for tag, attrs in page.found:
        assert tag != "style", "inline <style> (the CSP refuses it)"
        assert "style" not in attrs and not any(a.startswith("on") for a in attrs), (tag, attrs)
        for ref in (attrs.get("src"), attrs.get("href")):
            if ref and tag in ("script", "link", "img"):
                assert ref.startswith("/static/") and ref[len("/static/"):] in ASSETS, ref
    for name in ASSETS:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{name} refers to {urls}"
        if name.endswith(".js"):
            assert "innerHTML" not in text and "eval(" not in text, name
            assert "console.log" not in text, name          # never logs keys or tokens
            for module in re.findall(r'from "([^"]+)"', text):
                assert module.startswith("./") and module[2:] in ASSETS, (name, module)


def test_both_languages_have_every_string() -> None:
    text = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    table = text[text.index("const STRINGS = {"):text.index("};\n")]
    en, zh = table[table.index("en: {"):table.index("  zh: {")], table[table.index("  zh: {"):]
    key = re.compile(r'(?:^|[{,]\s*)(?:"([\w.]+)"|([A-Za-z_]\w*)):\s', re.M)

    def keys(block: str) -> set[str]:
        return {a or b for a, b in key.findall(block)} - {"en", "zh"}

    assert len(keys(en)) > 100 and keys(en) == keys(zh)
    used = set(re.findall(r'\bt\("([\w.]+)"', "".join(
        (STATIC_DIR / n).read_text(encoding="utf-8") for n in ASSETS if n.endswith(".js"))))
    used |= set(re.findall(r'data-i18n="([\w.]+)"', (STATIC_DIR / "index.html").read_text(encoding="utf-8")))
    assert used <= keys(en), sorted(used - keys(en))
