"""The web app in a real headless Chromium: a passenger plans, books, confirms and shows the
rotating QR; a gate admits it (offline from its manifest, then online); an operator publishes
a feed, reads the grouped report and activates it. Screenshots are kept (printed paths).

The server is the test's own app on a loopback port (pytest-aiohttp); the browser is driven
from a worker thread so the event loop keeps serving it.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from maas.appkeys import LIVE
from tests.conftest import bearer
from tests.polling import eventually
from tests.webapp.browser import Shots, wait_for
from tests.webapp.network import TZ, bus_zip, rail_zip

DATA = Path(__file__).resolve().parents[1] / "data"
POINT = DATA / "real" / "highdesert-point-2017.zip"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # 5 s rotating-code steps (the smallest allowed), so the QR visibly refreshes in the test
    return settings.model_copy(update={"gates": settings.gates.model_copy(update={"totp_step_s": 5})})


async def _go_live(client, app, make_key) -> None:  # type: ignore[no-untyped-def]
    admin = await make_key("admin")
    today = datetime.now(ZoneInfo(TZ)).date()
    versions = {}
    for feed, body in (("jnbus", bus_zip(today)), ("crh", rail_zip(today))):
        resp = await client.post("/v1/feeds", params={"feed": feed, "operator": f"op-{feed}"}, data=body,
                                 headers={**bearer(admin), "Content-Type": "application/zip"})
        assert resp.status == 201, await resp.text()
        version = (await resp.json())["version"]
        resp = await client.post(f"/v1/feeds/{version}/activate", headers=bearer(admin))
        assert resp.status == 200, await resp.text()
        versions[feed] = version
    await eventually(lambda: dict(app[LIVE].current.versions) == versions)


def _by_id(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, name)


def _css(driver: Any, sel: str) -> list[Any]:
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, sel)


def _pick_stop(driver: Any, which: str, typed: str, expect: str) -> None:
    box = _by_id(driver, f"{which}-input")
    box.clear()
    box.send_keys(typed)
    button = wait_for(lambda: next((b for b in _css(driver, f"#{which}-suggestions .suggestion")
                                    if expect in b.text), None), f"a {which} suggestion {expect!r}")
    button.click()
    wait_for(lambda: not _css(driver, f"#{which}-suggestions li"), "the suggestions to close")


def _clear_of_a_departure(margin_s: int = 120, after_s: int = 5) -> None:
    """Plan at least `margin_s` before the next K5 departure from B1 (every 10 min, on the
    10-minute marks of Shanghai time: tests/webapp/network.py), so the leg a plan offers has
    not left by the time the page holds it (the page plans from "now" to the second, and a
    hold refuses a departed leg). Waits at most `margin_s + after_s` (on the clock, by design;
    12 s on average). 25 s was too little: a clean-clone CI run took longer from the plan's
    click to the hold's and got 422 itinerary_invalid "leg 0 has already departed".
    And at least `after_s` after the last departure: a wait used to end in the very second of
    a departure, whose bus a plan "from now to the second" still offers (departure >= now) and
    the hold a moment later refuses (a clean-clone CI run, and reproduced by starting this test
    100 s before a 10-minute mark)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    def clear() -> bool:
        t = datetime.now(ZoneInfo("Asia/Shanghai"))
        since = (t.minute * 60 + t.second) % 600           # since the last departure
        return since >= after_s and 600 - since > margin_s
    wait_for(clear, "a moment clear of a departure", timeout=margin_s + after_s + 5)


