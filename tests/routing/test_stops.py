"""Stop search on a small inline network: Chinese, pinyin, English, typos, stations, near."""

from __future__ import annotations

import pytest

from feeds.compile import compile_feed
from routing.network import merge
from routing.stops import StopIndex, normalize

STOPS = (
    "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
    "JNX,济南西站,36.6697,116.8907,1,\n"
    "JNX1,济南西站,36.6697,116.8907,0,JNX\n"
    "JNX2,济南西站,36.6698,116.8909,0,JNX\n"
    "JNXE,济南西站东入口,36.6697,116.8915,2,JNX\n"
    "JN,济南站,36.6705,116.9897,1,\n"
    "JN1,济南站,36.6705,116.9897,0,JN\n"
    "QS,泉城广场,36.6610,117.0160,0,\n"
    "JS,经十路舜耕路,36.6500,117.0300,0,\n"
)
TRANSLATIONS = (
    "table_name,field_name,language,translation,record_id\n"
    "stops,stop_name,en,Jinan West Railway Station,JNX\n"
    "stops,stop_name,en,Jinan Railway Station,JN\n"
    "stops,stop_name,en,Quancheng Square,QS\n"
)


def network():
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,铁路,http://x,Asia/Shanghai\n",
        "stops.txt": STOPS,
        "routes.txt": "route_id,agency_id,route_type\nR,A,101\nB,A,3\n",
        "calendar.txt": ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                         "start_date,end_date\nD,1,1,1,1,1,1,1,20240101,20240107\n"),
        "trips.txt": "route_id,service_id,trip_id\nR,D,T1\nR,D,T2\nB,D,T3\n",
        "stop_times.txt": ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           "T1,08:00:00,08:00:00,JNX1,1\nT1,08:20:00,08:20:00,JN1,2\n"
                           "T2,09:00:00,09:00:00,JNX2,1\nT2,09:20:00,09:20:00,JN1,2\n"
                           "T3,09:00:00,09:00:00,QS,1\nT3,09:20:00,09:20:00,JS,2\n"),
        "translations.txt": TRANSLATIONS,
    }
    return compile_feed({k: v.encode() for k, v in files.items()}, feed="sd", version="v1")


@pytest.fixture(scope="module")
def index():
    return StopIndex.build(network())


def ids(index, hits):
    return [index.net.stop_id[h.stop] for h in hits]


@pytest.mark.parametrize("q", ["济南西", "济南西站", "jinanxi", "ji nan xi", "Jǐnán Xī", "JINANXI",
                               "ji3 nan2 xi1", "jnxz", "Jinan West", "jinan west railway",
                               "west railway"])
def test_the_station_is_found_in_every_script(index, q):
    assert ids(index, index.search(q))[0] == "sd:JNX"


def test_platforms_are_grouped_under_their_station_and_entrances_never_show(index):
    hit = index.search("济南西站")[0]
    assert [index.net.stop_id[p] for p in hit.platforms] == ["sd:JNX1", "sd:JNX2"]
    everything = ids(index, index.search("济南", limit=50))
    assert "sd:JNX1" not in everything and "sd:JNXE" not in everything
    assert set(everything) == {"sd:JNX", "sd:JN"}


def test_exact_beats_prefix_beats_substring(index):
    hits = index.search("jinan")
    assert ids(index, hits)[:2] == ["sd:JN", "sd:JNX"] or hits[0].score >= hits[1].score
    assert index.search("济南站")[0].score == 100
    assert index.search("济南")[0].score == 90
    inside = index.search("舜耕")
    assert ids(index, inside) == ["sd:JS"] and inside[0].score == 70


def test_prefix_ties_rank_the_busier_place_first(index):
    # 济南西站 has two departures, 济南站 two arrivals plus... both 90: more stop_times first
    hits = index.search("jinan")
    weights = [index.weight[h.stop] for h in hits if h.score == 90]
    assert weights == sorted(weights, reverse=True)


@pytest.mark.parametrize("typo, expected", [("jinnanxi", "sd:JNX"), ("quancheng squre", "sd:QS"),
                                            ("jingshlu shungeng", "sd:JS")])
def test_typos_are_tolerated(index, typo, expected):
    hits = index.search(typo)
    assert hits and ids(index, hits)[0] == expected and hits[0].score < 60


def test_nothing_found_for_nonsense(index):
    assert index.search("zzzzqqqq") == []


def test_modes_of_a_place(index):
    jnx = index.search("jinanxi")[0].stop
    assert index.modes(jnx) == ("rail",)
    assert index.modes(index.search("quancheng")[0].stop) == ("bus",)


def test_near_returns_places_nearest_first_with_distance(index):
    hits = index.near(36.6697, 116.8907, radius_m=200)
    assert ids(index, hits) == ["sd:JNX"]
    assert hits[0].distance_m == pytest.approx(0, abs=1)
    assert [index.net.stop_id[p] for p in hits[0].platforms] == ["sd:JNX1", "sd:JNX2"]
    wide = index.near(36.6697, 116.8907, radius_m=20_000, limit=3)
    assert ids(index, wide) == ["sd:JNX", "sd:JN", "sd:QS"]
    assert [round(h.distance_m) for h in wide] == sorted(round(h.distance_m) for h in wide)
    assert index.near(0.0, 0.0, radius_m=1000) == []


def test_same_name_in_two_feeds_gives_two_places():
    a, b = network(), compile_feed({
        "agency.txt": b"agency_id,agency_name,agency_url,agency_timezone\nB,bus,http://x,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nH1,济南西站,36.6705,116.8915\n".encode(),
        "routes.txt": b"route_id,agency_id,route_type\nR,B,3\n",
        "calendar_dates.txt": b"service_id,date,exception_type\nD,20240101,1\n",
        "trips.txt": b"route_id,service_id,trip_id\nR,D,T\n",
        "stop_times.txt": (b"trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           b"T,08:00:00,08:00:00,H1,1\nT,08:20:00,08:20:00,H1,2\n"),
    }, feed="bus", version="v1")
    index = StopIndex.build(merge([a, b]))
    assert set(ids(index, index.search("jinanxi"))) == {"sd:JNX", "bus:H1"}


def test_normalize():
    assert normalize("Jǐ Nán-Xī ") == "jinanxi"
    assert normalize("济南 西站") == "济南西站"
    assert normalize("ＪＩＮＡＮ") == "jinan"


def test_every_word_in_any_order(index):
    hits = index.search("square quancheng")
    assert ids(index, hits) == ["sd:QS"] and 75 <= hits[0].score < 90
    both = index.search("jinan station")  # Jinan (West) Railway Station
    assert set(ids(index, both)) == {"sd:JNX", "sd:JN"} and all(h.score == 80 for h in both)


def test_a_real_match_is_not_drowned_in_fuzzy_look_alikes(index):
    assert set(ids(index, index.search("railway"))) == {"sd:JNX", "sd:JN"}
