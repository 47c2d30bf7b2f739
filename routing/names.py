"""Stop names in a language: the feed's translations.txt (and the names stop search knows:
English, pinyin) for `lang` zh or en, else the name as published.

    display_name(net, s, "en")   # "Jinan West Railway Station", else pinyin, else as published
"""

from __future__ import annotations

import re

__all__ = ["display_name", "primary"]

_CJK = re.compile(r"[\u3400-\u9fff]")


def primary(lang: str | None) -> str | None:
    """"zh" or "en" from a BCP 47 tag ("zh-CN", "en-GB"...), else None (the published name)."""
    if not lang:
        return None
    p = lang.strip().split("-", 1)[0].split("_", 1)[0].lower()
    return p if p in ("zh", "en") else None


def _latin(tag: str) -> bool:
    return "latn" in tag.lower() or "pinyin" in tag.lower()


def display_name(net, s: int, lang: str | None) -> str:
    published = str(net.stop_name[s])
    want = primary(lang)
    if want is None:
        return published
    names = net.stop_names_i18n.get(s)
    if not names:
        return published
    if want == "zh":
        if _CJK.search(published):
            return published
        for tag, text in names.items():
            if tag.lower().split("-", 1)[0] == "zh" and not _latin(tag):
                return text
        return published
    for tag, text in names.items():
        if tag.lower().split("-", 1)[0] == "en":
            return text
    if not _CJK.search(published):
        return published
    for tag, text in names.items():
        if _latin(tag):
            return text
    return published