def _passenger_flow(driver: Any, base: str, shots: Shots) -> dict[str, Any]:
    driver.get(base + "#/passenger")
    wait_for(lambda: _css(driver, "#plan-form"), "the plan form")
    _pick_stop(driver, "from", "quancheng", "Quancheng Square")
    _pick_stop(driver, "to", "qingdao", "Qingdao")
    _clear_of_a_departure()
    _by_id(driver, "plan-button").click()
    first = wait_for(lambda: _css(driver, "#itinerary-0"), "an itinerary", page=driver)[0]
    assert "K5" in first.text and "G" in first.text
    assert _css(driver, "#itinerary-0 svg.map line.map-leg"), "the route map is drawn"
    shots(driver, "01-passenger-plan")

    _by_id(driver, "book-0").click()
    wait_for(lambda: _css(driver, "#booking-form"), "the booking form")
    _by_id(driver, "pax-name-0").send_keys("张三")
    _by_id(driver, "pax-id-0").send_keys("11010519491231002X")
    _by_id(driver, "hold-button").click()
    confirm = wait_for(lambda: _css(driver, "#confirm-button"), "the held booking", page=driver)[0]
    assert _by_id(driver, "booking-status").text == "held"
    shots(driver, "02-passenger-held")

    confirm.click()
    wait_for(lambda: _css(driver, "#booking-status") and _by_id(driver, "booking-status").text == "confirmed",
             "the booking confirmed", page=driver)
    img = wait_for(lambda: _css(driver, "#qr-img[src^='blob:']"), "the QR image")[0]
    wait_for(lambda: driver.execute_script("return arguments[0].naturalWidth", img) > 0, "the QR to load")
    first_payload = wait_for(lambda: _by_id(driver, "qr-payload").get_attribute("value"), "the QR payload")
    shots(driver, "03-passenger-ticket")
    # the code rotates every 5 s here: the page fetches the next one by itself
    wait_for(lambda: _by_id(driver, "qr-payload").get_attribute("value") not in ("", first_payload),
             "the QR to refresh", timeout=40)
    assert int(_by_id(driver, "qr-img").get_attribute("data-refreshes")) >= 2
    account = driver.execute_script("return JSON.parse(localStorage.getItem('maas.account'))")
    booking = driver.current_url.rsplit("/", 1)[1]

    driver.set_window_size(390, 844)              # a phone
    shots(driver, "04-passenger-ticket-phone")
    driver.set_window_size(1280, 1000)
    return {"account": account, "booking": booking}


def _current_qr(driver: Any, account: dict[str, str], booking: str) -> str:
    return driver.execute_async_script(
        "const [token, id, done] = arguments;"
        "fetch(`/v1/bookings/${id}/token`, {headers: {Authorization: `Bearer ${token}`}})"
        ".then(r => r.json()).then(b => done(b.qr));", account["token"], booking)


def _decide(driver: Any, qr: str) -> tuple[str, str]:
    driver.execute_script("document.getElementById('decision-box').replaceChildren()")
    box = _by_id(driver, "gate-qr")
    box.clear()
    driver.execute_script("arguments[0].value = arguments[1]", box, qr)
    _by_id(driver, "gate-validate").click()
    d = wait_for(lambda: _css(driver, "#decision"), "a gate decision")[0]
    return d.get_attribute("data-result"), d.get_attribute("data-code")


def _face(driver: Any, template: str) -> tuple[str, str]:
    from selenium.webdriver.support.ui import Select
    driver.execute_script("document.getElementById('decision-box').replaceChildren()")
    Select(_by_id(driver, "gate-face")).select_by_value(template)
    _by_id(driver, "gate-face-check").click()
    d = wait_for(lambda: _css(driver, "#decision"), "a face decision")[0]
    return d.get_attribute("data-result"), d.get_attribute("data-code")


def _id_card(driver: Any, id_type: str, number: str) -> tuple[str, str]:
    from selenium.webdriver.support.ui import Select
    driver.execute_script("document.getElementById('decision-box').replaceChildren()")
    Select(_by_id(driver, "gate-id-type")).select_by_value(id_type)
    box = _by_id(driver, "gate-id-number")
    box.clear()
    box.send_keys(number)
    _by_id(driver, "gate-id-check").click()
    d = wait_for(lambda: _css(driver, "#decision"), "an ID-card decision")[0]
    return d.get_attribute("data-result"), d.get_attribute("data-code")


