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

Package layout (one module per concept; everything is importable from ``geoanom.synthetic``):

* :mod:`~geoanom.synthetic.common`: constants, :class:`SyntheticStation`,
  :class:`StationConfig`, :class:`PrecursorConfig`, seeded streams, the dipole field;
* :mod:`~geoanom.synthetic.activity`: the activity index and storms;
* :mod:`~geoanom.synthetic.station`: station records (noise series and the generator);
* :mod:`~geoanom.synthetic.etas`: the ETAS catalog;
* :mod:`~geoanom.synthetic.precursors`: truth windows and the precursor envelope;
* :mod:`~geoanom.synthetic.ulf`: the 1-s ULF world (:class:`UlfWorldConfig`: Pc3-Pc5
  pulsations, night-time Z/G rises before chosen events), ``make_world(..., ulf=...)``;
* :mod:`~geoanom.synthetic.world`: :func:`make_world` and :class:`World` (files on disk);
* :mod:`~geoanom.synthetic.realism`: quiet-day and storm metrics of records.
"""

from __future__ import annotations

# importable from here as before the split: the time constants and two helpers the tests use
from geoanom._time import NS_PER_DAY, NS_PER_S  # noqa: F401
from geoanom.synthetic.activity import (
    activity_index,
    storm_disturbance,
    with_storm,
)
from geoanom.synthetic.common import (
    AP_TABLE,
    DEFAULT_REGION,
    DEFAULT_STATIONS,
    KP_TABLE,
    PrecursorConfig,
    StationConfig,
    SyntheticStation,
    _seeded,  # noqa: F401
    ap_from_kp,
    dipole_field,
    kp_from_ap,
)
from geoanom.synthetic.etas import aki_utsu_b, etas_catalog
from geoanom.synthetic.precursors import precursor_envelope, precursor_windows
from geoanom.synthetic.realism import (
    _despike,  # noqa: F401
    day_metrics,
    horizontal_intensity,
    quiet_day_metrics,
    storm_depression,
    to_minutes,
)
from geoanom.synthetic.station import iter_station_record, station_record
from geoanom.synthetic.ulf import (
    UlfWorldConfig,
    iter_ulf_station_record,
    raised_nights,
    ulf_station_record,
)
from geoanom.synthetic.world import World, make_world

__all__ = [
    "KP_TABLE", "AP_TABLE", "DEFAULT_REGION", "DEFAULT_STATIONS", "SyntheticStation",
    "StationConfig", "PrecursorConfig", "World", "activity_index", "ap_from_kp", "kp_from_ap",
    "storm_disturbance", "dipole_field", "etas_catalog", "precursor_windows",
    "station_record", "iter_station_record", "make_world", "aki_utsu_b", "with_storm",
    "precursor_envelope",
    "horizontal_intensity", "to_minutes", "day_metrics", "quiet_day_metrics", "storm_depression",
    "UlfWorldConfig", "ulf_station_record", "iter_ulf_station_record", "raised_nights",
]
