"""Names in a language: the feed's translations.txt (and the names stop search knows:
English, pinyin) for `lang` zh or en, else the name as published.

    display_name(net, s, "en")        # "Jinan West Railway Station", else pinyin, else as published
    route_name(net, r, "route_long_name", "en")   # translations.txt, else pinyin of a Chinese name
    headsign(net, t, "en")            # translations.txt, else the stop of that name in "en"
"""

from __future__ import annotations

import json
import re
import weakref
from functools import lru_cache

__all__ = ["display_name", "headsign", "primary", "route_name"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def primary(lang: str | None) -> str | None:
    """"zh" or "en" from a BCP 47 tag ("zh-CN", "en-GB"...), else None (the published name)."""
    if not lang:
        return None
    p = lang.strip().split("-", 1)[0].split("_", 1)[0].lower()
    return p if p in ("zh", "en") else None


def _latin(tag: str) -> bool:
    return "latn" in tag.lower() or "pinyin" in tag.lower()


def _pick(published: str, names: dict[str, str] | None, want: str) -> str | None:
    """The name for `want` (zh/en) among `names` {BCP 47 tag: text}, the published one when
    it is already in that script; None when nothing fits."""
    names = names or {}
    if want == "zh":
        if _CJK.search(published):
            return published
        for tag, text in names.items():
            if tag.lower().split("-", 1)[0] == "zh" and not _latin(tag):
                return text
        return None
    for tag, text in names.items():
        if tag.lower().split("-", 1)[0] == "en":
            return text
    if not _CJK.search(published):
        return published
    for tag, text in names.items():
        if _latin(tag):
            return text
    return None


def display_name(net, s: int, lang: str | None) -> str:
    published = str(net.stop_name[s])
    want = primary(lang)
    if want is None:
        return published
    return _pick(published, net.stop_names_i18n.get(s), want) or published


@lru_cache(maxsize=4096)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return _CJK_RUN.sub(lambda m: "".join(lazy_pinyin(m.group(0))).capitalize(), text)


def _i18n(column, i: int) -> dict:
    if len(column) <= i or not column[i]:
        return {}
    return json.loads(str(column[i]))


def route_name(net, r: int, field: str, lang: str | None) -> str:
    """routes.txt `field` (route_short_name / route_long_name) of route r in `lang`: its
    translations.txt rows, else for en the pinyin of a Chinese name; as published otherwise."""
    published = str(getattr(net, field)[r])
    want = primary(lang)
    if want is None or not published:
        return published
    got = _pick(published, _i18n(net.route_names_i18n, r).get(field), want)
    if got is None and want == "en":
        got = _pinyin(published)
    return got or published


_STOPS_BY_NAME: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stop_named(net, name: str) -> int | None:
    index = _STOPS_BY_NAME.get(net)
    if index is None:
        index = {}
        for s, n in enumerate(net.stop_name.tolist()):
            index.setdefault(str(n), s)
        _STOPS_BY_NAME[net] = index
    return index.get(name)


def headsign(net, t: int, lang: str | None) -> str:
    """trips.txt trip_headsign of trip t in `lang`: its translations.txt rows, else the name
    of the stop so called (a headsign is usually the destination) as stop search knows it,
    else for en the pinyin of a Chinese headsign; as published otherwise."""
    published = str(net.trip_headsign[t])
    want = primary(lang)
    if want is None or not published:
        return published
    got = _pick(published, _i18n(net.trip_headsign_i18n, t).get("trip_headsign"), want)
    if got is None:
        s = _stop_named(net, published)
        if s is not None:
            got = _pick(published, net.stop_names_i18n.get(s), want)
    if got is None and want == "en":
        got = _pinyin(published)
    return got or published
