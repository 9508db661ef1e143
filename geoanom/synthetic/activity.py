"""The activity index of the synthetic world (Kp, ap, Dst-like storms) and the storm
disturbance every station sees.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from geoanom._time import NS_PER_DAY, NS_PER_S
from geoanom.errors import ConfigError
from geoanom.synthetic.common import _child, _to_ns, ap_from_kp, kp_from_ap


def activity_index(
    start: object,
    days: float,
    rng: np.random.Generator,
    *,
    storm_rate_per_day: float = 1.0 / 12.0,
    recurrence_days: float = 27.0,
    recurrence_persistence: float = 0.75,
    quiet_kp: float = 1.3,
    storm_size_exponent: float = 1.7,
    max_dst_nT: float = 650.0,
) -> xr.Dataset:
    """A Kp-like 3-hourly activity index with its storm table.

    Parameters
    ----------
    start
        First 3-hour interval (UTC; floored to a multiple of 3 h).
    days
        Length in days.
    rng
        Source of randomness.
    storm_rate_per_day
        Rate of CME-driven storms (|Dst_min| >= 50 nT), per day.
    recurrence_days
        Solar rotation period of the recurrent (high-speed-stream, CIR) activity, days.
    recurrence_persistence
        Probability that a recurrent stream produces activity at a given rotation.
    quiet_kp
        Mean Kp of the quiet background.
    storm_size_exponent
        Power-law index of the CME storm size: ``P(|Dst_min| > x) = (x / 50 nT) ** -k``.
    max_dst_nT
        Cap on storm size, nT.

    Returns
    -------
    xarray.Dataset
        ``kp`` (dim ``time``, 3-hourly interval starts, values in thirds 0..9), ``dst_nT``
        (the shared Dst-like disturbance at the interval centre, nT), and the storm table
        (dim ``storm``: ``storm_onset``, ``storm_kind`` "cme"/"cir", ``sc_nT``, ``dst_min_nT``,
        ``initial_h``, ``main_h``, ``tau1_h``, ``tau2_h``, ``frac_fast``, ``kp_peak``,
        ``kp_tau_h``). ``attrs["external_seed"]`` seeds the shared random parts of the
        external field (irregular variations, pulsations, Sq day-to-day variability) so that
        all stations see the same ones.
    """
    if days <= 0:
        raise ConfigError("activity_index needs a positive number of days", found=str(days))
    t0 = _to_ns(start)
    t0 = t0 - (t0.astype(np.int64) % (3 * 3600 * NS_PER_S)).astype("timedelta64[ns]")
    n = int(math.ceil(days * 8))
    times = t0 + np.arange(n, dtype=np.int64) * np.timedelta64(3 * 3600 * NS_PER_S, "ns")
    r_quiet, r_cme, r_cir, r_ext = _child(rng, 4)

    # Quiet background: an AR(1) around quiet_kp (3-hourly persistence about 0.85).
    e = r_quiet.standard_normal(n + 64)
    q = signal.lfilter([0.55], [1.0, -0.85], e)[64:] + quiet_kp

    storms = []
    burn = 10.0  # days: storms that started before `start` still shape its first days
    span = days + burn
    # CME storms: Poisson onsets, power-law sizes.
    n_cme = int(r_cme.poisson(storm_rate_per_day * span))
    onset = r_cme.uniform(-burn, days, n_cme)
    size = np.minimum(50.0 * (1.0 - r_cme.random(n_cme)) ** (-1.0 / storm_size_exponent),
                      max_dst_nT)
    sc = np.maximum(10.0 + 0.06 * size + r_cme.normal(0.0, 5.0, n_cme), 3.0)
    init_h = r_cme.uniform(1.0, 8.0, n_cme)
    main_h = r_cme.uniform(4.0, 14.0, n_cme)
    tau1 = r_cme.uniform(6.0, 14.0, n_cme)
    tau2 = r_cme.uniform(40.0, 90.0, n_cme)
    frac = r_cme.uniform(0.6, 0.8, n_cme)
    kpk = np.clip(5.0 + 4.2 * np.log10(size / 50.0) + r_cme.normal(0.0, 0.3, n_cme), 4.0, 9.0)
    for i in range(n_cme):
        storms.append(("cme", onset[i], sc[i], -size[i], init_h[i], main_h[i], tau1[i],
                       tau2[i], frac[i], kpk[i], 12.0))
    # Recurrent activity: 1-2 streams at fixed solar-rotation phases.
    n_streams = 1 + int(r_cir.integers(0, 2))
    phases = r_cir.uniform(0.0, recurrence_days, n_streams)
    strength = r_cir.uniform(0.6, 1.2, n_streams)
    n_rot = int(math.ceil(span / recurrence_days)) + 1
    for j in range(n_rot):
        for s in range(n_streams):
            active = r_cir.random() < recurrence_persistence
            jitter = r_cir.normal(0.0, 0.7)
            amp = strength[s] * (0.5 + r_cir.random())
            t_on = -burn + phases[s] + j * recurrence_days + jitter
            if not active or t_on >= days:
                continue
            dmin = -(15.0 + 35.0 * amp)
            kp_peak = float(np.clip(2.8 + 1.3 * amp, 2.5, 5.5))
            storms.append(("cir", t_on, 0.0, dmin, 0.0, r_cir.uniform(6.0, 18.0), 20.0,
                           r_cir.uniform(50.0, 80.0), 0.5, kp_peak, r_cir.uniform(24.0, 40.0)))
    storms.sort(key=lambda s: s[1])
    kind = np.array([s[0] for s in storms], dtype=object)
    cols = np.array([s[1:] for s in storms], dtype=float).reshape(-1, 10)
    onset_ns = t0 + np.round(cols[:, 0] * NS_PER_DAY).astype(np.int64).astype("timedelta64[ns]")

    ds = xr.Dataset(
        {
            "storm_onset": ("storm", onset_ns),
            "storm_kind": ("storm", kind.astype(str)),
            "sc_nT": ("storm", cols[:, 1]),
            "dst_min_nT": ("storm", cols[:, 2]),
            "initial_h": ("storm", cols[:, 3]),
            "main_h": ("storm", cols[:, 4]),
            "tau1_h": ("storm", cols[:, 5]),
            "tau2_h": ("storm", cols[:, 6]),
            "frac_fast": ("storm", cols[:, 7]),
            "kp_peak": ("storm", cols[:, 8]),
            "kp_tau_h": ("storm", cols[:, 9]),
        },
        coords={"time": ("time", times)},
    )
    ds["kp_quiet"] = ("time", np.clip(q, 0.0, 9.0),
                      {"long_name": "quiet background of the activity (continuous Kp)"})
    _finish_activity(ds)
    ds.attrs = {
        "description": "geoanom synthetic activity index",
        "external_seed": int(r_ext.integers(0, 2**62)),
        "start": str(times[0]),
        "days": float(days),
        "storm_rate_per_day": float(storm_rate_per_day),
        "recurrence_days": float(recurrence_days),
        "quiet_kp": float(quiet_kp),
    }
    return ds


def _finish_activity(ds: xr.Dataset) -> None:
    """(Re)compute ``kp`` and ``dst_nT`` from ``kp_quiet`` and the storm table, in place."""
    centre = ds["time"].values + np.timedelta64(90 * 60 * NS_PER_S, "ns")
    ap = ap_from_kp(ds["kp_quiet"].values) + ap_from_kp(_storm_kp(centre, ds))
    kp = np.round(np.clip(kp_from_ap(ap), 0.0, 9.0) * 3.0) / 3.0
    ds["kp"] = ("time", kp, {"long_name": "synthetic planetary K index (3-hourly)",
                             "units": "1"})
    ds["dst_nT"] = ("time", storm_disturbance(centre, ds),
                    {"long_name": "synthetic Dst-like disturbance at the interval centre",
                     "units": "nT"})


def with_storm(
    activity: xr.Dataset,
    onset: object,
    dst_min_nT: float,
    *,
    sc_nT: float | None = None,
    initial_h: float = 3.0,
    main_h: float = 8.0,
    tau1_h: float = 10.0,
    tau2_h: float = 60.0,
    frac_fast: float = 0.7,
    kp_peak: float | None = None,
) -> xr.Dataset:
    """A copy of ``activity`` with one more (CME) storm of known size at ``onset`` (UTC).

    ``dst_min_nT`` is the (negative) Dst-like minimum in nT; ``sc_nT`` defaults to
    ``10 + 0.06 |dst_min|``, ``kp_peak`` to ``5 + 4.2 log10(|dst_min| / 50)`` (at most 9).
    Kp and Dst of the copy are recomputed; the external seed is kept, so records built on
    the copy differ from those on the original only by the storm and its activity.
    """
    size = abs(float(dst_min_nT))
    row = {
        "storm_onset": _to_ns(onset), "storm_kind": "cme",
        "sc_nT": 10.0 + 0.06 * size if sc_nT is None else float(sc_nT),
        "dst_min_nT": -size, "initial_h": float(initial_h), "main_h": float(main_h),
        "tau1_h": float(tau1_h), "tau2_h": float(tau2_h), "frac_fast": float(frac_fast),
        "kp_peak": float(min(9.0, 5.0 + 4.2 * math.log10(max(size, 1.0) / 50.0)))
        if kp_peak is None else float(kp_peak),
        "kp_tau_h": 12.0,
    }
    storm_vars = [v for v in activity.data_vars if activity[v].dims == ("storm",)]
    table = activity[storm_vars].to_dataframe().reset_index(drop=True)
    table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    table = table.sort_values("storm_onset", kind="mergesort").reset_index(drop=True)
    out = activity.drop_vars(storm_vars).drop_dims("storm", errors="ignore").copy()
    for v in storm_vars:
        vals = table[v].to_numpy()
        if v == "storm_onset":
            vals = vals.astype("datetime64[ns]")
        elif v == "storm_kind":
            vals = vals.astype(str)
        else:
            vals = vals.astype(float)
        out[v] = ("storm", vals)
    out.attrs = dict(activity.attrs)
    _finish_activity(out)
    return out


def _storm_kp(t: np.ndarray, act: xr.Dataset) -> np.ndarray:
    """Sum over storms of their Kp contribution (in ap units, returned as Kp of the sum)."""
    ti = np.asarray(t).astype("datetime64[ns]").astype(np.int64)
    ap = np.zeros(ti.shape)
    onset = act["storm_onset"].values.astype(np.int64)
    for k in range(onset.size):
        h = (ti - onset[k]) / 3.6e12
        t2 = float(act["initial_h"][k] + act["main_h"][k])
        decay = np.exp(-np.maximum(h - t2, 0.0) / float(act["kp_tau_h"][k]))
        env = np.where(h < 0, 0.0, np.where(h <= t2, np.clip(h / 1.5, 0, 1), decay))
        ap += ap_from_kp(float(act["kp_peak"][k])) * env
    return kp_from_ap(ap)


def storm_disturbance(t: np.ndarray, activity: xr.Dataset, lag_s: float = 0.0) -> np.ndarray:
    """The shared Dst-like disturbance (nT) at times ``t`` (minus ``lag_s`` seconds).

    Sum over the storm table: SC step (rise time 2 min) held through the initial phase and
    decaying over 1 h; a cosine-shaped main phase to ``dst_min_nT``; recovery
    ``frac_fast * exp(-dt / tau1) + (1 - frac_fast) * exp(-dt / tau2)``.
    """
    ti = np.asarray(t).astype("datetime64[ns]").astype(np.int64) - int(round(lag_s * NS_PER_S))
    out = np.zeros(ti.shape)
    onset = activity["storm_onset"].values.astype(np.int64)
    for k in range(onset.size):
        tau2 = float(activity["tau2_h"][k])
        init, main = float(activity["initial_h"][k]), float(activity["main_h"][k])
        # 10 recovery times: what is left is below 0.05 % of the minimum.
        end = onset[k] + int((init + main + 10 * tau2) * 3.6e12)
        i0, i1 = np.searchsorted(ti, [onset[k] - 600 * NS_PER_S, end])
        if i1 <= i0:
            continue
        h = (ti[i0:i1] - onset[k]) / 3.6e12
        sc = float(activity["sc_nT"][k])
        pos = np.zeros(h.shape)
        if sc > 0:  # the SC step lives until 12 h after the initial phase (e**-12 left)
            j = int(np.searchsorted(h, init + 12.0))
            hh = h[:j]
            rise = 0.5 * (1.0 + np.tanh(hh / (2.0 / 60.0)))
            pos[:j] = sc * rise * np.where(hh <= init, 1.0, np.exp(-np.maximum(hh - init, 0)))
        x = np.clip((h - init) / main, 0.0, 1.0)
        grow = 0.5 * (1.0 - np.cos(np.pi * x))
        after = np.maximum(h - init - main, 0.0)
        f = float(activity["frac_fast"][k])
        rec = f * np.exp(-after / float(activity["tau1_h"][k])) + (1 - f) * np.exp(-after / tau2)
        out[i0:i1] += pos + float(activity["dst_min_nT"][k]) * grow * rec
    return out
