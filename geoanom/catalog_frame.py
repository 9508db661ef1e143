"""The catalog frame: a validated ``pandas.DataFrame`` of earthquakes, and helpers on it.

Contract (DESIGN.md): columns ``time`` (UTC, tz-naive ``datetime64[ns]``), ``latitude_deg``,
``longitude_deg`` (-180..180), ``depth_km`` (float, NaN if unknown), ``magnitude`` (float),
``magnitude_type`` (str, "" if unknown), ``event_id`` (str, unique); sorted by time, index
0..n-1. ``df.attrs`` carries ``source`` (file or service) and ``query`` (what was selected).
Readers live in :mod:`geoanom.io.catalog`; this module holds the contract and pure helpers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.errors import ValidationError

CATALOG_COLUMNS = (
    "time", "latitude_deg", "longitude_deg", "depth_km", "magnitude", "magnitude_type",
    "event_id",
)

EARTH_RADIUS_KM = 6371.0088


def make_catalog(
    time,
    latitude_deg,
    longitude_deg,
    magnitude,
    *,
    depth_km=None,
    magnitude_type=None,
    event_id=None,
    source: str = "unknown",
    query: str = "",
) -> pd.DataFrame:
    """Build a validated catalog frame from columns (times must already be UTC)."""
    t = (pd.to_datetime(np.asarray(time)).as_unit("ns") if not isinstance(time, pd.Series)
        else pd.to_datetime(time))
    n = len(t)
    df = pd.DataFrame({
        "time": np.asarray(t, dtype="datetime64[ns]"),
        "latitude_deg": np.asarray(latitude_deg, dtype=float),
        "longitude_deg": np.asarray(longitude_deg, dtype=float),
        "depth_km": np.full(n, np.nan) if depth_km is None else np.asarray(depth_km, float),
        "magnitude": np.asarray(magnitude, dtype=float),
        "magnitude_type": [""] * n if magnitude_type is None
        else [("" if (m is None or (isinstance(m, float) and np.isnan(m))) else str(m))
              for m in magnitude_type],
        "event_id": [f"ev{i:06d}" for i in range(n)] if event_id is None
        else [str(e) for e in event_id],
    })
    df = df.sort_values("time", kind="mergesort").reset_index(drop=True)
    df.attrs = {"source": source, "query": query}
    return validate_catalog(df)


def validate_catalog(df: pd.DataFrame) -> pd.DataFrame:
    """Check ``df`` against the catalog contract; return it or raise ValidationError."""
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("a catalog must be a pandas.DataFrame", found=type(df).__name__)
    missing = [c for c in CATALOG_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError("catalog lacks columns", expected=", ".join(CATALOG_COLUMNS),
                              found="missing " + ", ".join(missing))
    if df["time"].dtype != np.dtype("datetime64[ns]"):
        raise ValidationError("catalog time must be tz-naive UTC datetime64[ns]",
                              found=str(df["time"].dtype))
    if df["time"].isna().any():
        raise ValidationError("catalog has events without a time")
    if len(df) > 1 and not df["time"].is_monotonic_increasing:
        raise ValidationError("catalog must be sorted by time")
    lat = df["latitude_deg"].to_numpy(float)
    lon = df["longitude_deg"].to_numpy(float)
    if np.any(~np.isfinite(lat)) or np.any(np.abs(lat) > 90):
        raise ValidationError("catalog latitude out of range", expected="-90..90 degrees")
    if np.any(~np.isfinite(lon)) or np.any(lon < -180) or np.any(lon > 180):
        raise ValidationError("catalog longitude out of range", expected="-180..180 degrees")
    if df["magnitude"].isna().any():
        raise ValidationError("catalog has events without a magnitude")
    if df["event_id"].duplicated().any():
        dup = df.loc[df["event_id"].duplicated(), "event_id"].iloc[0]
        raise ValidationError("catalog event_id must be unique", found=str(dup))
    return df


def great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km (haversine on a sphere of radius 6371.0088 km).

    Arguments are degrees and broadcast against each other.
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def dobrovolsky_radius_km(magnitude) -> np.ndarray:
    """Earthquake preparation radius R = 10 ** (0.43 M) km (Dobrovolsky et al. 1979)."""
    return 10.0 ** (0.43 * np.asarray(magnitude, dtype=float))


def select(
    df: pd.DataFrame,
    *,
    start=None,
    end=None,
    min_magnitude: float | None = None,
    max_depth_km: float | None = None,
    box: tuple[float, float, float, float] | None = None,
) -> pd.DataFrame:
    """Events with ``start <= time < end``, ``magnitude >= min_magnitude``, depth at most
    ``max_depth_km`` (unknown depth kept), inside ``box = (lat_min, lat_max, lon_min, lon_max)``
    (a box with ``lon_min > lon_max`` crosses the antimeridian)."""
    m = np.ones(len(df), dtype=bool)
    if start is not None:
        m &= df["time"].to_numpy() >= np.datetime64(pd.Timestamp(start).tz_localize(None))
    if end is not None:
        m &= df["time"].to_numpy() < np.datetime64(pd.Timestamp(end).tz_localize(None))
    if min_magnitude is not None:
        m &= df["magnitude"].to_numpy() >= min_magnitude
    if max_depth_km is not None:
        d = df["depth_km"].to_numpy(float)
        m &= ~(d > max_depth_km)
    if box is not None:
        la0, la1, lo0, lo1 = box
        lat = df["latitude_deg"].to_numpy()
        lon = df["longitude_deg"].to_numpy()
        m &= (lat >= la0) & (lat <= la1)
        m &= ((lon >= lo0) & (lon <= lo1)) if lo0 <= lo1 else ((lon >= lo0) | (lon <= lo1))
    out = df.loc[m].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    q = [f"start={start}" if start is not None else "", f"end={end}" if end is not None else "",
         f"M>={min_magnitude}" if min_magnitude is not None else "",
         f"depth<={max_depth_km}" if max_depth_km is not None else "",
         f"box={box}" if box is not None else ""]
    prev = out.attrs.get("query", "")
    out.attrs["query"] = "; ".join([s for s in [prev, *q] if s])
    return out
