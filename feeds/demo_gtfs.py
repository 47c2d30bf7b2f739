"""Shared pieces of the demo generator: a GTFS feed being built, names in three scripts."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from pypinyin import lazy_pinyin

_SUFFIX_EN = (("大街", "Ave"), ("大道", "Blvd"), ("路", "Rd"), ("街", "St"))
PINYIN_LANG = "zh-Latn-pinyin"   # BCP 47: Chinese in Latin script, Hanyu Pinyin
_TIMES: list[str] = []


def time_table() -> list[str]:
    """"HH:MM:SS" of every second of two days (index = seconds)."""
    if not _TIMES:
        _TIMES.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(48 * 3600))
    return _TIMES


def hhmmss(t: int) -> str:
    table = time_table()
    return table[t] if 0 <= t < len(table) else f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


@lru_cache(maxsize=None)
def pinyin(zh: str) -> str:
    """'济南西站' -> 'Jinan Xi Zhan' style: words of the name, capitalised, no tones."""
    return " ".join(p.capitalize() for p in lazy_pinyin(zh))


@lru_cache(maxsize=None)
def road_en(road: str) -> str:
    """'经十路' -> 'Jingshi Rd', '北园大街' -> 'Beiyuan Ave'."""
    for zh, en in _SUFFIX_EN:
        if road.endswith(zh) and len(road) > len(zh):
            return "".join(lazy_pinyin(road[: -len(zh)])).capitalize() + " " + en
    return "".join(lazy_pinyin(road)).capitalize()


@dataclass
class Feed:
    """Tables of one GTFS feed being generated: file name -> (header, rows)."""

    name: str
    operator: str
    start: date
    days: int
    tables: dict[str, tuple[list[str], list[tuple]]] = field(default_factory=dict)
    chunks: dict[str, list[str]] = field(default_factory=dict)   # preformatted CSV lines

    def add_text(self, file: str, header: list[str], text: str) -> None:
        """Rows already formatted as CSV lines (values that never need quoting)."""
        self.add(file, header)
        self.chunks.setdefault(file, []).append(text)

    def add(self, file: str, header: list[str], rows: list[tuple] | None = None) -> list[tuple]:
        if file not in self.tables:
            self.tables[file] = (header, [])
        target = self.tables[file][1]
        if rows:
            target.extend(rows)
        return target

    def translate_stop(self, stop_id: str, zh: str, en: str) -> None:
        header = ["table_name", "field_name", "language", "translation", "record_id"]
        self.add("translations.txt", header, [("stops", "stop_name", "en", en, stop_id),
                                              ("stops", "stop_name", PINYIN_LANG, pinyin(zh),
                                               stop_id)])

    def calendar(self, service_id: str, weekdays: str) -> None:
        """A service running on the ISO weekdays in `weekdays` ("12345") over the window."""
        flags = tuple("1" if str(d) in weekdays else "0" for d in range(1, 8))
        end = self.start + timedelta(days=self.days - 1)
        self.add("calendar.txt", ["service_id", "monday", "tuesday", "wednesday", "thursday",
                                  "friday", "saturday", "sunday", "start_date", "end_date"],
                 [(service_id, *flags, self.start.strftime("%Y%m%d"), end.strftime("%Y%m%d"))])

    def feed_info(self, publisher: str, url: str) -> None:
        end = self.start + timedelta(days=self.days - 1)
        self.add("feed_info.txt", ["feed_publisher_name", "feed_publisher_url", "feed_lang",
                                   "feed_start_date", "feed_end_date", "feed_version",
                                   "feed_contact_email"],
                 [(publisher, url, "zh", self.start.strftime("%Y%m%d"), end.strftime("%Y%m%d"),
                   f"demo-{self.start.isoformat()}", f"gtfs@{self.name}.example.cn")])

    def write_zip(self, path: Path) -> Path:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for file, (header, rows) in self.tables.items():
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)
                buf.write("".join(self.chunks.get(file, ())))
                z.writestr(file, buf.getvalue().encode("utf-8"))
        return path
