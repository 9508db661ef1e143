"""Record helpers shared by the preprocessing steps, the regressions, the scaler and the chain.

A step reads a record's cadence, components, valid samples and time stamps with these
functions, and builds its output with :func:`replace_samples`, which keeps flags and values
consistent: a sample whose flag is not :data:`~geoanom.record.FLAG_VALID` holds NaN, and a
NaN produced by a step is flagged :data:`~geoanom.record.FLAG_MISSING`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.errors import ValidationError
from geoanom.record import FLAG_MISSING, FLAG_VALID, append_history, component_names


def sampling_period_s(ds: xr.Dataset) -> float:
    """The record's ``sampling_period_s`` attr in seconds; ValidationError unless positive."""
    p = float(ds.attrs.get("sampling_period_s", np.nan))
    if not np.isfinite(p) or p <= 0:
        raise ValidationError("record has no usable sampling_period_s attr",
                              expected="a positive number of seconds", found=str(p))
    return p


def select_components(ds: xr.Dataset, components) -> list[str]:
    """The components named (one name or several), or all of the record's for ``None``.

    A name the record lacks raises ValidationError.
    """
    comps = component_names(ds)
    if components is None:
        return comps
    wanted = [components] if isinstance(components, str) else list(components)
    missing = [c for c in wanted if c not in comps]
    if missing:
        raise ValidationError("record lacks components", expected=", ".join(wanted),
                              found="components " + ", ".join(comps))
    return wanted


def replace_samples(ds: xr.Dataset, values: dict[str, np.ndarray],
                    flags: dict[str, np.ndarray], step: str) -> xr.Dataset:
    """A deep copy of ``ds`` with new values/flags, NaN and flags made consistent."""
    out = ds.copy(deep=True)
    for c, v in values.items():
        v = np.asarray(v, dtype=np.float64).copy()
        f = np.asarray(flags[c], dtype=np.int8).copy()
        # a NaN the step produced is a missing sample; a flagged sample holds NaN
        f[(f == FLAG_VALID) & ~np.isfinite(v)] = FLAG_MISSING
        v[f != FLAG_VALID] = np.nan
        out[c] = ds[c].copy(deep=True, data=v)
        out[f"{c}_flag"] = ds[f"{c}_flag"].copy(deep=True, data=f)
    return append_history(out, step)


def valid_mask(ds: xr.Dataset, c: str) -> np.ndarray:
    """True where component ``c`` is flagged valid and finite."""
    return (ds[f"{c}_flag"].values == FLAG_VALID) & np.isfinite(ds[c].values)


def times_ns(ds: xr.Dataset) -> np.ndarray:
    """The record's time stamps as int64 nanoseconds since the Unix epoch."""
    return ds["time"].values.astype("datetime64[ns]").astype(np.int64)


def to_ns(t) -> int:
    """A time (anything :class:`pandas.Timestamp` reads; tz-aware is converted to UTC) as
    int64 nanoseconds since the Unix epoch."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)