def _gate_flow(driver: Any, base: str, shots: Shots, gate_key: str, ride: dict[str, Any]) -> None:
    driver.get(base + "#/gate")
    _by_id(driver, "gate-id").send_keys("g-b1")
    _by_id(driver, "maas-gateKey-input").send_keys(gate_key)
    _by_id(driver, "maas-gateKey-use").click()

    # offline first: the manifest opened and checked in the page, the tap queued, then uploaded
    _by_id(driver, "gate-mode-offline").click()
    _by_id(driver, "manifest-download").click()
    status = wait_for(lambda: _css(driver, "#manifest-status .msg.ok, #manifest-status .msg.bad"),
                      "the manifest opened")[0]
    assert "msg ok" in status.get_attribute("class"), status.text
    qr = _current_qr(driver, ride["account"], ride["booking"])
    assert _decide(driver, qr) == ("accept", "ok")
    shots(driver, "05-gate-offline-accept")
    assert _decide(driver, qr) == ("reject", "already_used")
    assert _by_id(driver, "taps-count").text.endswith("1")
    _by_id(driver, "taps-upload").click()
    wait_for(lambda: "1 recorded" in _by_id(driver, "taps-status").text, "the taps uploaded")

    # online: the leg was entered (by the uploaded tap), a fresh code is refused as used
    _by_id(driver, "gate-mode-online").click()
    qr = _current_qr(driver, ride["account"], ride["booking"])
    assert _decide(driver, qr) == ("reject", "already_used")
    assert _decide(driver, "NOT-A-TICKET") == ("reject", "malformed")
    shots(driver, "06-gate-online-reject")
    # the ID card as the ticket (online): a wrong check digit, then the passenger's own card,
    # whose leg the uploaded tap already entered
    assert _id_card(driver, "prc_id", "110105194912310020") == ("reject", "invalid_id")
    assert _id_card(driver, "prc_id", "11010519491231002x") == ("reject", "already_used")
    shots(driver, "06b-gate-id-card")


async def test_passenger_books_and_a_gate_admits_the_qr(client, app, make_key, browser,  # type: ignore[no-untyped-def]
                                                        shots) -> None:
    await _go_live(client, app, make_key)
    base = str(client.make_url("/"))
    ride = await asyncio.to_thread(_passenger_flow, browser, base, shots)
    resp = await client.get(f"/v1/bookings/{ride['booking']}", headers=bearer(ride["account"]["token"]))
    body = await resp.json()
    assert body["status"] == "confirmed" and [g["mode"] for g in body["legs"]] == ["bus", "rail"]
    assert body["passengers"][0]["name"] != "张三"          # masked, as the API shows it

    gate_key = await make_key("gate", gate="g-b1", station="jnbus:B1")
    await asyncio.to_thread(_gate_flow, browser, base, shots, gate_key, ride)
    taps = await app_db_taps(app, ride["booking"])
    assert taps == [(0, "g-b1", False)]                     # the offline tap, uploaded

    operator = await make_key("operator", operator="op-jnbus")

    def checkins() -> list[str]:
        browser.get(base + "#/operator")
        _by_id(browser, "maas-operatorKey-input").send_keys(operator)
        _by_id(browser, "maas-operatorKey-use").click()
        rows = wait_for(lambda: _css(browser, "#checkins tbody tr"), "the check-ins", page=browser)
        shots(browser, "11-operator-checkins")
        return [td.text for td in rows[0].find_elements("tag name", "td")]

    station, count, passengers, qr, face, id_card, offline = await asyncio.to_thread(checkins)
    assert station.startswith("泉城广场") and "jnbus:B1" in station
    assert (count, passengers, qr, face, id_card, offline) == ("1", "1", "1", "0", "0", "1")


