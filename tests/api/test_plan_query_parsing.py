"""GET /v1/plan's query string to a routing Query. maas.http builds the usual query's model
without validating it (plain text fields only: from, to, date, time), takes any other query
whose names are each given once, known, with plain ASCII text, in one pass to validation, and
every other one name by name (the checked way). All three give the same PlanQuery and Query,
and the same error (class, code, detail, `parameter`, field errors) for every kind of bad
input."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import MultiDict, MultiDictProxy

from maas import http
from maas.api.plan import PlanQuery, by_price, to_query
from maas.lang import request_lang

_USUAL = [("from", "nyc:127N"), ("to", "nyc:635S"), ("date", "2018-06-12"), ("time", "09:15:00")]


def _request(pairs: list[tuple[str, str]]) -> Any:
    # parse_query reads the query only; a MultiDict holds what no URL can (a lone surrogate)
    return SimpleNamespace(query=MultiDictProxy(MultiDict(pairs)))


def _outcome(pairs: list[tuple[str, str]]) -> tuple[Any, ...]:
    """What the plan handler makes of the query before planning: its PlanQuery and Query, or
    its error."""
    try:
        pq = http.parse_query(_request(pairs), PlanQuery)
        q = to_query(pq)
        price = by_price(pq)
    except Exception as exc:   # noqa: BLE001 - the error is the outcome compared
        return type(exc), exc.code, exc.status, exc.detail, exc.extra
    return (type(pq), list(pq.__dict__.items()), pq.model_fields_set, pq.__pydantic_extra__,
            pq.__pydantic_private__, repr(pq), pq.model_dump(), q, price)


def _every_way(monkeypatch: pytest.MonkeyPatch, pairs: list[tuple[str, str]]) -> tuple[Any, ...]:
    fast = _outcome(pairs)
    with monkeypatch.context() as m:     # validated, not built
        m.setattr(http, "_unvalidated", lambda model, query: None)
        validated = _outcome(pairs)
    with monkeypatch.context() as m:     # each name in turn, validated
        m.setattr(http, "_unvalidated", lambda model, query: None)
        m.setattr(http, "_plain_query", lambda query, known: None)
        checked = _outcome(pairs)
    assert fast == validated == checked
    return fast


def _with(**kw: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in _USUAL if k not in kw] + list(kw.items())


def test_the_usual_query_takes_the_one_pass_way():
    known = http.query_names(PlanQuery)
    assert http._plain_query(_request(_USUAL).query, known) == dict(_USUAL)
    assert http._plain_query(_request(_with(window_min="10", arrive_by="true")).query, known)
    for odd in (_USUAL + [("to", "nyc:101N")], _with(walk_sped="1"), _with(to="a\x00b"),
                _with(**{"a\x00": "1"}), _with(to="\ud800x"), _with(lang="é")):
        assert http._plain_query(_request(odd).query, known) is None, odd


def test_the_usual_query_is_built_without_validation():
    built = http._unvalidated(PlanQuery, _request(_USUAL).query)
    assert built is not None and built == PlanQuery.model_validate(dict(_USUAL))
    for odd in (_with(lang="zh"),                              # a field not plain text
                _with(from_="nyc:101N"),                       # one field by both its names
                _USUAL + [("to", "nyc:101N")],                 # a name twice
                [p for p in _USUAL if p[0] != "to"],           # a required field missing
                _with(to=_Text("nyc:635S")),                   # text of a str subclass
                _with(to="a\x00b"), _with(to="\ud800x"), _with(to="é")):
        assert http._unvalidated(PlanQuery, _request(odd).query) is None, odd


class _Text(str):
    pass


def _query_models() -> list[type]:
    from maas.app import _modules
    return sorted({ep.query for m in _modules() for ep in m.router.endpoints if ep.query},
                  key=lambda model: model.__name__)


@pytest.mark.parametrize("model", _query_models(), ids=lambda model: model.__name__)
def test_every_query_model_built_is_the_model_validated(model):
    """Every endpoint's query model: built from its plain text fields (each once, then all
    together) only when validating gives the same model, else validated."""
    plan = http._text_fields(model)
    if plan is None:
        return
    names, required, _ = plan
    fields: dict[str, str] = {}
    for name, field in names.items():
        fields.setdefault(field, name)
    for given in [*({k} for k in fields), set(fields)]:
        data = {fields[f]: f"a:{i}" for i, f in enumerate(sorted(given | required))
                if f in fields}
        built = http._unvalidated(model, _request(list(data.items())).query)
        try:
            validated = model.model_validate(data)
        except ValueError:
            assert built is None
            continue
        if built is not None:
            assert list(built.__dict__.items()) == list(validated.__dict__.items())
            assert built.model_fields_set == validated.model_fields_set
            assert (built.__pydantic_extra__, built.__pydantic_private__) == (
                validated.__pydantic_extra__, validated.__pydantic_private__)


@pytest.mark.parametrize("pairs", [
    _USUAL,
    _with(time="9:15"),
    _with(window_min="30", limit="3", max_transfers="2", modes="subway,bus", wheelchair="1"),
    _with(profile="elderly", walk_speed="1.1", extra_transfer_s="60"),
    _with(arrive_by="true", max_walk_m="250.5", min_transfer_s="120"),
    _with(criteria="arrival,price"),
    _with(via="nyc:A27,nyc:101N", via_min_stay_s="300"),
    _with(**{"from": "40.75, -73.99"}),
    [("from_", "nyc:127N")] + _USUAL[1:],     # the field's own name (populate_by_name)
    _with(lang="zh"),
    _with(lang="é"),                          # text beyond ASCII: the checked way
])
def test_good_queries_are_the_same_every_way(monkeypatch, pairs):
    out = _every_way(monkeypatch, pairs)
    assert out[0] is PlanQuery


@pytest.mark.parametrize("pairs,code,parameter", [
    (_with(walk_sped="1"), "unknown_parameter", None),
    (_with(**{"from_": "nyc:1"}, zz="1"), "unknown_parameter", None),
    (_USUAL + [("to", "nyc:101N")], "invalid_parameter", "to"),           # a name given twice
    (_with(to="a\x00b"), "invalid_parameter", "to"),                       # NUL
    (_with(to="\ud800x"), "invalid_parameter", "to"),                      # lone surrogate
    (_with(**{"a\x00": "1"}), "invalid_parameter", "query"),              # NUL in a name
    (_with(**{"\udfff": "1"}), "invalid_parameter", "query"),
    (_with(zz="\x00"), "invalid_parameter", "zz"),                         # NUL before unknown
    ([p for p in _USUAL if p[0] != "to"], "invalid_parameter", "to"),      # missing
    (_with(window_min="-1"), "invalid_parameter", "window_min"),
    (_with(window_min="soon"), "invalid_parameter", "window_min"),
    (_with(limit="0"), "invalid_parameter", "limit"),
    (_with(walk_speed="9"), "invalid_parameter", "walk_speed"),
    (_with(profile="athlete"), "invalid_parameter", "profile"),
    (_with(max_transfers=str(2**31)), "invalid_parameter", "max_transfers"),
    (_with(via="nyc:1," * 80), "invalid_parameter", "via"),
    (_with(date="2018-13-01"), "invalid_query", "date"),
    (_with(date="12/06/2018"), "invalid_query", "date"),
    (_with(time="25:00"), "invalid_query", "time"),
    (_with(time="9h15"), "invalid_query", "time"),
    (_with(**{"from": "nyc"}), "invalid_query", "from"),
    (_with(**{"from": "91,0"}), "invalid_query", "from"),
    (_with(to=":127N"), "invalid_query", "to"),
    (_with(to="nyc:127N"), "invalid_query", None),                         # from = to
    (_with(via="40.7,-73.9"), "invalid_query", "via"),
    (_with(criteria="fastest"), "invalid_query", "criteria"),
    (_with(criteria="price", arrive_by="true"), "invalid_query", "criteria"),
])
def test_bad_queries_fail_the_same_every_way(monkeypatch, pairs, code, parameter):
    kind, got_code, status, detail, extra = _every_way(monkeypatch, pairs)
    assert (got_code, status) == (code, 400)
    if code == "invalid_parameter":
        assert parameter in [e["field"] for e in extra["errors"]]
    elif code == "invalid_query":
        assert extra.get("parameter") == parameter


@pytest.mark.parametrize("headers,accept,lang", [
    ({}, True, None),
    ({"Accept-Language": ""}, True, None),
    ({"Accept-Language": " "}, True, None),
    ({"Accept-Language": "fr"}, True, None),
    ({"Accept-Language": "fr,zh;q=0.4,en-GB;q=0.8"}, True, "en"),
    ({"Accept-Language": "zh"}, False, None),
])
def test_request_lang_from_accept_language(headers, accept, lang):
    request = make_mocked_request("GET", "/v1/plan", headers=headers)
    assert request_lang(request, None, accept) == lang
    assert request_lang(request, "zh-Hant", accept) == "zh"
