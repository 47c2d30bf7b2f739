"""Frozen dataclasses made without their `__init__`, on the planner's hot paths.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`, and a call with
many keyword arguments costs more in building them than the object itself: a plan makes a
leg and a leg key per ride not seen before, a leg per walk, an itinerary and its key per
journey, a Query and (for options off the plain path) a Search per request. `blank(cls)` is an
instance holding its fields' defaults, in field order, to be filled with
`vars(obj).update(field=value, ...)`; tests check each use against what `cls(...)` makes.
Where a type is made often from mostly the same values (a ride's leg: a dozen fields from its
trip), `fields_of(cls, ...)` is a dict of every field to copy and fill, and `filled(cls, d)` the
instance holding that dict: no keyword call, no defaults copied first (~0.7 against ~2.3 us a
leg).
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, fields
from typing import Any, TypeVar

__all__ = ["blank", "fields_of", "filled"]

_T = TypeVar("_T")


@functools.cache
def _defaults(cls: type) -> dict[str, Any]:
    """Every field of the dataclass `cls`, in order, with its default (None where it has
    none: the caller sets those)."""
    return {f.name: None if f.default is MISSING else f.default for f in fields(cls)}


def blank(cls: type[_T]) -> _T:
    """An instance of the frozen dataclass `cls` holding its fields' defaults (module doc)."""
    obj = object.__new__(cls)
    vars(obj).update(_defaults(cls))
    return obj


def fields_of(cls: type, **values: Any) -> dict[str, Any]:
    """Every field of the dataclass `cls`, in order: `values`, else its default (None where
    it has none: the caller sets those). A template: copy it, set the rest, `filled`."""
    return {**_defaults(cls), **values}


_new = object.__new__
_set = object.__setattr__


def filled(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass `cls` whose attributes are `values` itself (not
    copied): every field, in field order (`fields_of`'s dict, filled)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    return obj