def _walk_only_flow(driver: Any, base: str, shots: Shots) -> list[tuple[bool, bool, str]]:
    """Plan Jinan West Station Bus Hub -> Jinan West (120 m apart): (walk-only, has a Book
    button, walk-only note) per itinerary shown."""
    driver.get(base + "#/passenger")
    wait_for(lambda: _css(driver, "#plan-form"), "the plan form")
    _pick_stop(driver, "from", "bus hub", "Jinan West Station Bus Hub")
    box = _by_id(driver, "to-input")
    box.clear()
    box.send_keys("jinan west")
    wait_for(lambda: next((b for b in _css(driver, "#to-suggestions .suggestion")
                           if "Jinan West" in b.text and "Bus Hub" not in b.text), None),
             "the suggestion Jinan West (the station)").click()
    wait_for(lambda: not _css(driver, "#to-suggestions li"), "the suggestions to close")
    _by_id(driver, "plan-button").click()
    cards = wait_for(lambda: _css(driver, "article.itinerary"), "an itinerary")
    shots(driver, "05w-walk-only")
    out = []
    for card in cards:
        modes = [li.get_attribute("class") for li in card.find_elements("css selector", "li.leg")]
        walk_only = all("mode-walk" in m for m in modes)
        notes = card.find_elements("css selector", ".walk-only")
        out.append((walk_only, bool(card.find_elements("css selector", "button.book")),
                    notes[0].text if notes else ""))
    return out


async def test_a_walk_only_journey_offers_no_booking(client, app, make_key, browser,  # type: ignore[no-untyped-def]
                                                     shots) -> None:
    await _go_live(client, app, make_key)
    cards = await asyncio.to_thread(_walk_only_flow, browser, str(client.make_url("/")), shots)
    assert any(walk for walk, _, _ in cards), cards
    for walk_only, book, said in cards:
        assert book is not walk_only, cards                  # Book only where there is a ride
        assert (said == "On foot all the way: no ticket needed.") is walk_only, cards


async def app_db_taps(app, booking: str) -> list[tuple[int, str, bool]]:  # type: ignore[no-untyped-def]
    from maas.appkeys import DB
    rows = await app[DB].fetch("SELECT leg_no, gate_id, online FROM gate_taps WHERE booking_id = $1"
                               " ORDER BY leg_no", booking)
    return [(r["leg_no"], r["gate_id"], r["online"]) for r in rows]


async def test_a_gate_accepts_online(client, app, make_key, browser, shots) -> None:  # type: ignore[no-untyped-def]
    await _go_live(client, app, make_key)
    base = str(client.make_url("/"))
    ride = await asyncio.to_thread(_book_quickly, browser, base, shots)
    gate_key = await make_key("gate", gate="g-b1", station="jnbus:B1")

    def play() -> None:
        # the passenger enrols test face A (consent given) on this device
        browser.execute_script("localStorage.setItem('maas.account', JSON.stringify(arguments[0]))",
                               ride["account"])
        browser.get(base + "#/passenger")
        browser.refresh()                          # a fresh page: English, normal mode
        wait_for(lambda: _css(browser, "#face-card summary"), "the face card")[0].click()
        _by_id(browser, "face-consent").click()
        _by_id(browser, "face-enrol").click()
        wait_for(lambda: _css(browser, "#face-card .msg.ok"), "the face enrolled")

        browser.get(base + "#/gate")
        _by_id(browser, "gate-id").send_keys("g-b1")
        _by_id(browser, "maas-gateKey-input").send_keys(gate_key)
        _by_id(browser, "maas-gateKey-use").click()
        assert _face(browser, "B") == ("reject", "no_face_match")
        qr = _current_qr(browser, ride["account"], ride["booking"])
        assert _decide(browser, qr) == ("accept", "ok")
        shots(browser, "07-gate-online-accept")
        assert _face(browser, "A") == ("reject", "already_used")   # matched: the same ride
        # the key pasted is never shown back: the field is a password field
        assert _by_id(browser, "maas-gateKey-input").get_attribute("type") == "password"
        assert gate_key not in browser.find_element("tag name", "body").text

    await asyncio.to_thread(play)
    assert await app_db_taps(app, ride["booking"]) == [(0, "g-b1", True)]


