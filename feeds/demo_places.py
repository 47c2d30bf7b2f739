"""Places of the Shandong demo network: cities, rail stations, coach stations, airports.

Coordinates are the real ones (WGS84, rounded to ~10 m), names in Chinese with English;
pinyin is derived with pypinyin where it is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["City", "Place", "CITIES", "RAIL_STATIONS", "RAIL_LINES", "COACH_STATIONS",
           "COACH_ROUTES", "AIRPORTS", "FLIGHTS", "ROADS_EW", "ROADS_NS"]


@dataclass(frozen=True)
class City:
    key: str            # ascii key, used in feed names and ids
    zh: str
    en: str
    lat: float
    lon: float
    radius_m: float     # extent of the bus network around the centre
    lines: int          # bus lines at scale 1 (Jinan, Qingdao) or per scale unit (others)


@dataclass(frozen=True)
class Place:
    key: str
    zh: str
    en: str
    lat: float
    lon: float
    city: str           # City.key, or "" outside Shandong
    tz: str = "Asia/Shanghai"


CITIES = (
    City("jinan", "济南", "Jinan", 36.6512, 117.1201, 13_000, 10),
    City("qingdao", "青岛", "Qingdao", 36.0671, 120.3826, 13_000, 10),
    City("zibo", "淄博", "Zibo", 36.8131, 118.0549, 8_000, 4),
    City("zaozhuang", "枣庄", "Zaozhuang", 34.8107, 117.3237, 7_000, 4),
    City("dongying", "东营", "Dongying", 37.4346, 118.6749, 7_000, 3),
    City("yantai", "烟台", "Yantai", 37.4638, 121.4479, 9_000, 4),
    City("weifang", "潍坊", "Weifang", 36.7069, 119.1618, 8_000, 5),
    City("jining", "济宁", "Jining", 35.4154, 116.5871, 8_000, 4),
    City("taian", "泰安", "Tai'an", 36.1999, 117.0884, 7_000, 3),
    City("weihai", "威海", "Weihai", 37.5091, 122.1164, 7_000, 3),
    City("rizhao", "日照", "Rizhao", 35.4164, 119.5269, 7_000, 3),
    City("linyi", "临沂", "Linyi", 35.1041, 118.3564, 8_000, 5),
    City("dezhou", "德州", "Dezhou", 37.4355, 116.3575, 7_000, 4),
    City("liaocheng", "聊城", "Liaocheng", 36.4570, 115.9854, 7_000, 3),
    City("binzhou", "滨州", "Binzhou", 37.3835, 117.9707, 7_000, 3),
    City("heze", "菏泽", "Heze", 35.2334, 115.4807, 7_000, 4),
)

RAIL_STATIONS = {p.key: p for p in (
    Place("beijingnan", "北京南站", "Beijing South Railway Station", 39.8652, 116.3786, ""),
    Place("tianjinnan", "天津南站", "Tianjin South Railway Station", 39.0576, 117.0614, ""),
    Place("dezhoudong", "德州东站", "Dezhou East Railway Station", 37.4486, 116.4300, "dezhou"),
    Place("jinanxi", "济南西站", "Jinan West Railway Station", 36.6697, 116.8907, "jinan"),
    Place("taian", "泰安站", "Tai'an Railway Station", 36.1888, 117.0578, "taian"),
    Place("qufudong", "曲阜东站", "Qufu East Railway Station", 35.5876, 117.0356, "jining"),
    Place("tengzhoudong", "滕州东站", "Tengzhou East Railway Station", 35.0990, 117.2280,
          "zaozhuang"),
    Place("zaozhuang", "枣庄站", "Zaozhuang Railway Station", 34.8156, 117.5735, "zaozhuang"),
    Place("xuzhoudong", "徐州东站", "Xuzhou East Railway Station", 34.2790, 117.2893, ""),
    Place("nanjingnan", "南京南站", "Nanjing South Railway Station", 31.9692, 118.7940, ""),
    Place("shanghaihongqiao", "上海虹桥站", "Shanghai Hongqiao Railway Station", 31.1946,
          121.3204, ""),
    Place("jinan", "济南站", "Jinan Railway Station", 36.6705, 116.9897, "jinan"),
    Place("jinandong", "济南东站", "Jinan East Railway Station", 36.7436, 117.2202, "jinan"),
    Place("zibobei", "淄博北站", "Zibo North Railway Station", 36.8760, 118.0300, "zibo"),
    Place("weifangbei", "潍坊北站", "Weifang North Railway Station", 36.8300, 119.1400,
          "weifang"),
    Place("gaomibei", "高密北站", "Gaomi North Railway Station", 36.4300, 119.7300, "weifang"),
    Place("jiaozhoubei", "胶州北站", "Jiaozhou North Railway Station", 36.3300, 120.0300,
          "qingdao"),
    Place("qingdaojichang", "青岛胶东国际机场站", "Qingdao Jiaodong Airport Railway Station",
          36.3630, 120.0905, "qingdao"),
    Place("hongdao", "红岛站", "Hongdao Railway Station", 36.3010, 120.2700, "qingdao"),
    Place("qingdaobei", "青岛北站", "Qingdao North Railway Station", 36.1700, 120.3750,
          "qingdao"),
    Place("qingdao", "青岛站", "Qingdao Railway Station", 36.0647, 120.3133, "qingdao"),
    Place("jimobei", "即墨北站", "Jimo North Railway Station", 36.4640, 120.4530, "qingdao"),
    Place("laiyang", "莱阳站", "Laiyang Railway Station", 36.9920, 120.7000, "yantai"),
    Place("yantainan", "烟台南站", "Yantai South Railway Station", 37.4090, 121.3730, "yantai"),
    Place("weihaibei", "威海北站", "Weihai North Railway Station", 37.4980, 122.0800,
          "weihai"),
    Place("rongcheng", "荣成站", "Rongcheng Railway Station", 37.1650, 122.4220, "weihai"),
)}

# line key, Chinese name, English name, stations in order, trains per direction a day,
# average speed between stops (km/h), stopping-pattern: every train stops at stations whose
# index is listed in `always`; the others are served by every second train.
RAIL_LINES = (
    ("jinghu", "京沪高铁", "Beijing–Shanghai HSR",
     ("beijingnan", "tianjinnan", "dezhoudong", "jinanxi", "taian", "qufudong", "tengzhoudong",
      "zaozhuang", "xuzhoudong", "nanjingnan", "shanghaihongqiao"),
     36, 270, (0, 3, 10)),
    ("jiqing", "济青高铁", "Jinan–Qingdao HSR",
     ("jinanxi", "jinan", "jinandong", "zibobei", "weifangbei", "gaomibei", "jiaozhoubei",
      "qingdaojichang", "hongdao", "qingdaobei", "qingdao"),
     30, 230, (0, 2, 7, 9, 10)),
    ("qingrong", "青荣城际", "Qingdao–Rongcheng Intercity Railway",
     ("qingdaobei", "jimobei", "laiyang", "yantainan", "weihaibei", "rongcheng"),
     16, 190, (0, 3, 4, 5)),
)

COACH_STATIONS = {p.key: p for p in (
    Place("jinan", "济南长途汽车总站", "Jinan Long-distance Bus Station", 36.6853, 116.9881,
          "jinan"),
    Place("qingdao", "青岛长途汽车站", "Qingdao Long-distance Bus Station", 36.1195, 120.3636,
          "qingdao"),
    Place("linyi", "临沂汽车总站", "Linyi Bus Terminal", 35.0707, 118.3563, "linyi"),
    Place("yantai", "烟台汽车总站", "Yantai Bus Terminal", 37.5432, 121.3925, "yantai"),
    Place("weihai", "威海汽车站", "Weihai Bus Station", 37.5109, 122.1144, "weihai"),
    Place("zibo", "淄博汽车总站", "Zibo Bus Terminal", 36.8125, 118.0521, "zibo"),
    Place("weifang", "潍坊汽车总站", "Weifang Bus Terminal", 36.7117, 119.1143, "weifang"),
    Place("taian", "泰安汽车站", "Tai'an Bus Station", 36.1910, 117.1030, "taian"),
    Place("jining", "济宁汽车总站", "Jining Bus Terminal", 35.4082, 116.5939, "jining"),
    Place("rizhao", "日照汽车总站", "Rizhao Bus Terminal", 35.4167, 119.5267, "rizhao"),
    Place("dezhou", "德州汽车总站", "Dezhou Bus Terminal", 37.4364, 116.3591, "dezhou"),
    Place("liaocheng", "聊城汽车总站", "Liaocheng Bus Terminal", 36.4562, 115.9942,
          "liaocheng"),
    Place("binzhou", "滨州汽车站", "Binzhou Bus Station", 37.3826, 118.0120, "binzhou"),
    Place("dongying", "东营汽车站", "Dongying Bus Station", 37.4501, 118.5010, "dongying"),
    Place("heze", "菏泽汽车总站", "Heze Bus Terminal", 35.2566, 115.4584, "heze"),
    Place("zaozhuang", "枣庄汽车总站", "Zaozhuang Bus Terminal", 34.8620, 117.5550,
          "zaozhuang"),
)}

# coach stations in order, departures per direction a day, route_type (3 = bus marked
# intercity by name: the modes rule keeps it a coach)
COACH_ROUTES = (
    (("jinan", "taian", "linyi"), 10, 204),
    (("qingdao", "yantai", "weihai"), 10, 204),
    (("jinan", "zibo", "weifang", "qingdao"), 12, 204),
    (("jinan", "jining"), 8, 204),
    (("jinan", "dezhou"), 8, 3),
    (("jinan", "liaocheng"), 6, 204),
    (("jinan", "binzhou", "dongying"), 6, 204),
    (("jinan", "heze"), 5, 204),
    (("qingdao", "rizhao", "linyi"), 6, 204),
    (("linyi", "zaozhuang"), 6, 204),
)

AIRPORTS = {p.key: p for p in (
    Place("TNA", "济南遥墙国际机场", "Jinan Yaoqiang International Airport", 36.8572, 117.2158,
          "jinan"),
    Place("TAO", "青岛胶东国际机场", "Qingdao Jiaodong International Airport", 36.3619,
          120.0883, "qingdao"),
    Place("YNT", "烟台蓬莱国际机场", "Yantai Penglai International Airport", 37.6572, 120.9872,
          "yantai"),
    Place("ICN", "首尔仁川国际机场", "Seoul Incheon International Airport", 37.4602, 126.4407,
          "", "Asia/Seoul"),
    Place("PEK", "北京首都国际机场", "Beijing Capital International Airport", 40.0799,
          116.6031, ""),
    Place("PVG", "上海浦东国际机场", "Shanghai Pudong International Airport", 31.1443,
          121.8083, ""),
    Place("CAN", "广州白云国际机场", "Guangzhou Baiyun International Airport", 23.3924,
          113.2988, ""),
    Place("SZX", "深圳宝安国际机场", "Shenzhen Bao'an International Airport", 22.6393,
          113.8107, ""),
    Place("CTU", "成都双流国际机场", "Chengdu Shuangliu International Airport", 30.5785,
          103.9471, ""),
)}

# origin, destination, flight number, local departure (HH:MM, origin time), days (1=Mon)
FLIGHTS = (
    ("TNA", "PEK", "SC1151", "07:40", "1234567"), ("PEK", "TNA", "SC1152", "11:20", "1234567"),
    ("TNA", "PVG", "SC4655", "08:30", "1234567"), ("PVG", "TNA", "SC4656", "12:30", "1234567"),
    ("TNA", "CAN", "SC4817", "09:10", "1234567"), ("CAN", "TNA", "SC4818", "14:05", "1234567"),
    ("TNA", "SZX", "SC4765", "13:40", "1234567"), ("SZX", "TNA", "SC4766", "18:15", "1234567"),
    ("TNA", "CTU", "SC8861", "10:15", "1357"), ("CTU", "TNA", "SC8862", "14:20", "1357"),
    ("TNA", "ICN", "SC4071", "10:50", "246"), ("ICN", "TNA", "SC4072", "14:30", "246"),
    ("TAO", "PEK", "SC4603", "07:30", "1234567"), ("PEK", "TAO", "SC4604", "10:40", "1234567"),
    ("TAO", "PVG", "SC4681", "08:05", "1234567"), ("PVG", "TAO", "SC4682", "11:10", "1234567"),
    ("TAO", "CAN", "SC4691", "12:25", "1234567"), ("CAN", "TAO", "SC4692", "17:30", "1234567"),
    ("TAO", "SZX", "SC4651", "15:10", "1234567"), ("SZX", "TAO", "SC4652", "19:50", "1234567"),
    ("TAO", "ICN", "SC4615", "09:30", "1234567"), ("ICN", "TAO", "SC4616", "13:30", "1234567"),
    ("TAO", "ICN", "SC4617", "18:40", "1357"), ("ICN", "TAO", "SC4618", "21:40", "1357"),
    ("YNT", "PVG", "SC4721", "08:20", "1234567"), ("PVG", "YNT", "SC4722", "12:00", "1234567"),
    ("YNT", "ICN", "SC4081", "11:15", "1357"), ("ICN", "YNT", "SC4082", "14:50", "1357"),
    ("TNA", "TAO", "SC4601", "20:30", "1234567"), ("TAO", "TNA", "SC4602", "07:00", "1234567"),
)

# Street names for generated bus stops: stop = "<east-west road><north-south road>".
ROADS_EW = {
    "jinan": ("经一路", "经二路", "经四路", "经七路", "经十路", "泉城路", "解放路", "文化东路",
              "山大路", "北园大街", "工业北路", "二环南路", "旅游路", "和平路", "泺源大街",
              "大明湖路", "花园路", "二环北路", "黄岗路", "港沟路", "刘长山路", "腊山河东路"),
    "qingdao": ("香港中路", "东海西路", "南京路", "辽阳西路", "台东一路", "延安三路",
                "江西路", "宁夏路", "合肥路", "劲松三路", "银川西路", "株洲路", "长沙路",
                "四流南路", "瑞昌路", "金水路", "青银高速路", "同安路", "福州北路", "鞍山路"),
}
ROADS_NS = {
    "jinan": ("纬一路", "纬二路", "纬六路", "纬十二路", "舜耕路", "历山路", "千佛山路",
              "英雄山路", "山师东路", "洪家楼路", "燕山路", "二环东路", "二环西路",
              "奥体中路", "凤鸣路", "舜华路", "工业南路", "济泺路", "无影山路", "天桥路"),
    "qingdao": ("山东路", "福州路", "燕儿岛路", "南京路", "延吉路", "重庆南路", "黑龙江中路",
                "海尔路", "劲松七路", "深圳路", "海口路", "东海东路", "抚顺路", "杭州路",
                "徐州路", "威海路", "嘉定路", "小港路", "胶州路", "市场三路"),
}
_GENERIC_EW = ("人民路", "建设路", "解放路", "胜利街", "和平路", "新华路", "东风路", "文化路",
               "青年路", "滨河路", "黄河路", "长江路", "府前街", "振兴路", "团结路", "光明路",
               "学府路", "迎宾路")
_GENERIC_NS = ("中山路", "工业路", "泰山路", "朝阳路", "北京路", "上海路", "开发路", "站前街",
               "幸福街", "南环路", "北环路", "东环路", "西环路", "育才路", "体育路", "商业街",
               "公园路", "花园街")
for _c in CITIES:
    ROADS_EW.setdefault(_c.key, _GENERIC_EW)
    ROADS_NS.setdefault(_c.key, _GENERIC_NS)
