"""A synthetic world with known truth: station records, an activity index, an ETAS catalog,
and optional precursor signatures before chosen earthquakes.

It is the default input of the demo and the ground truth of the tests and of the
significance calibration (DESIGN.md, "The synthetic world is first class"). Everything is
deterministic from a seed: every function takes an explicit ``numpy.random.Generator`` and
derives the streams it needs from it in a fixed order.

Conventions
-----------
* Components are **X, Y, Z, F** in nT: X geographic north, Y geographic east, Z vertical
  down, F the total intensity of an independent scalar instrument (so F is not exactly
  ``sqrt(X**2 + Y**2 + Z**2)``: it has its own noise and its own gaps). The horizontal
  intensity is ``H = sqrt(X**2 + Y**2)``.
* Times are tz-naive UTC ``datetime64[ns]``; ``cadence_s`` is the sampling period in seconds
  (60 for 1-minute, 1 for 1-second data, anything >= 0.1 s).
* Values are rounded to 0.01 nT, like INTERMAGNET data.

The physics, in one paragraph per part (all amplitudes are parameters of
:class:`StationConfig`, with these defaults):

* **Main field**: a tilted dipole (IGRF-13 2020 geomagnetic pole 80.65 N, 72.68 W,
  ``|g10| = 29404.8 nT``) gives X, Y, Z and the magnetic latitude ``lambda_m``; a site
  (crustal) offset of a few hundred nT and a secular drift of order 10-30 nT/yr are added.
* **Sq**: the solar-quiet daily variation is a function of *local* time (UT + longitude/15),
  season (stronger in local summer) and magnetic latitude (X dips at local noon poleward of
  the Sq current focus near 32 deg and rises equatorward of it; Y swings east in the morning,
  west in the afternoon; Z dips near noon). Day-to-day amplitude, focus latitude and phase
  vary randomly, shared by all stations (they come from the activity index's
  ``external_seed``).
* **Storms**: a shared Dst-like disturbance built from the storm table of the activity index:
  a sudden commencement (SC) step of tens of nT, an initial phase, a main phase descending to
  ``dst_min_nT`` (-50 to -650 nT for CME storms, with a power-law size distribution), and a
  two-time-constant recovery over days. Each station sees ``gain * cos(lambda_m) * Dst`` in X
  (its own gain within +-10 %), small Y and Z parts, and a small lag (seconds).
* **Irregular variations and pulsations** (substorm bays, Pc5 and, at 1-s cadence, Pc3-4):
  shared random series whose amplitude follows activity (``((ap + 3) / 7) ** 0.75`` with ``ap``
  from the interpolated Kp), with a power spectrum close to ``f ** -2.6`` between
  1/(8 h) and 0.05 Hz (flat below), scaled to 150 nT^2/Hz at 1 mHz in X at quiet times (BOU
  and MMB quiet days: about 200). Each station sees them with its own gain (growing with magnetic
  latitude); Z sees a regionally coherent vertical part (0.4 of the X amplitude, site gain
  0.8-1.2) plus a small site-specific induction arrow (|tipper| <= 0.1) on X and Y; each
  component has a small *local* (incoherent) part, 8 % of the shared amplitude. In the ULF
  band (1-7.5 mHz at 1 minute) subtracting a gain-fitted remote station (SYC, 475 km away)
  removes 94-98 % of the variance of X, Y and Z; raw 1-minute differences also carry the Sq
  difference between the sites (local time, latitude), of which a remote reference removes
  little.
* **Instrument noise**: 1/f (pink) noise, independent per component and station; **spikes**
  (single samples of 5-300 nT, about one per day); **gaps** (about one per 15 days, median
  30 minutes, all components, flagged *missing*) and F-only *not observed* blocks.
* **Precursors** (optional): band-limited noise in the ULF band (0.01-0.1 Hz where the cadence
  resolves it, otherwise the top of the band the cadence resolves: 2.1-7.5 mHz at 1 minute),
  mostly in Z (X and Y get ``horizontal_ratio`` = 0.3 of it), switched on in the lead window
  ``[t_event - lead_max_days, t_event - lead_min_days]`` (default 1..30 days before the
  event) with 1-day cosine tapers *inside* the window, for every event with
  ``M >= m_min`` (5.0), depth <= 100 km, within the Dobrovolsky radius of the station. Its RMS
  amplitude in Z is ``strength * a_ref_nT * 10 ** (0.5 * (M - m_min)) * exp(-2 d / R(M))``
  (``a_ref_nT`` = 0.1 nT). Strength 0 is the null world: no sample changes (the records are
  byte-identical to records generated without precursors).

The default world (:func:`make_world`) puts two stations (SYA, SYB) inside a seismic region
box 37.6-40.2 N, 20.4-23.6 E (an active subduction-zone setting, magnetic latitude about 37 deg),
and one remote reference station (SYC) about 430 km to the north-east. The ETAS background
rate (7 M>=3 events per day, branching ratio 0.5) gives about 5,300 M>=3 events and 58 M>=5
events per year (mean of 8 seeds, range 41-89), of which about 52 fall within the Dobrovolsky
radius (141 km at M5) of SYA and about 4 within that of the remote SYC.

Precursor scale: the median hourly RMS of quiet natural Z in the 1-minute ULF band
(2.1-7.5 mHz) is about 0.04 nT at SYA, so strength 1 puts an M5 event at half its
Dobrovolsky radius at about the natural level (power SNR about 1). In the 60-day test world
(seed 4), strength 3 raises the median hourly Z band power inside the windows of amplitude
> 0.15 nT about 200-fold at SYA and SYB.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from geoanom._atomic import atomic_path, atomic_write_text
from geoanom._version import __version__
from geoanom.catalog_frame import dobrovolsky_radius_km, make_catalog
from geoanom.errors import ConfigError
from geoanom.provenance import canonical_json, provenance
from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED, FLAG_VALID, make_record

__all__ = [
    "KP_TABLE", "AP_TABLE", "DEFAULT_REGION", "DEFAULT_STATIONS", "SyntheticStation",
    "StationConfig", "PrecursorConfig", "World", "activity_index", "ap_from_kp", "kp_from_ap",
    "storm_disturbance", "dipole_field", "etas_catalog", "precursor_windows",
    "station_record", "iter_station_record", "make_world", "aki_utsu_b", "with_storm",
    "precursor_envelope",
    "horizontal_intensity", "to_minutes", "day_metrics", "quiet_day_metrics", "storm_depression",
]

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S

#: Official Kp (in thirds: 0o, 0+, 1-, 1o, ..., 9o) to ap conversion table.
KP_TABLE = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                     20, 21, 22, 23, 24, 25, 26, 27], dtype=float) / 3.0
AP_TABLE = np.array([0, 2, 3, 4, 5, 6, 7, 9, 12, 15, 18, 22, 27, 32, 39, 48, 56, 67, 80, 94,
                     111, 132, 154, 179, 207, 236, 300, 400], dtype=float)

#: IGRF-13 (2020) geomagnetic north pole and dipole strength.
POLE_LAT_DEG, POLE_LON_DEG, DIPOLE_B0_NT = 80.65, -72.68, 29404.8

#: Seismic region box of the default world: (lat_min, lat_max, lon_min, lon_max), degrees.
DEFAULT_REGION = (37.6, 40.2, 20.4, 23.6)


@dataclass(frozen=True)
class SyntheticStation:
    """A synthetic station: IAGA-like code, name, geodetic position (deg, m), role.

    ``role`` is ``"near"`` (close to the seismic zone) or ``"remote"`` (a reference station).
    """

    code: str
    name: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float = 0.0
    role: str = "near"


#: Stations of the default world, in the order :func:`make_world` uses them.
DEFAULT_STATIONS = (
    SyntheticStation("SYA", "Synthetic A", 38.90, 21.90, 310.0, "near"),
    SyntheticStation("SYB", "Synthetic B", 38.30, 22.80, 150.0, "near"),
    SyntheticStation("SYC", "Synthetic C (remote reference)", 41.90, 25.90, 520.0, "remote"),
    SyntheticStation("SYD", "Synthetic D", 39.70, 21.20, 640.0, "near"),
    SyntheticStation("SYE", "Synthetic E", 37.90, 21.50, 80.0, "near"),
    SyntheticStation("SYF", "Synthetic F", 40.00, 23.10, 420.0, "near"),
)


@dataclass(frozen=True)
class StationConfig:
    """Amplitudes of the station model (nT unless stated). See the module docstring."""

    sq_x_nT: float = 45.0            # X amplitude scale of Sq at equinox
    sq_y_nT: float = 16.0            # Y swing of Sq
    sq_z_nT: float = 14.0            # Z dip of Sq
    sq_focus_deg: float = 32.0       # mean magnetic latitude of the Sq current focus
    irregular_psd: float = 150.0     # quiet-time PSD of the irregular X variation at 1 mHz,
    #                                  nT^2/Hz (BOU and MMB quiet days: about 200)
    irregular_slope: float = 2.6     # spectral index gamma of the irregular variation (f**-gamma)
    irregular_corner_h: float = 8.0  # period (h) below whose frequency the spectrum flattens
    z_fraction: float = 0.4          # amplitude of the coherent Z variation relative to X
    pc5_nT: float = 0.08             # quiet-time RMS of Pc5 pulsations (1.7-6.7 mHz)
    pc34_nT: float = 0.05            # quiet-time RMS of Pc3-4 pulsations (7-100 mHz, 1-s data)
    local_fraction: float = 0.08     # station-local (incoherent) part of the variations
    instrument_nT: float = 0.03      # RMS of 1/f instrument noise (per component)
    f_noise_nT: float = 0.02         # white noise of the scalar instrument
    spikes_per_day: float = 1.0
    gaps_per_day: float = 1.0 / 15.0
    gap_median_s: float = 1800.0
    f_gaps_per_day: float = 1.0 / 60.0
    resolution_nT: float = 0.01      # rounding of the output values

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PrecursorConfig:
    """Which events carry a precursor, where, when and how strong (see module docstring)."""

    strength: float = 0.0
    m_min: float = 5.0
    max_depth_km: float = 100.0
    lead_min_days: float = 1.0
    lead_max_days: float = 30.0
    taper_days: float = 1.0
    a_ref_nT: float = 0.1
    magnitude_exponent: float = 0.5
    horizontal_ratio: float = 0.3
    radius_km: float | None = None   # fixed radius instead of Dobrovolsky's if given

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- helpers


def _to_ns(t: object) -> np.datetime64:
    """Any time-like to a tz-naive UTC ``datetime64[ns]``."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.as_unit("ns").to_datetime64(), "ns")


