"""Realism metrics of station records (quiet-day statistics, storm depression), the same on
synthetic and real records.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from geoanom._time import NS_PER_S
from geoanom.errors import ConfigError

# The same statistics are taken of real and synthetic records (tests/test_synthetic_realism.py
# and bench/synthetic_realism.py compare them).


def horizontal_intensity(record: xr.Dataset) -> pd.Series:
    """H in nT: the ``H`` component if the record has one, else ``sqrt(X**2 + Y**2)``."""
    if "H" in record:
        h = record["H"].values
    elif "X" in record and "Y" in record:
        h = np.hypot(record["X"].values, record["Y"].values)
    else:
        raise ConfigError("record has neither H nor X and Y", found=str(list(record.data_vars)))
    return pd.Series(h, index=pd.DatetimeIndex(record["time"].values), name="H")


def to_minutes(h: pd.Series) -> pd.Series:
    """1-minute means of a series of finer cadence (unchanged if already 1-minute)."""
    dt = np.median(np.diff(h.index.values).astype(np.int64)) / NS_PER_S if len(h) > 1 else 60
    return h if dt >= 60 else h.resample("1min").mean()


def _despike(x: np.ndarray, k: float = 8.0) -> np.ndarray:
    """Replace samples further than ``k`` robust std from a 5-sample running median."""
    from scipy.ndimage import median_filter

    y = np.where(np.isnan(x), np.nanmedian(x), x)
    med = median_filter(y, size=5, mode="nearest")
    r = y - med
    s = 1.4826 * np.median(np.abs(r - np.median(r))) + 1e-9
    return np.where(np.abs(r) > k * s, med, y)


def day_metrics(h: pd.Series) -> dict[str, float]:
    """Statistics of one day of 1-minute H (nT).

    Returns ``range_nT`` (max - min), ``diff_iqr_nT`` (inter-quartile range of 1-minute first
    differences), ``slope`` (log-log slope of the Welch PSD between periods of 2 h and 5 min,
    after linear detrending and despiking) and ``valid_fraction``.
    """
    x = h.to_numpy(float)
    ok = np.isfinite(x)
    if ok.sum() < 0.5 * x.size or x.size < 512:
        return {"range_nT": np.nan, "diff_iqr_nT": np.nan, "slope": np.nan,
                "valid_fraction": float(ok.mean()) if x.size else 0.0}
    d = np.diff(x)
    q1, q3 = np.nanpercentile(d, [25, 75])
    y = signal.detrend(_despike(x))
    f, p = signal.welch(y, fs=1.0 / 60.0, nperseg=256)
    m = (f > 1 / 7200.0) & (f < 1 / 300.0)
    slope = float(np.polyfit(np.log10(f[m]), np.log10(p[m]), 1)[0])
    return {"range_nT": float(np.nanmax(x) - np.nanmin(x)), "diff_iqr_nT": float(q3 - q1),
            "slope": slope, "valid_fraction": float(ok.mean())}


def quiet_day_metrics(record: xr.Dataset, n_days: int = 5) -> dict[str, float]:
    """Median :func:`day_metrics` over the ``n_days`` quietest complete UT days of a record.

    "Quietest" is the smallest inter-quartile range of 1-minute first differences of H (the
    same rule for real and synthetic records), among days with >= 90 % valid samples.
    """
    h = to_minutes(horizontal_intensity(record))
    rows = []
    for day, g in h.groupby(h.index.normalize()):
        if len(g) != 1440:
            continue
        m = day_metrics(g)
        if m["valid_fraction"] >= 0.9:
            rows.append({"day": str(day.date()), **m})
    if not rows:
        raise ConfigError("record has no complete day of valid 1-minute data")
    df = pd.DataFrame(rows).sort_values("diff_iqr_nT").head(n_days)
    out = {k: float(df[k].median()) for k in ("range_nT", "diff_iqr_nT", "slope")}
    out["days"] = list(df["day"])
    return out


def storm_depression(h: pd.Series, baseline: tuple[object, object],
                     window: tuple[object, object], smooth_min: int = 60) -> float:
    """Depression of H during a storm, nT: median of H over ``baseline`` (a quiet interval
    before the storm) minus the minimum of the ``smooth_min``-minute running mean of 1-minute
    H over ``window``."""
    m = to_minutes(h)
    base = float(m[pd.Timestamp(baseline[0]):pd.Timestamp(baseline[1])].median())
    run = m.rolling(smooth_min, center=True, min_periods=smooth_min // 2).mean()
    return base - float(run[pd.Timestamp(window[0]):pd.Timestamp(window[1])].min())