def _book_quickly(driver: Any, base: str, shots: Shots) -> dict[str, Any]:
    """Plan and book through the page (the elderly mode, in Chinese), confirm; the ride."""
    driver.get(base + "#/passenger")
    wait_for(lambda: _css(driver, "#plan-form"), "the plan form")
    _by_id(driver, "lang").click()
    _by_id(driver, "elderly").click()
    wait_for(lambda: _by_id(driver, "plan-button").text == "查询", "the page in Chinese")
    assert not _css(driver, "fieldset.modes") or not _css(driver, "fieldset.modes")[0].is_displayed()
    _pick_stop(driver, "from", "quancheng", "泉城广场")
    _pick_stop(driver, "to", "jinanxi", "济南西站公交枢纽")
    _clear_of_a_departure()
    _by_id(driver, "plan-button").click()
    wait_for(lambda: _css(driver, "#itinerary-0 ol.steps li"), "simple steps")
    steps = [li.text for li in _css(driver, "#itinerary-0 ol.steps li")]
    assert "乘坐公交 K5" in steps[0] and "泉城广场" in steps[0], steps
    shots(driver, "08-passenger-elderly-zh")
    _by_id(driver, "book-0").click()
    _by_id(driver, "pax-name-0").send_keys("李四")
    _by_id(driver, "pax-id-0").send_keys("11010519491231002X")
    _by_id(driver, "hold-button").click()
    wait_for(lambda: _css(driver, "#confirm-button"), "the held booking",
             page=driver)[0].click()
    wait_for(lambda: _css(driver, "#qr-img[src^='blob:']"), "the QR")
    account = driver.execute_script("return JSON.parse(localStorage.getItem('maas.account'))")
    driver.execute_script("localStorage.clear()")   # back to English, normal mode
    return {"account": account, "booking": driver.current_url.rsplit("/", 1)[1]}


def _publish(driver: Any, path: Path) -> str:
    """Publish a zip through the page; the version it became."""
    driver.execute_script("document.getElementById('publish-result').replaceChildren()")
    name = _by_id(driver, "feed-name")
    name.clear()
    name.send_keys("point")
    _by_id(driver, "feed-file").send_keys(str(path))
    _by_id(driver, "publish-button").click()
    wait_for(lambda: _css(driver, "#publish-result #report"), "the validation report", page=driver)
    return _css(driver, "#publish-result .msg.ok")[0].text.rsplit(" ", 1)[1]


def _activate(driver: Any, version: str) -> None:
    wait_for(lambda: _css(driver, f"#activate-{version}"), "the version listed")[0].click()
    wait_for(lambda: _css(driver, f"#versions-card tr[data-version='{version}'][data-status='active']"),
             "the version live", page=driver)


def _operator_flow(driver: Any, base: str, shots: Shots, key: str,
                   second: Path) -> tuple[str, dict[str, int]]:
    driver.get(base + "#/operator")
    _by_id(driver, "maas-operatorKey-input").send_keys(key)
    _by_id(driver, "maas-operatorKey-use").click()
    wait_for(lambda: _css(driver, "#publish-form"), "the publish form")
    version = _publish(driver, POINT)
    groups = {g.get_attribute("data-code"): int(g.get_attribute("data-count"))
              for g in _css(driver, "#publish-result details.rgroup")}
    first = _css(driver, "#publish-result details.rgroup summary")[0]
    first.click()
    wait_for(lambda: _css(driver, "#publish-result details.rgroup[open] table.notices tbody tr"),
             "the notices of a code")
    shots(driver, "09-operator-report")
    _activate(driver, version)
    # a second version goes live, then the operator rolls back to the first
    newer = _publish(driver, second)
    _activate(driver, newer)
    button = wait_for(lambda: _css(driver, f"#activate-{version}"), "the roll-back button")[0]
    assert button.text == "Roll back to this"
    _activate(driver, version)
    assert _css(driver, f"#versions-card tr[data-version='{newer}'][data-status='superseded']")
    wait_for(lambda: _css(driver, "#checkins-card:not([hidden])"), "the check-ins card")
    driver.set_window_size(1280, 2400)            # the whole page in one picture
    driver.execute_script("document.getElementById('versions-card').scrollIntoView()")
    shots(driver, "10-operator-activated")
    driver.set_window_size(1280, 1000)
    return version, groups


