"""The raw-bytes prefilter of JSON bodies (maas/http.py `_may_need_check`): a body it lets
through unwalked is one the walk (`_check_json`) would have passed; every refusal stays."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from maas.errors import JsonTooDeep, ValidationFailed
from maas.http import _check_json, _may_need_check
from tests.conftest import bearer

# text that reaches every case: NUL, both ends of the surrogates, a backslash and a `u`
# (an escaped backslash before "u0000"), CJK, an emoji (a surrogate pair when escaped)
_TEXT = st.text(alphabet=st.sampled_from(["a", "\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\\",
                                          "u", "0", "d", "8", "\u4e2d", "\ud7ff", "\U0001f600"]),
                max_size=5)
_VALUES = st.recursive(
    st.none() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=60,
)


def _refused(data: object) -> bool:
    try:
        _check_json(data)
    except (ValidationFailed, JsonTooDeep):
        return True
    return False


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.booleans(), st.sampled_from(["utf-8", "utf-16", "utf-32"]),
       st.integers(0, 40))
def test_a_body_the_walk_refuses_is_never_let_through(value, ascii_only, encoding, wrap):
    for _ in range(wrap):   # nest it deeper, past MAX_JSON_DEPTH at times
        value = [value]
    raw = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    data = json.loads(raw)   # what read_json decodes (bytes: encoding detected, surrogatepass)
    if _refused(data):
        assert _may_need_check(raw)


def test_plain_bodies_skip_the_walk():
    assert not _may_need_check(b'{"qr": "HC1:NCF", "passengers": [{"name": "\\u5f20"}]}')
    assert not _may_need_check('{"name": "张敏"}'.encode())
    assert _may_need_check(b'{"a": "\\u0000"}') and _may_need_check(b'{"a": "\\uDBFF"}')
    assert _may_need_check(b"[" * 33 + b"]" * 33)


async def test_raw_surrogate_bytes_and_utf16_nul_are_refused(client, make_key):
    key = await make_key("gate", gate="g1", station="crh:QDN")
    headers = {**bearer(key), "Content-Type": "application/json"}
    for raw in (b'{"qr": "\xed\xa0\x80x"}', '{"qr": "a\\u0000b"}'.encode("utf-16"),
                '{"\\ud800": "x"}'.encode("utf-32")):
        r = await client.post("/v1/gates/g1/validate", data=raw, headers=headers)
        assert (r.status, r.content_type) == (422, "application/problem+json"), (raw, await r.text())
        assert (await r.json())["code"] == "validation_failed"


def test_the_date_walk_skips_only_fields_that_cannot_hold_a_date():
    from datetime import date
    from typing import Any, NamedTuple, Optional

    from pydantic import AwareDatetime, BaseModel

    from maas.http import _bad_date, _date_fields

    class Pair(NamedTuple):
        day: date

    class Inner(BaseModel):
        name: str = ""
        at: AwareDatetime | None = None

    class Outer(BaseModel):
        n: int = 0
        words: list[str] = []
        anything: Any = None
        day: Optional[date] = None
        inners: list[Inner] = []
        pair: Pair | None = None
        again: "Outer | None" = None
        plain: tuple[int, ...] = ()

    assert _date_fields(Inner) == ("at",)
    assert _date_fields(Outer) == ("anything", "day", "inners", "pair", "again")
    deep = Outer(again=Outer(inners=[Inner(at="0001-01-01T00:00:00+00:00")]))
    assert _bad_date(deep) == "again.inners.0.at"
    assert _bad_date(Outer(anything=date(9999, 12, 31))) == "anything"
