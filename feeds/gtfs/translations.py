"""translations.txt: stop names by language."""

from __future__ import annotations

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
