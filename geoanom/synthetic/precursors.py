"""Which earthquakes carry a precursor at which station (the truth windows) and the
tapered envelope that switches the precursor on inside them.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geoanom._time import NS_PER_DAY
from geoanom.catalog_frame import dobrovolsky_radius_km
from geoanom.synthetic.common import PrecursorConfig, _as_station


def precursor_windows(
    catalog: pd.DataFrame,
    stations: Sequence[object],
    config: PrecursorConfig,
) -> pd.DataFrame:
    """Which events carry a precursor signature at which station, when, and how strong.

    An event qualifies at a station when ``M >= m_min``, depth <= ``max_depth_km`` (unknown
    depth kept) and its epicentral distance is within the Dobrovolsky radius
    ``10 ** (0.43 M)`` km (or ``config.radius_km``). Its window is
    ``[t - lead_max_days, t - lead_min_days]`` and its RMS amplitude in Z is
    ``strength * a_ref_nT * 10 ** (magnitude_exponent (M - m_min)) * exp(-2 d / R)`` nT.

    Returns
    -------
    pandas.DataFrame
        Columns ``event_id, station, event_time, start, end, magnitude, depth_km,
        distance_km, radius_km, amplitude_nT`` (amplitude 0 when strength is 0: the windows
        are listed, nothing is added); ``attrs`` carry ``horizontal_ratio`` and
        ``taper_days``.
    """
    cols = ["event_id", "station", "event_time", "start", "end", "magnitude", "depth_km",
            "distance_km", "radius_km", "amplitude_nT"]
    rows = []
    from geoanom.labels import seen_by_station, station_distance_km

    radius = "dobrovolsky" if config.radius_km is None else float(config.radius_km)
    for st in map(_as_station, stations):
        # THE seen rule (geoanom.labels): M >= m_min, depth cut, distance <= R(M)
        seen_all = seen_by_station(catalog, st.latitude_deg, st.longitude_deg, radius=radius,
                                   min_magnitude=config.m_min, max_depth_km=config.max_depth_km)
        cat = catalog.loc[seen_all]
        d = station_distance_km(cat, st.latitude_deg, st.longitude_deg)
        m = cat["magnitude"].to_numpy(float)
        r = (np.full(m.shape, float(config.radius_km)) if config.radius_km is not None
             else dobrovolsky_radius_km(m))
        amp = (config.strength * config.a_ref_nT
               * 10.0 ** (config.magnitude_exponent * (m - config.m_min)) * np.exp(-2.0 * d / r))
        t = cat["time"].to_numpy()
        for i in range(m.size):
            rows.append((cat["event_id"].iloc[i], st.code, t[i],
                         t[i] - np.timedelta64(int(config.lead_max_days * NS_PER_DAY), "ns"),
                         t[i] - np.timedelta64(int(config.lead_min_days * NS_PER_DAY), "ns"),
                         float(m[i]), float(cat["depth_km"].iloc[i]), float(d[i]), float(r[i]),
                         float(amp[i])))
    df = pd.DataFrame(rows, columns=cols)
    for c in ("event_time", "start", "end"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    df = df.sort_values(["event_time", "station"], kind="mergesort").reset_index(drop=True)
    df.attrs = {"horizontal_ratio": config.horizontal_ratio, "taper_days": config.taper_days}
    return df


def precursor_envelope(times_ns: np.ndarray, windows: pd.DataFrame, taper_days: float
                       ) -> np.ndarray:
    """RMS amplitude envelope of the precursors of ``windows`` at ``times_ns`` (int64 ns).

    ``windows`` has the columns ``start``, ``end`` and ``amplitude_nT`` of
    :func:`precursor_windows`; each window ramps up and down with a raised cosine of
    ``taper_days`` (at most half the window), and overlapping windows add in power.
    """
    ti = np.asarray(times_ns, np.int64)
    power = np.zeros(ti.shape)
    taper = taper_days * NS_PER_DAY
    for s, e, a in zip(windows["start"].values.astype(np.int64),
                       windows["end"].values.astype(np.int64),
                       windows["amplitude_nT"].to_numpy(float), strict=True):
        i0, i1 = np.searchsorted(ti, [s, e], side="left")
        if i1 <= i0:
            continue
        x = ti[i0:i1]
        tp = min(taper, (e - s) / 2.0)
        w = np.ones(x.shape)
        if tp > 0:
            w = np.minimum(w, 0.5 * (1 - np.cos(np.pi * np.clip((x - s) / tp, 0, 1))))
            w = np.minimum(w, 0.5 * (1 - np.cos(np.pi * np.clip((e - x) / tp, 0, 1))))
        power[i0:i1] += (a * w) ** 2
    return np.sqrt(power)
