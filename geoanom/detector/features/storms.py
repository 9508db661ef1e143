"""Storm screening of nights with the activity indices (ap, Dst).

A night is a storm night when the largest ap over it exceeds a threshold (``storm_ap``) or
the lowest Dst over it falls below one (``storm_dst``). Each index value covers its interval
(:func:`geoanom.io.indices.align_index`); a night the index does not cover has NaN and
flag 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom._time import NS_PER_S
from geoanom.detector.preprocess import as_activity_index
from geoanom.errors import ValidationError
from geoanom.io.indices import align_index

__all__ = ["storm_flags"]

_FLAG_ATTRS = {"flag_values": np.array([0, 1], np.int8), "flag_meanings": "quiet storm"}


def _index_with(activity, names: tuple[str, ...]):
    """``(variable, index)`` of the first activity item with a variable named in ``names``
    (case-insensitive), as :func:`geoanom.io.indices.align_index` takes it; else None."""
    items = activity if isinstance(activity, (list, tuple)) else [activity]
    for item in items:
        cols = item.columns if isinstance(item, pd.DataFrame) else list(item.data_vars)
        for c in cols:
            if str(c).lower() in names:
                var, idx = as_activity_index(item, str(c))
                if "cadence_s" not in idx.attrs:
                    step = np.diff(idx["time"].values.astype("datetime64[ns]").astype(np.int64))
                    idx = idx.copy()
                    idx.attrs["cadence_s"] = float(np.median(step)) / NS_PER_S
                return var, idx
    return None


def storm_flags(activity, start: np.ndarray, end: np.ndarray, *, ap_max: float,
                dst_min_nT: float) -> dict[str, tuple[np.ndarray, dict]]:
    """Storm flags of the nights ``[start, end)`` (UTC ``datetime64``).

    Parameters
    ----------
    activity
        A :func:`geoanom.io.indices.read_index` dataset, a DataFrame with a ``time`` column
        and ``ap`` and/or ``dst``/``dst_nT`` columns, or a sequence of those.
    ap_max, dst_min_nT
        Thresholds: ``storm_ap = ap over the night > ap_max``, ``storm_dst = Dst < dst_min_nT``.

    Returns
    -------
    dict
        Name to ``(values, attrs)``: ``ap_max`` and ``storm_ap`` (int8) where the indices
        hold ap, ``dst_min_nT`` and ``storm_dst`` where they hold Dst.
    """
    out = {}
    ap = _index_with(activity, ("ap",))
    dst = _index_with(activity, ("dst", "dst_nt"))
    if ap is None and dst is None:
        raise ValidationError("the activity indices hold neither ap nor Dst",
                              expected="a variable or column ap, dst or Dst_nT")
    if ap is not None:
        v = align_index(ap[1], start, end, how="max", variable=ap[0])
        out["ap_max"] = (v, {"long_name": "largest ap over the night", "units": "2 nT"})
        out["storm_ap"] = ((v > ap_max).astype(np.int8),
                           dict(_FLAG_ATTRS, comment=f"ap_max > {ap_max:g}"))
    if dst is not None:
        var, idx = dst
        neg = idx.assign(_neg=-idx[var])
        v = -align_index(neg, start, end, how="max", variable="_neg")
        out["dst_min_nT"] = (v, {"long_name": "lowest Dst over the night", "units": "nT"})
        out["storm_dst"] = ((v < dst_min_nT).astype(np.int8),
                            dict(_FLAG_ATTRS, comment=f"dst_min_nT < {dst_min_nT:g}"))
    return out
