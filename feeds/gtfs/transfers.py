"""transfers.txt: stop-to-stop transfer rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.gtfs.values import col, to_int


def transfers(df: pd.DataFrame | None, stop_index: dict[str, int]):
    """Stop-to-stop rows of transfers.txt; rows naming a trip or route are dropped."""
    frm = np.array([stop_index.get(s, -1) for s in col(df, "from_stop_id")], dtype=np.int32)
    to = np.array([stop_index.get(s, -1) for s in col(df, "to_stop_id")], dtype=np.int32)
    ok = (frm >= 0) & (to >= 0)
    for c in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        ok &= col(df, c) == ""
    kind = np.array([to_int(s, 0) if s else 0 for s in col(df, "transfer_type")], dtype=np.int64)
    ok &= (kind >= 0) & (kind <= 3)
    mins = np.array([to_int(s, -1) if s else -1 for s in col(df, "min_transfer_time")],
                    dtype=np.int32)
    return frm[ok], to[ok], kind[ok].astype(np.int8), mins[ok]
