"""GET /v1/alerts: the active alerts (injected clock), filtered, in the asked language."""

from __future__ import annotations

from rt_messages import alert, at, message
from test_push import push

from tests.polling import eventually
from maas.appkeys import LIVE


async def _publish(app, client, key):
    body = message(
        alert("works", header={"en": "Stop Bravo closed", "zh": "Bravo站关闭"},
              description={"en": "Use Charlie", "zh": "请到Charlie站"},
              periods=[(at("07:00"), at("09:00"))], informed=[{"stop_id": "B"}]),
        alert("strike", header={"": "Grève", "en": "Strike"}, periods=[(at("10:00"), None)],
              informed=[{"agency_id": "A"}]),
        alert("line", header={"de": "Umleitung"}, informed=[{"route_id": "R", "stop_id": "C"}]),
        ts=at("06:00"))
    got = await push(client, key, body)
    assert got["alerts"] == 3
    await eventually(lambda: app[LIVE].current.realtime.revisions.get("town") == 1)


async def ids(client, **params) -> list[str]:
    r = await client.get("/v1/alerts", params=params)
    assert r.status == 200
    return [a["id"] for a in (await r.json())["alerts"]]


async def test_only_active_alerts_as_the_clock_moves(app, town, town_key, clock):
    await _publish(app, town, town_key)
    assert await ids(town) == ["town:line", "town:works"]          # 07:30
    clock.advance(hours=2)                                          # 09:30: works ended at 09:00
    assert await ids(town) == ["town:line"]
    clock.advance(hours=1)                                          # 10:30: the strike began
    assert await ids(town) == ["town:line", "town:strike"]


async def test_filters_and_the_shape_of_an_alert(app, town, town_key):
    await _publish(app, town, town_key)
    assert await ids(town, stop="town:B") == ["town:works"]
    assert await ids(town, route="town:R") == ["town:line"] and await ids(town, route="town:Q") == []
    assert await ids(town, feed="city") == [] and len(await ids(town, feed="town")) == 2
    r = await town.get("/v1/alerts", params={"stop": "town:B", "lang": "zh-CN"})
    (works,) = (await r.json())["alerts"]
    assert works == {
        "id": "town:works", "feed": "town", "cause": "construction", "effect": "detour",
        "language": "zh", "header": "Bravo站关闭", "description": "请到Charlie站", "url": None,
        "active_periods": [{"start": "2026-11-22T23:00:00Z", "end": "2026-11-23T01:00:00Z"}],
        "informed": [{"agency": None, "route": None, "route_type": None, "trip": None, "stop": "town:B"}]}


async def test_language_fallback(app, town, town_key, clock):
    await _publish(app, town, town_key)
    clock.advance(hours=3)

    async def header(id_: str, lang: str | None) -> tuple[str | None, str]:
        r = await town.get("/v1/alerts", params={"lang": lang} if lang else {})
        (a,) = [a for a in (await r.json())["alerts"] if a["id"] == id_]
        return a["language"], a["header"]

    assert await header("town:strike", "fr") == (None, "Grève")       # untagged: the feed's own
    assert await header("town:strike", "en-GB") == ("en", "Strike")
    assert await header("town:line", "en") == ("de", "Umleitung")     # the only one there is