def _child(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``rng`` (in a fixed order)."""
    seeds = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
    return [np.random.default_rng(np.random.SeedSequence(int(s))) for s in seeds]


def _seeded(seed: int, *tags: int) -> np.random.Generator:
    """A generator from a seed and integer tags (stable whatever else is generated)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, tags)]))


def ap_from_kp(kp: np.ndarray) -> np.ndarray:
    """Kp (0..9, continuous) to the linear ap index (2 nT units), by the official table."""
    return np.interp(np.asarray(kp, dtype=float), KP_TABLE, AP_TABLE)


def kp_from_ap(ap: np.ndarray) -> np.ndarray:
    """ap to Kp (inverse of :func:`ap_from_kp`, continuous; clipped to 0..9)."""
    return np.interp(np.asarray(ap, dtype=float), AP_TABLE, KP_TABLE)


def dipole_field(latitude_deg: float, longitude_deg: float) -> tuple[float, float, float, float]:
    """Main field of the tilted IGRF-2020 dipole at the surface.

    Returns
    -------
    X, Y, Z, magnetic_latitude
        North, east, down components (nT) and the dipole (geomagnetic) latitude (deg).
    """
    phi, lam = math.radians(latitude_deg), math.radians(longitude_deg)
    r = np.array([math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)])
    pp, pl = math.radians(POLE_LAT_DEG), math.radians(POLE_LON_DEG)
    p = np.array([math.cos(pp) * math.cos(pl), math.cos(pp) * math.sin(pl), math.sin(pp)])
    m = -p  # Earth's dipole moment points to the southern geomagnetic pole
    b = DIPOLE_B0_NT * (3.0 * float(m @ r) * r - m)
    north = np.array([-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam),
                      math.cos(phi)])
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
    return (float(b @ north), float(b @ east), float(b @ -r),
            math.degrees(math.asin(float(np.clip(p @ r, -1, 1)))))


# ----------------------------------------------------------------------- activity index


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


# ------------------------------------------------------------------------ noise series


