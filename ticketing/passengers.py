"""Passengers of a booking: categories, identity documents, validation and masking.

Pure: no I/O. Validation errors name the offending field as it appears in the request
(`passengers[1].id_number`) so the HTTP layer can answer 422 with it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from ticketing.errors import CategoryMismatch, InvalidPassenger, UnknownCategory

__all__ = [
    "CATEGORIES",
    "ID_TYPES",
    "Passenger",
    "validate_passenger",
    "AgeRules",
    "prc_birth_date",
    "age_on",
    "check_category",
    "prc_id_check_digit",
    "normalise_id",
    "mask_name",
    "mask_id",
]

# Fare categories; every non-adult one is a concession with a configurable discount.
CATEGORIES = ("adult", "child", "senior", "disabled")

# Document types accepted for an ID number.
ID_TYPES = ("prc_id", "passport", "hk_macao_permit", "taiwan_permit")

# GB 11643-1999: weights of the 17 body digits, ISO 7064 MOD 11-2 (2^(17-i) mod 11).
_PRC_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_PRC_CHECK = "10X98765432"  # check character for (weighted sum mod 11) = 0..10
# First two digits of the administrative division code (provinces, HK, Macao, Taiwan).
_PRC_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)
_PRC_ID = re.compile(r"\d{17}[\dX]")
# ICAO 9303 document number: up to 9 letters/digits; we require 5..9 with a digit.
_PASSPORT = re.compile(r"(?=.*\d)[A-Z0-9]{5,9}")
_HK_MACAO = re.compile(r"[HM]\d{8}(\d{2})?")  # 港澳居民来往内地通行证
_TAIWAN = re.compile(r"\d{8}")                 # 台湾居民来往大陆通行证
_MAX_NAME = 64


@dataclass(frozen=True)
class Passenger:
    name: str        # normalised (NFC, surrounding spaces trimmed, inner runs collapsed)
    id_number: str   # normalised (upper case, no spaces)
    category: str    # one of CATEGORIES
    id_type: str     # one of ID_TYPES


def prc_id_check_digit(body17: str) -> str:
    """The 18th character of a PRC resident ID for its first 17 digits."""
    total = sum(int(c) * w for c, w in zip(body17, _PRC_WEIGHTS, strict=True))
    return _PRC_CHECK[total % 11]


def _check_prc_id(value: str, field: str, today: date | None) -> None:
    if not _PRC_ID.fullmatch(value):
        raise InvalidPassenger("a PRC resident ID is 17 digits and a digit or X", field=field)
    if value[:2] not in _PRC_PROVINCES:
        raise InvalidPassenger("unknown region code in the PRC resident ID", field=field)
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidPassenger("invalid birth date in the PRC resident ID", field=field) from None
    if born.year < 1880 or (today is not None and born > today):
        raise InvalidPassenger("invalid birth date in the PRC resident ID", field=field)
    if prc_id_check_digit(value[:17]) != value[17]:
        raise InvalidPassenger("wrong check digit in the PRC resident ID", field=field)


def _check_id(value: str, id_type: str, field: str, today: date | None) -> None:
    if id_type == "prc_id":
        _check_prc_id(value, field, today)
    elif id_type == "passport":
        if not _PASSPORT.fullmatch(value):
            raise InvalidPassenger("a passport number is 5-9 letters/digits", field=field)
    elif id_type == "hk_macao_permit":
        if not _HK_MACAO.fullmatch(value):
            raise InvalidPassenger("an HK/Macao permit number is H or M and 8 or 10 digits",
                                   field=field)
    elif not _TAIWAN.fullmatch(value):
        raise InvalidPassenger("a Taiwan permit number is 8 digits", field=field)


def normalise_id(id_type: str, id_number: str, today: date | None = None,
                 field: str = "id_number") -> str:
    """The ID number as stored and indexed (upper case, no spaces), after the checks of its
    type; InvalidPassenger (naming `field`, never the number) if it fails them."""
    if id_type not in ID_TYPES:
        raise InvalidPassenger(f"id_type must be one of {', '.join(ID_TYPES)}", field="id_type")
    number = "".join(id_number.split()).upper()
    _check_id(number, id_type, field, today)
    return number


def _normalise_name(name: str, field: str) -> str:
    name = " ".join(unicodedata.normalize("NFC", name).split())
    if not name:
        raise InvalidPassenger("name must not be empty", field=field)
    if len(name) > _MAX_NAME:
        raise InvalidPassenger(f"name is longer than {_MAX_NAME} characters", field=field)
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidPassenger("name contains control characters", field=field)
    return name


def validate_passenger(
    index: int,
    name: str,
    id_number: str,
    category: str = "adult",
    id_type: str = "prc_id",
    today: date | None = None,
) -> Passenger:
    """Validate and normalise passenger `index` of a request; raise InvalidPassenger."""
    prefix = f"passengers[{index}]"
    clean_name = _normalise_name(name, f"{prefix}.name")
    if category not in CATEGORIES:
        raise UnknownCategory(f"category must be one of {', '.join(CATEGORIES)}",
                              field=f"{prefix}.category")
    if id_type not in ID_TYPES:
        raise InvalidPassenger(f"id_type must be one of {', '.join(ID_TYPES)}",
                               field=f"{prefix}.id_type")
    number = normalise_id(id_type, id_number, today, f"{prefix}.id_number")
    return Passenger(clean_name, number, category, id_type)


def mask_name(name: str) -> str:
    """Keep the first character of each word: "张三丰" -> "张**", "Li Wei" -> "L* W**"."""
    return " ".join(w[0] + "*" * (len(w) - 1) for w in name.split())


def mask_id(id_number: str) -> str:
    """Keep the first 3 and last 2 characters (never the birth date of a PRC ID)."""
    if len(id_number) <= 5:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 5) + id_number[-2:]


@dataclass(frozen=True)
class AgeRules:
    """Which ages a category needs, checked where the ID number carries the birth date.

    Defaults: China Railway's child ticket is for passengers under 14 on the day of travel
    (铁路旅客运输规程, since 2023; before, by height), and the usual senior concession
    in China starts at 60 (老年人权益保障法 defines the elderly as 60+).
    """
    child_under: int = 14   # a child is younger than this on the day of travel
    senior_from: int = 60   # a senior is at least this old on the day of travel


def prc_birth_date(id_number: str) -> date | None:
    """The birth date in an (already validated) 18-character PRC resident ID, else None."""
    if len(id_number) != 18 or not id_number[:14].isdigit():
        return None
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def age_on(born: date, day: date) -> int:
    """Whole years of age on `day` (a 29 February birthday counts on 1 March)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_category(index: int, p: Passenger, travel_day: date, rules: AgeRules) -> None:
    """CategoryMismatch (naming `passengers[index]`) when a PRC resident ID's birth date says
    the passenger is too old for `child` or too young for `senior` on `travel_day`.

    Not checked: other document types (their numbers carry no birth date), `disabled` (the
    certificate is checked at the gate), and `adult` (a child or senior may pay full fare).
    """
    if p.id_type != "prc_id" or p.category not in ("child", "senior"):
        return
    born = prc_birth_date(p.id_number)
    if born is None:
        return
    age = age_on(born, travel_day)
    if p.category == "child" and age >= rules.child_under:
        raise CategoryMismatch(
            f"passenger {index} is {age} on the day of travel by the ID number; a child is "
            f"under {rules.child_under}", field=f"passengers[{index}].category", passenger=index)
    if p.category == "senior" and age < rules.senior_from:
        raise CategoryMismatch(
            f"passenger {index} is {age} on the day of travel by the ID number; a senior is "
            f"{rules.senior_from} or older", field=f"passengers[{index}].category",
            passenger=index)