async def test_operator_publishes_reads_the_report_activates_and_rolls_back(  # type: ignore[no-untyped-def]
        client, app, make_key, browser, shots, tmp_path) -> None:
    key = await make_key("operator", operator="op-point")
    base = str(client.make_url("/"))
    second = tmp_path / "point-v2.zip"                 # the same feed, other bytes
    second.write_bytes(POINT.read_bytes())
    with zipfile.ZipFile(second, "a") as z:
        z.writestr("notes.txt", "a second version\n")
    version, groups = await asyncio.to_thread(_operator_flow, browser, base, shots, key, second)
    detail = await (await client.get(f"/v1/feeds/{version}", headers=bearer(key))).json()
    assert detail["status"] == "active"
    assert groups == dict(Counter(n["code"] for n in detail["report"]))
    assert groups, "the point feed has warnings to show"
    await eventually(lambda: app[LIVE].current.versions.get("point") == version)


def _alert_message() -> bytes:
    from google.transit import gtfs_realtime_pb2 as rt
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = rt.FeedHeader.FULL_DATASET
    # every K5 run 4 minutes late from its first stop: today's service, and yesterday's runs
    # past midnight (a test just after midnight rides one of those)
    today = datetime.now(ZoneInfo(TZ)).date()
    for day, first in ((today, 0), (today - timedelta(days=1), 24 * 60)):
        for start in range(first, 28 * 60, 10):
            tu = msg.entity.add(id=f"late-{day:%Y%m%d}-{start}").trip_update
            tu.trip.trip_id = f"K5-{start // 60:02d}{start % 60:02d}"
            tu.trip.start_date = f"{day:%Y%m%d}"
            stu = tu.stop_time_update.add(stop_sequence=1, stop_id="B1")
            stu.arrival.delay = stu.departure.delay = 240
    a = msg.entity.add(id="lift").alert
    a.cause, a.effect = rt.Alert.CONSTRUCTION, rt.Alert.ACCESSIBILITY_ISSUE
    a.informed_entity.add().stop_id = "B1"
    a.header_text.translation.add(text="Quancheng Square: lift out of order", language="en")
    a.header_text.translation.add(text="泉城广场站电梯停用", language="zh")
    return msg.SerializeToString()


async def test_delays_and_alerts_reach_the_passenger_and_the_operator(client, app, make_key, browser,  # type: ignore[no-untyped-def]
                                                           shots) -> None:
    await _go_live(client, app, make_key)
    operator = await make_key("operator", operator="op-jnbus")
    resp = await client.post("/v1/realtime", params={"feed": "jnbus"}, data=_alert_message(),
                             headers={**bearer(operator), "Content-Type": "application/x-protobuf"})
    assert resp.status == 200, await resp.text()
    async def alerts() -> list:
        return (await (await client.get("/v1/alerts")).json())["alerts"]

    await eventually(alerts, interval=0.05)
    base = str(client.make_url("/"))

    def look() -> tuple[str, str]:
        browser.get(base + "#/passenger")
        wait_for(lambda: _css(browser, "#plan-form"), "the plan form")
        _pick_stop(browser, "from", "quancheng", "Quancheng Square")
        _pick_stop(browser, "to", "weishan", "Weishan Road")
        _by_id(browser, "plan-button").click()
        alert = wait_for(lambda: _css(browser, "#itinerary-0 .alerts li"), "the itinerary's alert",
                         page=browser)[0].text
        late = [e.text for e in _css(browser, "#itinerary-0 .live.late")]
        assert late == ["+4 min late"], late
        shots(browser, "12-passenger-alert")
        browser.get(base + "#/operator")
        _by_id(browser, "maas-operatorKey-input").send_keys(operator)
        _by_id(browser, "maas-operatorKey-use").click()
        listed = wait_for(lambda: _css(browser, "#alerts li"), "the operator's alerts", page=browser)[0].text
        return alert, listed

    alert, listed = await asyncio.to_thread(look)
    assert alert == "Quancheng Square: lift out of order"
    assert "Quancheng Square: lift out of order" in listed and "jnbus" in listed