class _RedNoise:
    """Chunkable coloured noise ~ f**-gamma (0 < gamma < 4) between ``f_lo`` and ``f_hi``.

    A sum of low-pass AR processes (an ``order``-fold pole each; order 2 gives an f**-4 skirt,
    so slopes steeper than -2 can be made) with corner frequencies spaced by ``spacing``
    (3; 10 is enough for the smooth 1/f instrument noise) and variances
    ``~ f_k ** (1 - gamma)``; below ``f_lo`` the spectrum flattens. Each has its own generator
    and filter state, so the output does not depend on how it is cut into chunks. Scaled
    either to a total std ``std`` (nT) or to a one-sided PSD ``psd_1mHz`` (nT^2/Hz) at 1 mHz.
    """

    def __init__(self, rng: np.random.Generator, dt: float, gamma: float, f_lo: float,
                 f_hi: float, order: int = 2, *, std: float | None = None,
                 psd_1mHz: float | None = None, spacing: float = 3.0) -> None:
        f_hi = min(f_hi, 0.4 / dt)
        nk = max(1, int(math.floor(math.log(f_hi / f_lo) / math.log(spacing))) + 1)
        fk = f_lo * spacing ** np.arange(nk)
        var = fk ** (1.0 - gamma)
        self.gens = _child(rng, nk)
        self.a = np.exp(-2 * np.pi * fk * dt)
        self.den = [np.poly(np.full(order, a)) for a in self.a]
        # Stationary variance of the unit-input AR(order) with an order-fold pole a.
        g = 1.0 / (1 - self.a**2) if order == 1 else (1 + self.a**2) / (1 - self.a**2) ** 3
        if psd_1mHz is not None:
            z = np.exp(-2j * np.pi * 1e-3 * dt)
            unit = var / g * 2.0 * dt / np.abs(1.0 - self.a * z) ** (2 * order)
            var = var * (psd_1mHz / float(unit.sum()))
        else:
            var = var / var.sum() * (std or 0.0) ** 2
        self.scale = np.sqrt(var / g)
        # Start in the stationary state: the state after a long run-in (per component).
        self.zi = []
        for k in range(nk):
            zi0 = signal.lfiltic([1.0], self.den[k], [])
            burn = int(min(20.0 / (1 - self.a[k]), 2_000_000))
            _, z = signal.lfilter([1.0], self.den[k], self.gens[k].standard_normal(burn), zi=zi0)
            self.zi.append(z)

    def next(self, n: int, envelope: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros(n)
        for k, g in enumerate(self.gens):
            e = g.standard_normal(n)
            if envelope is not None:
                e *= envelope
            y, self.zi[k] = signal.lfilter([1.0], self.den[k], e, zi=self.zi[k])
            out += self.scale[k] * y
        return out


class _BandNoise:
    """Chunkable band-limited Gaussian noise of unit RMS (Butterworth band-pass, order 4)."""

    def __init__(self, rng: np.random.Generator, dt: float, band_hz: tuple[float, float]) -> None:
        nyq = 0.5 / dt
        self.sos = signal.butter(4, [band_hz[0] / nyq, band_hz[1] / nyq], btype="band",
                                 output="sos")
        imp = np.zeros(int(min(40.0 / (band_hz[0] * dt), 4_000_000)))
        imp[0] = 1.0
        self.scale = 1.0 / math.sqrt(float(np.sum(signal.sosfilt(self.sos, imp) ** 2)))
        self.gen = rng
        self.zi = np.zeros((self.sos.shape[0], 2))
        # Run in for a few band periods so the series starts stationary.
        e = self.gen.standard_normal(int(min(20.0 / (band_hz[0] * dt), 2_000_000)))
        _, self.zi = signal.sosfilt(self.sos, e, zi=self.zi)

    def next(self, n: int, envelope: np.ndarray | None = None) -> np.ndarray:
        e = self.gen.standard_normal(n)
        y, self.zi = signal.sosfilt(self.sos, e, zi=self.zi)
        y *= self.scale
        if envelope is not None:
            y *= envelope
        return y


def _ulf_band(dt: float) -> tuple[float, float]:
    """Precursor band: 0.01-0.1 Hz where resolved, else the top of the resolved band."""
    nyq = 0.5 / dt
    if 0.1 <= 0.9 * nyq:
        return (0.01, 0.1)
    return (0.25 * nyq, 0.9 * nyq)


# -------------------------------------------------------------------- station generator


def _sq_bump(lt: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (lt - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


class _External:
    """The shared external field at one cadence: irregular variations, pulsations, Sq
    day-to-day variability. Seeded by the activity index only, so every station gets the
    same realisation."""

    def __init__(self, activity: xr.Dataset, dt: float, cfg: StationConfig) -> None:
        seed = int(activity.attrs["external_seed"])
        self.act = activity
        self.dt = dt
        self.t0 = activity["time"].values[0].astype(np.int64)
        self.step = int(round(dt * NS_PER_S))
        self.pos = 0  # samples produced since t0
        f_lo = 1.0 / (cfg.irregular_corner_h * 3600.0)
        self.ex = _RedNoise(_seeded(seed, 1), dt, cfg.irregular_slope, f_lo, 0.05,
                            psd_1mHz=cfg.irregular_psd)
        self.ey = _RedNoise(_seeded(seed, 2), dt, cfg.irregular_slope, f_lo, 0.05,
                            psd_1mHz=0.5 * cfg.irregular_psd)
        # Regionally coherent vertical source field (amplitude about 0.4 of X).
        self.ez = _RedNoise(_seeded(seed, 6), dt, cfg.irregular_slope, f_lo, 0.05,
                            psd_1mHz=cfg.z_fraction**2 * cfg.irregular_psd)
        self.pulse = []
        nyq = 0.5 / dt
        for i, (band, amp) in enumerate((((1.7e-3, 6.7e-3), cfg.pc5_nT),
                                         ((7e-3, 0.1), cfg.pc34_nT))):
            if band[1] <= 0.9 * nyq:
                self.pulse.append((amp, _BandNoise(_seeded(seed, 3, i), dt, band),
                                   _BandNoise(_seeded(seed, 4, i), dt, band)))
        # Sq day-to-day variability: one value per day of the activity span (+2).
        nd = int(math.ceil(float(activity.attrs["days"]))) + 3
        r = _seeded(seed, 5)
        self.sq_amp = np.exp(r.normal(0.0, 0.25, nd))
        self.sq_focus = r.normal(0.0, 4.0, nd)
        self.sq_phase = r.normal(0.0, 0.5, nd)
        kt = activity["time"].values.astype(np.int64) + 90 * 60 * NS_PER_S
        self.kp_t = kt.astype(float)
        self.kp = activity["kp"].values.astype(float)

    def envelope(self, ti: np.ndarray) -> np.ndarray:
        """Amplitude factor of the variations, following activity (1 at Kp about 1)."""
        kp = np.interp(ti.astype(float), self.kp_t, self.kp)
        return ((ap_from_kp(kp) + 3.0) / 7.0) ** 0.75

    def next(self, n: int) -> dict[str, np.ndarray]:
        ti = self.t0 + (self.pos + np.arange(n, dtype=np.int64)) * self.step
        self.pos += n
        env = self.envelope(ti)
        ex = self.ex.next(n, env)
        ey = self.ey.next(n, env)
        for amp, bx, by in self.pulse:
            ex += amp * bx.next(n, env)
            ey += amp * by.next(n, env)
        return {"t": ti, "ex": ex, "ey": ey, "ez": self.ez.next(n, env), "env": env}

    def sq_daily(self, ti: np.ndarray, lon_deg: float) -> tuple[np.ndarray, ...]:
        """Day-to-day amplitude factor, focus offset (deg) and phase shift (h) at local noon
        nodes of the station's longitude, linearly interpolated."""
        node = (self.t0 + (np.arange(self.sq_amp.size) - 1) * NS_PER_DAY
                + int((12.0 - lon_deg / 15.0) * 3.6e12)).astype(float)
        x = ti.astype(float)
        return (np.interp(x, node, self.sq_amp), np.interp(x, node, self.sq_focus),
                np.interp(x, node, self.sq_phase))


def _site_response(station: SyntheticStation, rng: np.random.Generator) -> dict:
    x0, y0, z0, mlat = dipole_field(station.latitude_deg, station.longitude_deg)
    return {
        "main_field_nT": [x0 + rng.normal(0, 150), y0 + rng.normal(0, 150),
                          z0 + rng.normal(0, 150)],
        "secular_nT_per_year": [rng.normal(15, 10), rng.normal(-5, 10), rng.normal(30, 15)],
        "magnetic_latitude_deg": mlat,
        "storm_gain": rng.uniform(0.9, 1.1),
        "storm_y": rng.uniform(-0.1, 0.1),
        "storm_z": rng.uniform(-0.2, 0.2),
        "lag_s": rng.uniform(0.0, 30.0),
        "variation_gain": rng.uniform(0.85, 1.15) * math.exp((abs(mlat) - 40.0) / 12.0),
        "z_gain": rng.uniform(0.8, 1.2),
        "tipper": [rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)],
        "f_offset_nT": rng.normal(0.0, 1.0),
    }


def _events(rng: np.random.Generator, rate_per_day: float, days: float) -> np.ndarray:
    """Sorted Poisson event times in days since the start."""
    return np.sort(rng.uniform(0.0, days, int(rng.poisson(rate_per_day * days))))


class _StationGenerator:
    """Produces a station record chunk by chunk; the result does not depend on the chunking."""

    def __init__(self, station: SyntheticStation, activity: xr.Dataset, start: object,
                 days: float, cadence_s: float, rng: np.random.Generator,
                 precursors: pd.DataFrame | None, config: StationConfig) -> None:
        if cadence_s < 0.1:
            raise ConfigError("cadence must be at least 0.1 s", found=f"{cadence_s} s")
        self.st, self.cfg, self.dt = station, config, float(cadence_s)
        self.step = int(round(cadence_s * NS_PER_S))
        self.t_start = _to_ns(start).astype(np.int64)
        self.n_total = int(round(days * 86400.0 / cadence_s))
        if self.n_total < 2:
            raise ConfigError("a synthetic record needs at least two samples",
                              found=f"{days} days at {cadence_s} s")
        act_t0 = activity["time"].values[0].astype(np.int64)
        act_end = act_t0 + int(float(activity.attrs["days"]) * NS_PER_DAY)
        if self.t_start < act_t0 or self.t_start + self.n_total * self.step > act_end + self.step:
            raise ConfigError("station record must lie within the activity index span",
                              expected=f"{np.datetime64(int(act_t0), 'ns')} .. "
                                       f"{np.datetime64(int(act_end), 'ns')}",
                              found=f"{np.datetime64(int(self.t_start), 'ns')} + {days} days")
        if (self.t_start - act_t0) % self.step:
            raise ConfigError("record start must be on the cadence grid of the activity start",
                              found=str(np.datetime64(int(self.t_start), "ns")))
        self.activity = activity
        self.ext = _External(activity, self.dt, config)
        skip = (self.t_start - act_t0) // self.step
        while skip > 0:  # advance the shared series to the record start
            k = int(min(skip, 1_000_000))
            self.ext.next(k)
            skip -= k
        (r_site, r_local, r_inst, r_spike, r_gap, r_prec) = _child(rng, 6)
        self.site = _site_response(station, r_site)
        loc = config.local_fraction**2 * config.irregular_psd
        f_lo = 1.0 / (config.irregular_corner_h * 3600.0)
        self.local = [_RedNoise(g, self.dt, config.irregular_slope, f_lo, 0.05, psd_1mHz=p)
                      for g, p in zip(_child(r_local, 3), (loc, 0.5 * loc, 0.1 * loc),
                                      strict=True)]
        self.inst = [_RedNoise(g, self.dt, 1.0, 1e-6, 0.5 / self.dt, order=1,
                               std=config.instrument_nT, spacing=10.0)
                     for g in _child(r_inst, 3)]
        self.f_gen = _child(r_inst, 1)[0]
        # Spikes, gaps: whole-span event lists (small), applied per chunk.
        span_days = self.n_total * self.dt / 86400.0
        ts = _events(r_spike, config.spikes_per_day, span_days)
        self.spikes = pd.DataFrame({
            "time": self._abs(ts),
            "component": np.array(["X", "Y", "Z"])[r_spike.integers(0, 3, ts.size)],
            "amplitude_nT": np.round(np.where(r_spike.random(ts.size) < 0.5, -1.0, 1.0)
                                     * 10 ** r_spike.uniform(0.7, 2.5, ts.size), 2),
        })
        gs = _events(r_gap, config.gaps_per_day, span_days)
        gl = np.minimum(config.gap_median_s * np.exp(r_gap.normal(0, 1.5, gs.size)), 2 * 86400.0)
        fs = _events(r_gap, config.f_gaps_per_day, span_days)
        fl = np.minimum(6 * 3600.0 * np.exp(r_gap.normal(0, 1.0, fs.size)), 3 * 86400.0)
        self.gaps = pd.DataFrame({
            "start": self._abs(np.concatenate([gs, fs])),
            "end": self._abs(np.concatenate([gs + np.maximum(gl, self.dt) / 86400.0,
                                             fs + np.maximum(fl, self.dt) / 86400.0])),
            "components": ["XYZF"] * gs.size + ["F"] * fs.size,
            "flag": [FLAG_MISSING] * gs.size + [FLAG_NOT_OBSERVED] * fs.size,
        }).sort_values("start", kind="mergesort").reset_index(drop=True)
        # Precursors: windows for this station with a positive amplitude.
        self.prec = None
        if precursors is not None and len(precursors):
            p = precursors[(precursors["station"] == station.code)
                           & (precursors["amplitude_nT"] > 0)]
            if len(p):
                self.prec = p
                self.prec_ratio = float(p.attrs.get("horizontal_ratio", 0.3)) \
                    if hasattr(p, "attrs") else 0.3
                self.prec_taper = float(p.attrs.get("taper_days", 1.0))
                band = _ulf_band(self.dt)
                self.prec_noise = [_BandNoise(g, self.dt, band) for g in _child(r_prec, 3)]
        self.pos = 0

    def _abs(self, tdays: np.ndarray) -> np.ndarray:
        ns = self.t_start + np.round(np.asarray(tdays) * NS_PER_DAY).astype(np.int64)
        # Snap to the cadence grid so that truth times are sample times.
        ns = self.t_start + ((ns - self.t_start) // self.step) * self.step
        return ns.astype("datetime64[ns]")

    def _precursor_envelope(self, ti: np.ndarray) -> np.ndarray:
        return precursor_envelope(ti, self.prec, self.prec_taper)

    def next(self, n: int) -> tuple[np.ndarray, dict, dict]:
        n = min(n, self.n_total - self.pos)
        cfg, site, st = self.cfg, self.site, self.st
        ext = self.ext.next(n)
        ti = ext["t"]
        self.pos += n
        years = (ti - self.t_start) / (365.25 * NS_PER_DAY)
        mlat = site["magnetic_latitude_deg"]
        sgn = 1.0 if mlat >= 0 else -1.0
        # Sq: local time, season, latitude and day-to-day variability.
        lag = int(round(site["lag_s"] * NS_PER_S))
        tl = ti - lag
        amp, focus, phase = self.ext.sq_daily(tl, st.longitude_deg)
        ut_h = (tl % NS_PER_DAY) / 3.6e12
        lt = (ut_h + st.longitude_deg / 15.0 - phase) % 24.0
        doy = ((tl - np.datetime64("2000-01-01", "ns").astype(np.int64))
               / NS_PER_DAY) % 365.2422
        season = 1.0 + 0.35 * sgn * np.cos(2 * np.pi * (doy - 172.0) / 365.2422)
        a = amp * season
        lat_x = np.tanh((abs(mlat) - (cfg.sq_focus_deg + focus)) / 7.0)
        sq_x = -cfg.sq_x_nT * a * lat_x * (_sq_bump(lt, 11.0, 2.8) - 0.08)
        sq_y = sgn * cfg.sq_y_nT * a * (_sq_bump(lt, 9.0, 2.3) - _sq_bump(lt, 14.5, 2.6))
        sq_z = -sgn * cfg.sq_z_nT * a * min(abs(mlat) / 30.0, 1.2) * (_sq_bump(lt, 11.5, 3.0)
                                                                    - 0.1)
        # Storm: shared Dst-like disturbance with site gain and lag.
        dst = storm_disturbance(ti, self.activity, lag_s=site["lag_s"])
        cosm = math.cos(math.radians(mlat))
        g = site["variation_gain"]
        ex, ey = g * ext["ex"], g * ext["ey"]
        loc = [r.next(n, ext["env"]) for r in self.local]
        x = (site["main_field_nT"][0] + site["secular_nT_per_year"][0] * years + sq_x
             + site["storm_gain"] * cosm * dst + ex + loc[0])
        y = (site["main_field_nT"][1] + site["secular_nT_per_year"][1] * years + sq_y
             + site["storm_y"] * dst + ey + loc[1])
        z = (site["main_field_nT"][2] + site["secular_nT_per_year"][2] * years + sq_z
             + site["storm_z"] * dst + g * site["z_gain"] * ext["ez"]
             + site["tipper"][0] * ex + site["tipper"][1] * ey + loc[2])
        comps = {"X": x, "Y": y, "Z": z}
        for c, r in zip("XYZ", self.inst, strict=True):
            comps[c] = comps[c] + r.next(n)
        if self.prec is not None:
            env = self._precursor_envelope(ti)
            pz, px, py = (b.next(n) for b in self.prec_noise)
            comps["Z"] = comps["Z"] + env * pz
            comps["X"] = comps["X"] + self.prec_ratio * env * px
            comps["Y"] = comps["Y"] + self.prec_ratio * env * py
        # The scalar instrument: total intensity of the true field, its own noise.
        f = (np.sqrt(comps["X"] ** 2 + comps["Y"] ** 2 + comps["Z"] ** 2) + site["f_offset_nT"]
             + cfg.f_noise_nT * self.f_gen.standard_normal(n))
        comps["F"] = f
        # Spikes in the vector components only.
        sp = self.spikes
        t_sp = sp["time"].values.astype(np.int64)
        i0, i1 = np.searchsorted(t_sp, [ti[0], ti[-1] + 1])
        for c in "XYZ":
            sel = slice(i0, i1)
            m = sp["component"].values[sel] == c
            idx = ((t_sp[sel][m] - ti[0]) // self.step).astype(np.int64)
            np.add.at(comps[c], idx, sp["amplitude_nT"].to_numpy(float)[sel][m])
        res = cfg.resolution_nT
        for c in comps:
            comps[c] = np.round(comps[c] / res) * res if res > 0 else comps[c]
        flags = {c: np.zeros(n, np.int8) for c in "XYZF"}
        gs = self.gaps["start"].values.astype(np.int64)
        ge = self.gaps["end"].values.astype(np.int64)
        hit = np.nonzero((ge > ti[0]) & (gs <= ti[-1]))[0]
        for k in hit:
            j0, j1 = np.searchsorted(ti, [gs[k], ge[k]])
            for c in self.gaps["components"].iloc[k]:
                # A not-observed block never hides a missing one.
                cur = flags[c][j0:j1]
                flags[c][j0:j1] = np.where(cur == FLAG_VALID, self.gaps["flag"].iloc[k], cur)
        return ti.astype("datetime64[ns]"), comps, flags

    def attrs(self) -> dict:
        st = self.st
        return {
            "iaga_code": st.code, "station_name": st.name,
            "latitude_deg": float(st.latitude_deg), "longitude_deg": float(st.longitude_deg),
            "elevation_m": float(st.elevation_m), "sampling_period_s": float(self.dt),
            "data_type": "synthetic",
            "source": f"geoanom.synthetic {__version__}",
            "history": "",
            "components_convention": "XYZF: X north, Y east, Z down, F scalar (nT)",
        }


def _as_station(station: object) -> SyntheticStation:
    if isinstance(station, SyntheticStation):
        return station
    try:
        return SyntheticStation(
            code=str(station.code), name=str(getattr(station, "name", "")),
            latitude_deg=float(station.latitude_deg),
            longitude_deg=float(station.longitude_deg),
            elevation_m=float(getattr(station, "elevation_m", 0.0) or 0.0),
        )
    except AttributeError as exc:
        raise ConfigError("station needs code, latitude_deg and longitude_deg",
                          found=type(station).__name__) from exc


def iter_station_record(
    station: object,
    activity: xr.Dataset,
    *,
    start: object,
    days: float,
    cadence_s: float = 60.0,
    rng: np.random.Generator,
    precursors: pd.DataFrame | None = None,
    config: StationConfig | None = None,
    chunk_days: float = 1.0,
) -> Iterator[xr.Dataset]:
    """Yield a station record in consecutive chunks of ``chunk_days`` (for long 1-s spans).

    The concatenation of the chunks equals :func:`station_record` with the same arguments,
    sample for sample (each random stream has its own generator and filter state).
    """
    gen = _StationGenerator(_as_station(station), activity, start, days, cadence_s, rng,
                            precursors, config or StationConfig())
    per = max(1, int(round(chunk_days * 86400.0 / cadence_s)))
    attrs = gen.attrs()
    while gen.pos < gen.n_total:
        t, comps, flags = gen.next(per)
        yield make_record(t, comps, flags=flags, attrs=attrs,
                          history=f"synthetic record (geoanom.synthetic, {cadence_s:g} s)")


def station_record(
    station: object,
    activity: xr.Dataset,
    *,
    start: object,
    days: float,
    cadence_s: float = 60.0,
    rng: np.random.Generator,
    precursors: pd.DataFrame | None = None,
    config: StationConfig | None = None,
) -> xr.Dataset:
    """A synthetic station record (X, Y, Z, F in nT; see the module docstring).

    Parameters
    ----------
    station
        A :class:`SyntheticStation` (or any object with ``code``, ``name``,
        ``latitude_deg``, ``longitude_deg``, ``elevation_m``).
    activity
        The shared activity index from :func:`activity_index`; the record must lie in its span.
    start, days, cadence_s
        First sample (UTC), length (days) and sampling period (s).
    rng
        Source of the station's own randomness (site response, local noise, instrument
        noise, spikes, gaps, precursor noise).
    precursors
        Precursor windows from :func:`precursor_windows` (rows of other stations and rows
        with zero amplitude are ignored); ``None`` adds none.
    config
        Amplitudes of the model.

    Returns
    -------
    xarray.Dataset
        A record satisfying :func:`geoanom.record.validate_record`; ``attrs["site_response"]``
        holds the station's drawn response (JSON), ``attrs["n_spikes"]``/``["n_gaps"]`` the
        numbers of spikes and gaps.
    """
    return _station_record(station, activity, start, days, cadence_s, rng, precursors,
                           config)[0]


def _station_record(station, activity, start, days, cadence_s, rng, precursors, config):
    """:func:`station_record` plus its generator (spikes, gaps, site response: the truth)."""
    gen = _StationGenerator(_as_station(station), activity, start, days, cadence_s, rng,
                            precursors, config or StationConfig())
    t, comps, flags = gen.next(gen.n_total)
    attrs = gen.attrs()
    attrs["site_response"] = json.dumps(gen.site, sort_keys=True)
    ds = make_record(t, comps, flags=flags, attrs=attrs,
                     history=f"synthetic record (geoanom.synthetic, {cadence_s:g} s)")
    ds.attrs["n_spikes"] = int(len(gen.spikes))
    ds.attrs["n_gaps"] = int(len(gen.gaps))
    return ds, gen


# ------------------------------------------------------------------------- ETAS catalog


def _gr_sample(rng: np.random.Generator, n: int, b: float, m_lo: float, m_hi: float) -> np.ndarray:
    """Continuous truncated Gutenberg-Richter magnitudes on [m_lo, m_hi]."""
    u = rng.random(n)
    return m_lo - np.log10(1.0 - u * (1.0 - 10.0 ** (-b * (m_hi - m_lo)))) / b


def _mean_productivity(b: float, alpha: float, m_lo: float, m_hi: float, mc: float) -> float:
    """E[10 ** (alpha (M - mc))] under truncated GR on [m_lo, m_hi] (exact)."""
    beta, a = b * math.log(10), alpha * math.log(10)
    z = 1.0 - math.exp(-beta * (m_hi - m_lo))
    if abs(beta - a) < 1e-12:
        integral = beta * (m_hi - m_lo)
    else:
        integral = beta / (beta - a) * (1.0 - math.exp(-(beta - a) * (m_hi - m_lo)))
    return math.exp(a * (m_lo - mc)) * integral / z


def _omori_sample(rng: np.random.Generator, n: int, c: float, p: float, tmax: float) -> np.ndarray:
    """Delays (days) from the Omori-Utsu density ~ (t + c) ** -p truncated to [0, tmax]."""
    u = rng.random(n)
    if abs(p - 1.0) < 1e-9:
        return c * ((1.0 + tmax / c) ** u - 1.0)
    q = 1.0 - p
    lo, hi = c**q, (tmax + c) ** q
    return (lo + u * (hi - lo)) ** (1.0 / q) - c


def etas_catalog(
    region: tuple[float, float, float, float],
    start: object,
    days: float,
    rng: np.random.Generator,
    *,
    background_rate_per_day: float = 7.0,
    branching_ratio: float = 0.5,
    b_value: float = 1.0,
    alpha: float = 0.8,
    mc: float = 3.0,
    m_max: float = 8.0,
    magnitude_step: float = 0.1,
    omori_c_days: float = 0.01,
    omori_p: float = 1.1,
    omori_tmax_days: float = 365.0,
    burn_in_days: float | None = None,
    depth_mean_km: float = 18.0,
    source: str = "geoanom.synthetic ETAS",
) -> pd.DataFrame:
    """An ETAS-like clustered catalog: Poisson background plus Omori-Utsu aftershocks.

    Parameters
    ----------
    region
        ``(lat_min, lat_max, lon_min, lon_max)`` in degrees: background epicentres are
        uniform in this box (uniform in area); aftershocks fall near their parent and may
        leave it.
    start, days
        Catalog span (UTC, days).
    rng
        Source of randomness.
    background_rate_per_day
        Rate of background events with ``M >= mc`` (per day, whole box).
    branching_ratio
        Mean number of direct aftershocks per event, ``n < 1``. The direct-aftershock count
        of an event of magnitude M is Poisson with mean ``K * 10 ** (alpha (M - mc))``, K set
        so that its mean over the magnitude distribution is ``n``. In the stationary regime
        the expected background fraction is ``1 - n``.
    b_value, mc, m_max, magnitude_step
        Gutenberg-Richter b, completeness and maximum magnitude; magnitudes are drawn
        continuous on ``[mc - step/2, m_max]`` and rounded to ``step`` (so the smallest
        reported bin is ``mc``).
    omori_c_days, omori_p, omori_tmax_days
        Omori-Utsu delay density ``~ (t + c) ** -p`` truncated at ``tmax``.
    burn_in_days
        Simulated time before ``start`` (events there are not reported; their aftershocks
        are). Default ``omori_tmax_days``, which makes the catalog close to stationary.
    depth_mean_km
        Mean background depth (gamma distribution, shape 2, clipped to 1..150 km).

    Returns
    -------
    pandas.DataFrame
        A :func:`geoanom.catalog_frame.make_catalog` frame (magnitude_type ``"Mw"``, ids
        ``syn0000001``... over the whole simulation, so ids of the reported events need not
        start at 1) with extra columns ``is_background`` (bool) and ``parent_id`` (str; ""
        for background events; the parent may precede ``start`` and then is not in the
        frame). ``attrs["etas"]`` holds the parameters.
    """
    if not 0 <= branching_ratio < 1:
        raise ConfigError("ETAS branching ratio must be in [0, 1)", found=str(branching_ratio))
    if m_max <= mc:
        raise ConfigError("m_max must exceed mc", found=f"mc={mc}, m_max={m_max}")
    lat0, lat1, lon0, lon1 = region
    burn = omori_tmax_days if burn_in_days is None else float(burn_in_days)
    t_lo, t_hi = -burn, float(days)
    m_lo = mc - magnitude_step / 2.0
    k_prod = branching_ratio / _mean_productivity(b_value, alpha, m_lo, m_max, mc)
    r_bg, r_af = _child(rng, 2)

    nb = int(r_bg.poisson(background_rate_per_day * (t_hi - t_lo)))
    t = [r_bg.uniform(t_lo, t_hi, nb)]
    s0, s1 = math.sin(math.radians(lat0)), math.sin(math.radians(lat1))
    lat = [np.degrees(np.arcsin(r_bg.uniform(s0, s1, nb)))]
    lon = [r_bg.uniform(lon0, lon1, nb)]
    mag = [_gr_sample(r_bg, nb, b_value, m_lo, m_max)]
    dep = [np.clip(r_bg.gamma(2.0, depth_mean_km / 2.0, nb), 1.0, 150.0)]
    parent = [np.full(nb, -1, dtype=np.int64)]
    gen_t, gen_lat, gen_lon, gen_m, gen_d = t[0], lat[0], lon[0], mag[0], dep[0]
    gen_idx = np.arange(nb)
    total = nb
    while gen_t.size:
        nkids = r_af.poisson(k_prod * 10.0 ** (alpha * (gen_m - mc)))
        par = np.repeat(np.arange(gen_t.size), nkids)
        nk = par.size
        if nk == 0:
            break
        kt = gen_t[par] + _omori_sample(r_af, nk, omori_c_days, omori_p, omori_tmax_days)
        # Spatial kernel: isotropic, density ~ (r^2 + d^2)^-1.5 with d half the parent's
        # rupture length (Wells & Coppersmith 1994, L = 10 ** (-2.44 + 0.59 M) km) + 1 km.
        d = 0.5 * 10.0 ** (-2.44 + 0.59 * gen_m[par]) + 1.0
        u = r_af.random(nk)
        rr = np.minimum(d * np.sqrt(1.0 / (1.0 - u) ** 2 - 1.0), 10.0 * d + 20.0)
        th = r_af.uniform(0.0, 2 * np.pi, nk)
        klat = np.clip(gen_lat[par] + rr * np.cos(th) / 111.195, -89.9, 89.9)
        klon = gen_lon[par] + rr * np.sin(th) / (111.195 * np.cos(np.radians(gen_lat[par])))
        klon = (klon + 180.0) % 360.0 - 180.0
        km = _gr_sample(r_af, nk, b_value, m_lo, m_max)
        kd = np.clip(gen_d[par] + r_af.normal(0.0, 3.0, nk), 0.5, 150.0)
        keep = kt < t_hi
        par_idx = gen_idx[par][keep]
        gen_t, gen_lat, gen_lon, gen_m, gen_d = kt[keep], klat[keep], klon[keep], km[keep], \
            kd[keep]
        gen_idx = total + np.arange(gen_t.size)
        total += gen_t.size
        t.append(gen_t)
        lat.append(gen_lat)
        lon.append(gen_lon)
        mag.append(gen_m)
        dep.append(gen_d)
        parent.append(par_idx)
    t_all = np.concatenate(t)
    order = np.argsort(t_all, kind="mergesort")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ids = np.array([f"syn{i + 1:07d}" for i in range(order.size)])
    par_all = np.concatenate(parent)
    par_id = np.where(par_all >= 0, ids[rank[np.maximum(par_all, 0)]], "")
    t0 = _to_ns(start).astype(np.int64)
    t_ns = t0 + np.round(t_all * NS_PER_DAY).astype(np.int64)
    keep = (t_all >= 0.0)[order]
    sel = order[keep]
    mags = np.round(np.concatenate(mag)[sel] / magnitude_step) * magnitude_step
    cfg = {"region": list(region), "start": str(np.datetime64(int(t0), "ns")), "days": days,
           "background_rate_per_day": background_rate_per_day,
           "branching_ratio": branching_ratio, "b_value": b_value, "alpha": alpha, "mc": mc,
           "m_max": m_max, "magnitude_step": magnitude_step, "omori_c_days": omori_c_days,
           "omori_p": omori_p, "omori_tmax_days": omori_tmax_days, "burn_in_days": burn,
           "productivity_K": k_prod}
    df = make_catalog(
        t_ns[sel].astype("datetime64[ns]"), np.round(np.concatenate(lat)[sel], 4),
        np.round(np.concatenate(lon)[sel], 4), np.round(mags, 1),
        depth_km=np.round(np.concatenate(dep)[sel], 1), magnitude_type=["Mw"] * sel.size,
        event_id=ids[rank[sel]], source=source,
        query=f"synthetic ETAS in box {tuple(region)}, M>={mc}",
    )
    # make_catalog sorts stably by time; sel is already in time order, so rows align.
    df["is_background"] = (par_all[sel] < 0)
    df["parent_id"] = par_id[sel]
    df.attrs["etas"] = cfg
    return df


def aki_utsu_b(magnitude: np.ndarray, mc: float, magnitude_step: float = 0.1) -> float:
    """Aki-Utsu maximum-likelihood b-value of magnitudes ``>= mc`` (binned by ``step``)."""
    m = np.asarray(magnitude, dtype=float)
    m = m[m >= mc - 1e-9]
    if m.size < 2:
        return float("nan")
    return float(math.log10(math.e) / (m.mean() - (mc - magnitude_step / 2.0)))


# ------------------------------------------------------------------ precursor windows


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


# ------------------------------------------------------------------------------- world


@dataclass
class World:
    """A synthetic world and its truth.

    Attributes
    ----------
    records
        Station code to station record (X, Y, Z, F in nT; see the module docstring).
    catalog
        The ETAS catalog (:func:`etas_catalog`; extra columns ``is_background``,
        ``parent_id``).
    activity
        The shared activity index (:func:`activity_index`).
    truth
        JSON-safe dict: ``precursors`` (one row per event and station: ``event_id, station,
        event_time, start, end, magnitude, depth_km, distance_km, radius_km, amplitude_nT``;
        amplitude 0 in the null world), ``signal_added``, ``precursor_config``,
        ``ulf_band_hz``, ``storms``, ``spikes`` and ``gaps`` per station, ``site_response``
        per station, ``catalog_summary``, ``conventions``.
    stations
        Station table: code, name, latitude_deg, longitude_deg, elevation_m, role,
        magnetic_latitude_deg.
    config
        Everything :func:`make_world` was given (hashed into the provenance).
    """

    records: dict[str, xr.Dataset]
    catalog: pd.DataFrame
    activity: xr.Dataset
    truth: dict
    stations: pd.DataFrame
    config: dict = field(default_factory=dict)

    @property
    def precursors(self) -> pd.DataFrame:
        """The precursor windows of the truth as a frame (times as datetime64[ns])."""
        df = pd.DataFrame(self.truth["precursors"])
        if df.empty:
            return pd.DataFrame(columns=["event_id", "station", "event_time", "start", "end",
                                         "magnitude", "depth_km", "distance_km", "radius_km",
                                         "amplitude_nT"])
        for c in ("event_time", "start", "end"):
            df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
        return df

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """Write ``<CODE>.nc`` per station, ``catalog.csv``, ``activity.csv``,
        ``stations.csv`` and ``truth.json`` (with provenance), each atomically.

        Returns the written paths.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        seeds = {"seed": int(self.config["seed"])}
        prov = provenance(config=self.config, seeds=seeds)
        for code, rec in self.records.items():
            path = out / f"{code}.nc"
            _write_record(rec, path, self.config, seeds)
            written.append(path)
        cat = self.catalog.copy()
        cat["time"] = cat["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        with atomic_path(out / "catalog.csv") as tmp:
            cat.to_csv(tmp, index=False)
        written.append(out / "catalog.csv")
        act = pd.DataFrame({"time": pd.to_datetime(self.activity["time"].values)
                            .strftime("%Y-%m-%dT%H:%M:%S"),
                            "kp": self.activity["kp"].values,
                            "dst_nT": np.round(self.activity["dst_nT"].values, 2)})
        with atomic_path(out / "activity.csv") as tmp:
            act.to_csv(tmp, index=False)
        written.append(out / "activity.csv")
        with atomic_path(out / "stations.csv") as tmp:
            self.stations.to_csv(tmp, index=False)
        written.append(out / "stations.csv")
        truth = dict(self.truth)
        truth["provenance"] = prov
        atomic_write_text(out / "truth.json", json.dumps(json.loads(canonical_json(truth)),
                                                         indent=1, sort_keys=True) + "\n")
        written.append(out / "truth.json")
        return written


def _write_record(rec: xr.Dataset, path: Path, config: dict, seeds: dict) -> None:
    """Write one record as netCDF: geoanom.io.netcdf.write_netcdf if present, else xarray."""
    try:
        from geoanom.io.netcdf import write_netcdf
    except ImportError:  # the netCDF writer is optional while the io package grows
        write_netcdf = None
    if write_netcdf is not None:
        write_netcdf(rec, path, config=config, seeds=seeds)
        return
    ds = rec.copy()
    ds.attrs = dict(rec.attrs)
    ds.attrs["geoanom_provenance"] = canonical_json(provenance(config=config, seeds=seeds))
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)


def _table(df: pd.DataFrame) -> list[dict]:
    """A frame as JSON-safe rows (times as ISO strings)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return json.loads(out.to_json(orient="records"))


def make_world(
    seed: int,
    days: float,
    cadence_s: float = 60.0,
    n_stations: int = 3,
    precursor_strength: float = 0.0,
    *,
    start: object = "2020-01-01",
    stations: Sequence[SyntheticStation] | None = None,
    region: tuple[float, float, float, float] = DEFAULT_REGION,
    etas: Mapping[str, float] | None = None,
    activity_options: Mapping[str, float] | None = None,
    precursor: PrecursorConfig | None = None,
    station_config: StationConfig | None = None,
) -> World:
    """Build a whole synthetic world from one seed.

    Parameters
    ----------
    seed
        Master seed. Each part has its own stream derived from ``(seed, tag)``: the activity
        (tag 1), the catalog (tag 2) and station ``i`` of the station list (tag 100 + i), so
        the catalog does not change with ``n_stations`` and no record changes with
        ``precursor_strength`` outside the precursor windows.
    days, cadence_s
        Span (days, from ``start``) and sampling period (s) of the records.
    n_stations
        How many of :data:`DEFAULT_STATIONS` (or of ``stations``) to use.
    precursor_strength
        Strength of the precursor signatures (0: null world).
    stations, region, etas, activity_options, precursor, station_config
        Overrides: station list, seismic box, keyword arguments of :func:`etas_catalog` and
        :func:`activity_index`, the full precursor configuration (its ``strength`` is
        replaced by ``precursor_strength``), the station model amplitudes.
    """
    seed = int(seed)
    pool = list(stations) if stations is not None else list(DEFAULT_STATIONS)
    if n_stations < 1 or n_stations > len(pool):
        raise ConfigError("number of synthetic stations out of range",
                          expected=f"1..{len(pool)}", found=str(n_stations))
    sts = [_as_station(s) for s in pool[:n_stations]]
    pcfg = dataclasses.replace(precursor or PrecursorConfig(), strength=float(precursor_strength))
    scfg = station_config or StationConfig()
    t0 = _to_ns(start)
    act = activity_index(t0, days, _seeded(seed, 1), **dict(activity_options or {}))
    cat = etas_catalog(region, t0, days, _seeded(seed, 2), **dict(etas or {}))
    windows = precursor_windows(cat, sts, pcfg)
    records, spikes, gaps, sites = {}, {}, {}, {}
    for i, st in enumerate(sts):
        rec, gen = _station_record(st, act, t0, days, cadence_s, _seeded(seed, 100 + i),
                                   windows, scfg)
        records[st.code] = rec
        spikes[st.code], gaps[st.code] = _table(gen.spikes), _table(gen.gaps)
        sites[st.code] = gen.site
    station_df = pd.DataFrame([dataclasses.asdict(s) for s in sts])
    station_df["magnetic_latitude_deg"] = [dipole_field(s.latitude_deg, s.longitude_deg)[3]
                                           for s in sts]
    config = {
        "seed": seed, "start": str(t0), "days": float(days), "cadence_s": float(cadence_s),
        "n_stations": int(n_stations), "precursor_strength": float(precursor_strength),
        "region": list(region), "etas": cat.attrs["etas"],
        "activity": dict(activity_options or {}), "precursor": pcfg.to_dict(),
        "station_model": scfg.to_dict(),
        "stations": [dataclasses.asdict(s) for s in sts],
    }
    m5 = cat["magnitude"].to_numpy() >= pcfg.m_min
    storms = act[[v for v in act.data_vars if act[v].dims == ("storm",)]].to_dataframe()
    storms = storms.reset_index(drop=True)
    truth = {
        "seed": seed,
        "precursor_strength": float(precursor_strength),
        "signal_added": bool(precursor_strength > 0 and (windows["amplitude_nT"] > 0).any()),
        "precursor_config": pcfg.to_dict(),
        "ulf_band_hz": list(_ulf_band(float(cadence_s))),
        "precursors": _table(windows),
        "storms": _table(storms),
        "spikes": spikes,
        "gaps": gaps,
        "site_response": sites,
        "catalog_summary": {
            "n_events": int(len(cat)),
            "n_background": int(cat["is_background"].sum()),
            "n_m_ge_m_min": int(m5.sum()),
            "b_value_aki_utsu": aki_utsu_b(cat["magnitude"].to_numpy(), cat.attrs["etas"]["mc"],
                                           cat.attrs["etas"]["magnitude_step"]),
        },
        "conventions": {
            "components": "X north, Y east, Z down, F scalar; nT",
            "precursor_amplitude": "RMS in Z (nT) at full envelope; X, Y get "
                                   "horizontal_ratio of it",
            "parent_id": "event_id of the triggering event; '' for background events",
        },
    }
    return World(records=records, catalog=cat, activity=act, truth=truth,
                 stations=station_df, config=config)


# ----------------------------------------------------------------------------- realism
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
