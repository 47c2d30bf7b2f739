"""translations.txt: stop names, route names and trip headsigns by language."""

from __future__ import annotations

import json

import numpy as np

import pandas as pd

from feeds.gtfs.stops import Stops
from feeds.gtfs.values import col


def translations(df: pd.DataFrame | None, st: Stops) -> dict[int, dict[str, str]]:
    """translations.txt rows for stops.stop_name (by record_id, or by field_value)."""
    out: dict[int, dict[str, str]] = {}
    if df is None or "translation" not in df.columns:
        return out
    by_name: dict[str, list[int]] = {}
    for i, n in enumerate(st.name):
        by_name.setdefault(n, []).append(i)
    rows = zip(col(df, "table_name"), col(df, "field_name"), col(df, "language"),
               col(df, "translation"), col(df, "record_id"), col(df, "field_value"))
    for table, fld, lang, text, rec, value in rows:
        if table != "stops" or fld != "stop_name" or not lang or not text:
            continue
        targets = [st.index[rec]] if rec in st.index else by_name.get(value, []) if value else []
        for s in targets:
            out.setdefault(s, {})[lang] = text
    return out


def field_translations(df: pd.DataFrame | None, table: str, fields: tuple[str, ...],
                       ids: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
    """Per row of `table` (ids: its raw ids): a JSON object {field: {lang: text}} of the
    translations.txt rows for those fields (by record_id, or by field_value matching the
    row's value of that field), "" when none. JSON strings keep the network's object
    arrays plain strings (stored and shared like every other name)."""
    out = np.full(len(ids), "", dtype=object)
    if df is None or "translation" not in df.columns or not len(ids):
        return out
    index = {str(x): i for i, x in enumerate(ids)}
    by_value: dict[tuple[str, str], list[int]] = {}
    for f in fields:
        for i, v in enumerate(values[f]):
            if v:
                by_value.setdefault((f, str(v)), []).append(i)
    found: dict[int, dict[str, dict[str, str]]] = {}
    rows = zip(col(df, "table_name"), col(df, "field_name"), col(df, "language"),
               col(df, "translation"), col(df, "record_id"), col(df, "field_value"))
    for tbl, fld, lang, text, rec, value in rows:
        if tbl != table or fld not in fields or not lang or not text:
            continue
        targets = [index[rec]] if rec in index else by_value.get((fld, value), []) if value else []
        for i in targets:
            found.setdefault(i, {}).setdefault(fld, {})[lang] = text
    for i, d in found.items():
        out[i] = json.dumps(d, ensure_ascii=False, sort_keys=True)
    return out
