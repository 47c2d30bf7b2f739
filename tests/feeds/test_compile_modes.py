import pytest

from feeds.modes import mode_of


@pytest.mark.parametrize("route_type, mode", [
    (0, "tram"), (1, "metro"), (2, "rail"), (3, "bus"), (4, "ferry"), (5, "tram"),
    (6, "other"), (7, "other"), (11, "bus"), (12, "metro"),
    (100, "rail"), (101, "rail"), (109, "rail"), (117, "rail"),
    (200, "coach"), (202, "coach"), (209, "coach"),
    (400, "metro"), (401, "metro"), (700, "bus"), (704, "bus"), (716, "bus"), (800, "bus"),
    (900, "tram"), (1000, "ferry"), (1200, "ferry"), (1100, "air"), (1102, "air"),
    (1300, "other"), (1400, "other"), (1500, "other"), (1700, "other"), (42, "other"),
])
def test_route_types(route_type, mode):
    assert mode_of(route_type) == mode


def test_bus_is_coach_when_named_intercity_or_stops_far_apart():
    assert mode_of(3, names=("", "Jinan - Linyi Intercity", "")) == "coach"
    assert mode_of(3, names=("济南-临沂长途",)) == "coach"
    assert mode_of(3, stop_spacing_m=40_000) == "coach"
    assert mode_of(702, stop_spacing_m=12_000) == "coach"
    assert mode_of(3, names=("K51", "Quancheng Square - Jinan West"), stop_spacing_m=600) == "bus"


def test_a_city_bus_to_a_coach_station_stays_a_bus():
    assert mode_of(3, names=("4路", "济南长途汽车总站—经二路舜华路")) == "bus"
    assert mode_of(3, names=("11", "Victoria Coach Station - Oxford St")) == "bus"
    assert mode_of(3, names=("", "济南—德州 城际快客")) == "coach"


def test_intercity_rule_never_touches_other_modes():
    assert mode_of(2, names=("Intercity",), stop_spacing_m=50_000) == "rail"
    assert mode_of(1100, stop_spacing_m=500_000) == "air"
