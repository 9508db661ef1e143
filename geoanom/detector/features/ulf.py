"""Nightly ULF polarisation features from 1-second records: the feature record.

The precursor studies this module serves (Hayakawa et al. 1996; Hattori et al. 2004 and
later) do not look at raw samples. From the vertical component Z and the two horizontal
ones (H, D or N, E or X, Y) they cut night windows in local time, estimate spectra with
Welch's method, average them over ULF bands, and follow the polarisation ratio

``Z/G = sqrt(P_Z / (P_H + P_D))``

(``G = sqrt(H^2 + D^2)`` in amplitude spectra) band by band, night after night; nights of
storms are screened with ap and Dst. :func:`ulf_polarisation` computes those features as a
**feature record**, an ``xarray.Dataset`` that satisfies the station-record contract of
:mod:`geoanom.record`, so the window, training and scoring code windows sequences of nights
as it windows samples:

* dim ``time``: one entry per night, the start (UTC) of the night's first window; the
  cadence ``attrs["sampling_period_s"]`` is one day (86400 s). Several night windows (by
  default 22-02 and 02-06 local time) are not evenly spaced in time, so each is a set of
  variables of the night rather than a row of its own.
* per night window ``<w>`` (``lt22``, ``lt02``: ``lt`` and the local start time, ``HH`` or
  ``HHMM``) and band ``<b>`` (``b1`` ... ``b9`` by default) the float64 variables
  ``zg_<b>_<w>`` (Z/G, dimensionless), ``pz_<b>_<w>``, ``pg_<b>_<w>`` (``P_H + P_D``) and
  ``p<h>_<b>_<w>`` for each horizontal component ``<h>`` (lower case: ``ph``, ``pd``;
  ``pn``, ``pe``; ``px``, ``py``): mean power spectral density over the band, nT^2/Hz. D in
  arcmin is turned into nT with the window's mean H. Each has its ``_flag``:
  :data:`~geoanom.record.FLAG_MISSING` (values NaN) where the night window is invalid.
* coordinates on ``time`` (not components, so windows never take them for data): ``end``
  (UTC, exclusive end of the night's last window), ``valid_<w>`` (int8 1/0),
  ``valid_fraction_<w>`` (share of valid samples over Z and the horizontal components, after
  despiking) and ``n_segments_<w>`` (Welch segments averaged); with activity indices,
  ``ap_max`` and ``storm_ap`` (int8: ``ap_max > storm_ap_max``) and ``dst_min_nT`` and
  ``storm_dst`` (``dst_min_nT < storm_dst_min_nT``), each over ``[time, end)``
  (:func:`~geoanom.detector.features.storms.storm_flags`).
* attrs: the station's, ``sampling_period_s = 86400``, ``source_sampling_period_s``,
  ``feature_kind = "ulf_polarisation"``, ``ulf_config`` (canonical JSON of
  :class:`UlfConfig`), ``night_windows`` (JSON: tag, local hours, offset from ``time`` and
  length in s), ``local_time`` (the rule used), ``history`` (the record's plus one line).

Rules, each a :class:`UlfConfig` field:

* **Night windows** in local time (:mod:`~geoanom.detector.features.nights`): mean solar
  time ``UTC + longitude / 15 h`` from the station longitude, unless a fixed
  ``utc_offset_h`` is given. A night is dated by its evening and runs from local noon to
  local noon, so each window of a night lies in it. Nights with at least one window wholly
  inside the record are kept; samples outside the record count as missing.
* **Spikes**: a sample whose departure from the mean of its two neighbours lies beyond
  ``mean +- spike_sigma * sigma`` (7) of the window's departures is dropped
  (:func:`~geoanom.detector.features.spectra.spike_mask`).
* **Validity**: a window is valid when every component used misses at most
  ``max_missing_fraction`` of its samples (:func:`geoanom.detector.windows.window_is_valid`)
  and at least ``min_segment_fraction`` of its Welch segments are complete. Incomplete
  segments are left out of the average and nothing is interpolated; an invalid window is NaN.
* **Spectra**: segments of ``segment_s`` (1800 s), ``overlap`` 0.5, ``window`` Hamming,
  ``detrend`` linear, one-sided density; a band's power is the mean density over its bins
  ``low <= f < high``.

Work is done a few nights at a time (``chunk_nights``): each chunk reads only its slice of
the record (so a lazy, dask-backed record is read slice by slice and a year of 1-s data
never sits in memory), gathers all windows of all its nights with one strided view, and runs
one FFT over all their segments. The result does not depend on the chunking.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from geoanom._time import NS_PER_S, S_PER_DAY
from geoanom.detector.distributed import WORKER_OPEN_FILES, open_record_lazy
from geoanom.detector.features.nights import (
    NightGrid,
    NightWindow,
    local_time_offset_s,
    night_grid,
    night_window,
)
from geoanom.detector.features.spectra import (
    DETRENDS,
    band_psd,
    segment_valid,
    spike_mask,
    welch_plan,
)
from geoanom.detector.features.storms import storm_flags
from geoanom.detector.windows import valid_fraction, window_is_valid
from geoanom.errors import ConfigError, ValidationError
from geoanom.provenance import canonical_json
from geoanom.record import (
    FLAG_MISSING,
    FLAG_VALID,
    component_names,
    make_record,
    validate_record,
)

__all__ = ["DEFAULT_BANDS", "HORIZONTAL_PAIRS", "UlfConfig", "night_windows",
           "ulf_polarisation", "ulf_polarisation_many"]

#: Nine bands of 0.01 Hz from 0.01 to 0.10 Hz: ``(name, low_hz, high_hz)``.
DEFAULT_BANDS: tuple[tuple[str, float, float], ...] = tuple(
    (f"b{k}", round(0.01 * k, 2), round(0.01 * (k + 1), 2)) for k in range(1, 10))

#: Horizontal component pairs looked for, in this order, when ``horizontal`` is not given.
HORIZONTAL_PAIRS = (("H", "D"), ("H", "E"), ("N", "E"), ("X", "Y"))

#: Samples of a record checked at a time (:func:`geoanom.record.validate_record` on
#: consecutive, overlapping slices): a year of 1-s data is never differenced whole.
VALIDATE_BLOCK = 1 << 20

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_ARCMIN_RAD = math.pi / (180.0 * 60.0)


@dataclass(frozen=True)
class UlfConfig:
    """Everything that decides the nightly ULF features (see the module docstring).

    Parameters
    ----------
    bands
        ``(name, low_hz, high_hz)`` per band; names are letters and digits.
    nights
        Night windows as ``(start, end)`` local hours (0-24; ``start > end`` wraps midnight).
    utc_offset_h
        Local time = UTC + this many hours; ``None``: mean solar time from the longitude.
    segment_s, overlap, window, detrend
        Welch segments: length (s), overlapping share, taper (``scipy.signal.get_window``
        name), detrending (``"linear"`` or ``"constant"``).
    max_missing_fraction
        A window with a larger share of missing samples in any component is invalid.
    min_segment_fraction
        A window needs at least this share of its segments complete.
    spike_sigma
        Cut-off of the spike rule in standard deviations; ``None``: no despiking.
    storm_ap_max, storm_dst_min_nT
        A night is a storm night when ap over it exceeds ``storm_ap_max`` or Dst falls below
        ``storm_dst_min_nT`` (nT).
    vertical, horizontal
        Component names; ``horizontal`` ``None``: the first pair of
        :data:`HORIZONTAL_PAIRS` the record has.
    """

    bands: tuple[tuple[str, float, float], ...] = DEFAULT_BANDS
    nights: tuple[tuple[float, float], ...] = ((22.0, 2.0), (2.0, 6.0))
    utc_offset_h: float | None = None
    segment_s: float = 1800.0
    overlap: float = 0.5
    window: str = "hamming"
    detrend: str = "linear"
    max_missing_fraction: float = 0.1
    min_segment_fraction: float = 0.5
    spike_sigma: float | None = 7.0
    storm_ap_max: float = 27.0
    storm_dst_min_nT: float = -30.0
    vertical: str = "Z"
    horizontal: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        # normalise sequences to tuples so that equality, hashing and JSON are stable
        object.__setattr__(self, "bands", tuple(
            (str(n), float(lo), float(hi)) for n, lo, hi in self.bands))
        object.__setattr__(self, "nights", tuple(
            (float(s), float(e)) for s, e in self.nights))
        if self.horizontal is not None:
            object.__setattr__(self, "horizontal", tuple(str(c) for c in self.horizontal))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~geoanom.errors.ConfigError` if the configuration is unusable."""
        def bad(what: str, expected: str, found: object) -> ConfigError:
            return ConfigError(f"ULF config: {what}", expected=expected, found=str(found))

        if not self.bands:
            raise bad("bands", "at least one band", self.bands)
        names = [b[0] for b in self.bands]
        if len(set(names)) != len(names) or not all(_NAME.match(n) for n in names):
            raise bad("bands", "distinct names of letters and digits", ", ".join(names))
        for n, lo, hi in self.bands:
            if not (0 < lo < hi):
                raise bad(f"band {n}", "0 < low_hz < high_hz", (lo, hi))
        if not self.nights:
            raise bad("nights", "at least one night window", self.nights)
        for s, e in self.nights:
            if not (0 <= s < 24 and 0 <= e <= 24) or (e - s) % 24 == 0:
                raise bad("nights", "(start, end) local hours in 0..24, not of zero length",
                          (s, e))
        spans = [night_window(s, e) for s, e in self.nights]
        tags = [w.tag for w in spans]
        if len(set(tags)) != len(tags):
            raise bad("nights", "night windows with different start times", self.nights)
        for w in spans:
            if w.offset_s + w.length_s > S_PER_DAY:
                raise bad("nights", "windows inside a night (local noon to local noon)",
                          (w.start_h, w.end_h))
        if self.utc_offset_h is not None and not (-14 <= self.utc_offset_h <= 14):
            raise bad("utc_offset_h", "-14..14 hours or None", self.utc_offset_h)
        if not (self.segment_s > 0):
            raise bad("segment_s", "> 0 seconds", self.segment_s)
        if not (0 <= self.overlap < 1):
            raise bad("overlap", "0 <= overlap < 1", self.overlap)
        if self.detrend not in DETRENDS:
            raise bad("detrend", ", ".join(DETRENDS), self.detrend)
        if not (0 <= self.max_missing_fraction < 1):
            raise bad("max_missing_fraction", "0 <= value < 1", self.max_missing_fraction)
        if not (0 < self.min_segment_fraction <= 1):
            raise bad("min_segment_fraction", "0 < value <= 1", self.min_segment_fraction)
        if self.spike_sigma is not None and not (self.spike_sigma > 0):
            raise bad("spike_sigma", "> 0 or None", self.spike_sigma)
        if self.horizontal is not None and len(self.horizontal) != 2:
            raise bad("horizontal", "two component names or None", self.horizontal)

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready dict: ``bands`` as a table ``name -> [low_hz, high_hz]``, the
        other tuples as lists; :meth:`from_dict` inverts it."""
        d = asdict(self)
        d["bands"] = {n: [lo, hi] for n, lo, hi in self.bands}
        d["nights"] = [list(w) for w in self.nights]
        if self.horizontal is not None:
            d["horizontal"] = list(self.horizontal)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UlfConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys raise ConfigError.

        ``bands`` may also be a list of ``[low_hz, high_hz]`` (named ``b1``, ``b2``, ...) or
        of ``[name, low_hz, high_hz]``.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError("unknown ULF config keys", expected=", ".join(sorted(names)),
                              found=", ".join(unknown))
        kw = dict(d)
        if "bands" in kw:
            kw["bands"] = _bands(kw["bands"])
        if "nights" in kw:
            kw["nights"] = tuple(tuple(w) for w in kw["nights"])
        return cls(**kw)


def _bands(value) -> tuple[tuple[str, float, float], ...]:
    if isinstance(value, Mapping):
        return tuple((str(n), *map(float, b)) for n, b in value.items())
    out = []
    for k, b in enumerate(value, start=1):
        b = list(b)
        if len(b) == 2:
            out.append((f"b{k}", float(b[0]), float(b[1])))
        elif len(b) == 3:
            out.append((str(b[0]), float(b[1]), float(b[2])))
        else:
            raise ConfigError("ULF config: a band is [low_hz, high_hz] or [name, low, high]",
                              found=str(b))
    return tuple(out)


def night_windows(config: UlfConfig) -> list[NightWindow]:
    """The night windows of ``config``, in its order."""
    return [night_window(s, e) for s, e in config.nights]


def _horizontal(record: xr.Dataset, config: UlfConfig) -> tuple[str, str]:
    comps = component_names(record)
    if config.horizontal is not None:
        pair = tuple(config.horizontal)
    else:
        pair = next((p for p in HORIZONTAL_PAIRS if all(c in comps for c in p)), None)
        if pair is None:
            raise ValidationError("the record has no horizontal component pair",
                                  expected=" or ".join("/".join(p) for p in HORIZONTAL_PAIRS),
                                  found="components " + ", ".join(comps))
    missing = [c for c in (config.vertical, *pair) if c not in comps]
    if missing:
        raise ValidationError("the record lacks components the ULF features use",
                              expected=", ".join((config.vertical, *pair)),
                              found="components " + ", ".join(comps))
    return pair[0], pair[1]


# --------------------------------------------------------------------------------------------
# the features


def _validate_in_blocks(record: xr.Dataset) -> None:
    """:func:`geoanom.record.validate_record` on slices of :data:`VALIDATE_BLOCK` samples
    that overlap by one (so every step between samples is checked once)."""
    n = int(record.sizes.get("time", 0))
    if n <= VALIDATE_BLOCK:
        validate_record(record)
        return
    for a in range(0, n - 1, VALIDATE_BLOCK):
        validate_record(record.isel(time=slice(a, a + VALIDATE_BLOCK + 1)))


def _read(record: xr.Dataset, name: str, a: int, b: int, fill) -> np.ndarray:
    """Samples ``[a, b)`` of a variable; indices outside the record hold ``fill``. A
    dask-backed variable is read slice by slice, in this thread."""
    n = int(record.sizes["time"])
    lo, hi = max(a, 0), min(b, n)
    data = record[name].data[lo:hi]
    if hasattr(data, "compute"):
        data = data.compute(scheduler="synchronous")
    data = np.asarray(data)
    if lo == a and hi == b:
        return data
    out = np.full(b - a, fill, dtype=data.dtype)
    out[lo - a:hi - a] = data
    return out


def _chunk_features(record: xr.Dataset, comps: Sequence[str], grid: NightGrid, nights: slice,
                    plan, config: UlfConfig, arcmin: dict[str, str]) -> dict[str, np.ndarray]:
    """Band powers, validity and valid fractions of the nights ``nights`` of the grid."""
    starts = grid.starts[nights]
    a = int(starts.min())
    b = int((starts + grid.lengths[None, :]).max())
    vals, oks = [], []
    for c in comps:
        v = _read(record, c, a, b, np.nan).astype(np.float64, copy=False)
        f = _read(record, f"{c}_flag", a, b, FLAG_MISSING)
        ok = (f == FLAG_VALID) & np.isfinite(v)
        vals.append(np.where(ok, v, 0.0))
        oks.append(ok)
    n_n, n_w = starts.shape
    n_b = len(config.bands)
    out = {"psd": np.full((len(comps), n_n, n_w, n_b), np.nan),
           "valid": np.zeros((n_n, n_w), bool),
           "valid_fraction": np.zeros((n_n, n_w)),
           "n_segments": np.zeros((n_n, n_w), np.int64)}
    # windows of one length are gathered together: one strided view, one FFT
    for length in np.unique(grid.lengths):
        cols = np.flatnonzero(grid.lengths == length)
        first = (starts[:, cols] - a).ravel()
        x = np.stack([sliding_window_view(v, int(length))[first] for v in vals])
        ok = np.stack([sliding_window_view(o, int(length))[first] for o in oks])
        if config.spike_sigma is not None:
            for j in range(len(comps)):
                ok[j] &= ~spike_mask(x[j], ok[j], config.spike_sigma)
        n_valid = ok.sum(axis=-1).T  # (rows, components)
        seg_ok = np.logical_and.reduce([segment_valid(o, plan) for o in ok])
        k_all = plan.n_segments(int(length))
        used = seg_ok.sum(axis=-1)
        valid = (window_is_valid(n_valid, int(length), config.max_missing_fraction)
                 & (used >= math.ceil(config.min_segment_fraction * k_all)) & (used > 0))
        for j, c in enumerate(comps):
            xj = np.where(ok[j], x[j], 0.0)
            p = band_psd(xj, seg_ok, plan)
            if c in arcmin:  # D in arcmin: nT of east-west variation with the window's mean H
                h = comps.index(arcmin[c])
                with np.errstate(invalid="ignore", divide="ignore"):
                    h_mean = (x[h] * ok[h]).sum(axis=-1) / ok[h].sum(axis=-1)
                p = p * ((h_mean * _ARCMIN_RAD) ** 2)[:, None]
            p[~valid] = np.nan
            out["psd"][j][:, cols] = p.reshape(n_n, cols.size, n_b)
        out["valid"][:, cols] = valid.reshape(n_n, cols.size)
        out["valid_fraction"][:, cols] = valid_fraction(n_valid, int(length)).reshape(
            n_n, cols.size)
        out["n_segments"][:, cols] = np.where(valid, used, 0).reshape(n_n, cols.size)
    return out


def ulf_polarisation(record: xr.Dataset, config: UlfConfig | None = None, *,
                     activity=None, chunk_nights: int = 8) -> xr.Dataset:
    """Nightly ULF band powers and Z/G polarisation ratios of a station record.

    Parameters
    ----------
    record
        Station record (:mod:`geoanom.record`) of a vertical and two horizontal components
        (nT; D may be in arcmin), at a cadence that resolves the bands (1 s); in memory or
        lazy (dask-backed, e.g. :func:`geoanom.detector.distributed.open_record_lazy`).
    config
        :class:`UlfConfig` (default: its defaults).
    activity
        Activity indices for the storm flags: a :func:`geoanom.io.indices.read_index`
        dataset, a DataFrame with a ``time`` column and ``ap`` and/or ``dst``/``dst_nT``
        columns, or a sequence of those (e.g. the Kp/ap and the Dst files). ``None``: no
        storm flags.
    chunk_nights
        Nights processed at a time (bounds memory; does not change the result).

    Returns
    -------
    xarray.Dataset
        The feature record (module docstring); passes :func:`geoanom.record.validate_record`.
    """
    cfg = config or UlfConfig()
    _validate_in_blocks(record)
    period = float(record.attrs.get("sampling_period_s", float("nan")))
    if not (period > 0):
        raise ValidationError("record has no usable sampling_period_s", found=str(period))
    h1, h2 = _horizontal(record, cfg)
    comps = [cfg.vertical, h1, h2]
    units = {c: str(record[c].attrs.get("units", "nT")) for c in comps}
    arcmin = {}
    for c, other in ((h1, h2), (h2, h1)):
        if units[c] == "arcmin":
            if units[other] != "nT":
                raise ValidationError("a declination in arcmin needs H in nT beside it",
                                      expected=f"{other} in nT", found=units[other])
            arcmin[c] = other
    plan = welch_plan(period, segment_s=cfg.segment_s, overlap=cfg.overlap,
                      window=cfg.window, detrend=cfg.detrend,
                      bands_hz=[(lo, hi) for _, lo, hi in cfg.bands])
    offset_s, local_rule = local_time_offset_s(
        float(record.attrs.get("longitude_deg", float("nan"))), cfg.utc_offset_h)
    grid = night_grid(record, night_windows(cfg), period, offset_s)
    if grid.starts.shape[0] == 0:
        raise ValidationError("the record holds no whole night window",
                              expected=f"at least {min(grid.lengths) * period / 3600:g} h of "
                                       f"local night ({cfg.nights})",
                              found=f"{grid.n_samples * period / 3600:g} h of record")
    if int(grid.lengths.min()) < plan.length:
        raise ConfigError("a night window is shorter than one Welch segment",
                          expected=f">= {cfg.segment_s:g} s", found=str(cfg.nights))
    n_nights = grid.starts.shape[0]
    # a lazy record's files stay few and open: each holds its own HDF5 chunk cache
    with xr.set_options(file_cache_maxsize=WORKER_OPEN_FILES):
        parts = [_chunk_features(record, comps, grid,
                                 slice(k, min(k + chunk_nights, n_nights)), plan, cfg, arcmin)
                 for k in range(0, n_nights, max(1, int(chunk_nights)))]
    res = {k: np.concatenate([p[k] for p in parts], axis=1 if k == "psd" else 0)
           for k in parts[0]}
    return _feature_record(record, cfg, grid, comps, res, local_rule, activity)


def _feature_record(record: xr.Dataset, cfg: UlfConfig, grid: NightGrid, comps: list[str],
                    res: dict[str, np.ndarray], local_rule: str, activity) -> xr.Dataset:
    wins = night_windows(cfg)
    first = grid.starts.min(axis=1)
    last = (grid.starts + grid.lengths[None, :]).max(axis=1)
    time = (grid.t0_ns + first * grid.period_ns).astype("datetime64[ns]")
    end = (grid.t0_ns + last * grid.period_ns).astype("datetime64[ns]")
    values, flags, units, band_hz = {}, {}, {}, {}
    pz, ph1, ph2 = res["psd"]
    for w, win in enumerate(wins):
        bad = ~res["valid"][:, w]
        for b, (band, lo, hi) in enumerate(cfg.bands):
            sfx = f"{band}_{win.tag}"
            pg = ph1[:, w, b] + ph2[:, w, b]
            with np.errstate(invalid="ignore", divide="ignore"):
                zg = np.sqrt(pz[:, w, b] / pg)
            for name, v, u in ((f"zg_{sfx}", zg, "1"), (f"pz_{sfx}", pz[:, w, b], "nT2 Hz-1"),
                               (f"pg_{sfx}", pg, "nT2 Hz-1"),
                               (f"p{comps[1].lower()}_{sfx}", ph1[:, w, b], "nT2 Hz-1"),
                               (f"p{comps[2].lower()}_{sfx}", ph2[:, w, b], "nT2 Hz-1")):
                values[name] = v
                flags[name] = np.where(bad | ~np.isfinite(v), FLAG_MISSING, FLAG_VALID)
                units[name] = u
                band_hz[name] = np.array([lo, hi])
    period = grid.period_ns / NS_PER_S
    keep = ("iaga_code", "station_name", "latitude_deg", "longitude_deg", "elevation_m",
            "data_type", "source")
    attrs = {k: record.attrs[k] for k in keep if k in record.attrs}
    attrs.update({
        "sampling_period_s": float(S_PER_DAY),
        "source_sampling_period_s": float(period),
        "feature_kind": "ulf_polarisation",
        "ulf_config": canonical_json(cfg.to_dict()),
        "night_windows": json.dumps([
            {"tag": w.tag, "local_start_h": w.start_h, "local_end_h": w.end_h,
             "offset_s": int(round((grid.starts[0, j] - first[0]) * period)),
             "length_s": int(round(grid.lengths[j] * period))}
            for j, w in enumerate(wins)]),
        "local_time": local_rule,
        "components_used": ",".join(comps),
        "history": str(record.attrs.get("history", "")),
    })
    ds = make_record(time, values, flags=flags, units=units, attrs=attrs,
                     history=f"ulf_polarisation({canonical_json(cfg.to_dict())})")
    for k, hz in band_hz.items():  # on the variables: no DataArray built per name
        ds.variables[k].attrs.update(long_name=_long_name(k, comps), band_hz=hz)
    coords = {"end": ("time", end, {"long_name": "end of the night's last window, exclusive"})}
    for w, win in enumerate(wins):
        coords[f"valid_{win.tag}"] = ("time", res["valid"][:, w].astype(np.int8),
                                      {"flag_values": np.array([0, 1], np.int8),
                                       "flag_meanings": "invalid valid"})
        coords[f"valid_fraction_{win.tag}"] = ("time", res["valid_fraction"][:, w],
                                               {"units": "1"})
        coords[f"n_segments_{win.tag}"] = ("time", res["n_segments"][:, w],
                                           {"long_name": "Welch segments averaged"})
    if activity is not None:
        coords.update({k: ("time", v, a) for k, (v, a) in storm_flags(
            activity, time, end, ap_max=cfg.storm_ap_max,
            dst_min_nT=cfg.storm_dst_min_nT).items()})
    return ds.assign_coords({k: xr.Variable(("time",), v, a) for k, (_, v, a) in coords.items()})


def _long_name(name: str, comps: list[str]) -> str:
    q, band, tag = name.split("_")
    what = {"zg": "polarisation ratio Z/G", "pz": f"{comps[0]} power spectral density",
            "pg": "horizontal (G) power spectral density"}.get(
        q, f"{q[1:].upper()} power spectral density")
    return f"{what}, band {band}, night window {tag}"


# --------------------------------------------------------------------------------------------
# many station-years


def _features_task(record, config: dict, activity, chunk_nights: int) -> xr.Dataset:
    """One station-year on a worker: a path (or paths) is opened lazily there."""
    if isinstance(record, (str, os.PathLike, list, tuple)):
        record = open_record_lazy(record)
    return ulf_polarisation(record, UlfConfig.from_dict(config), activity=activity,
                            chunk_nights=chunk_nights)


def ulf_polarisation_many(records: Sequence, config: UlfConfig | None = None, client=None, *,
                          activity=None, chunk_nights: int = 8) -> list[xr.Dataset]:
    """:func:`ulf_polarisation` of many station records (station-years), on dask or here.

    Parameters
    ----------
    records
        Station records (in memory or lazy) or, per record, its netCDF file(s), which a worker
        opens lazily (:func:`geoanom.detector.distributed.open_record_lazy`) so that no
        record travels to it and it reads one chunk of nights at a time.
    config, activity, chunk_nights
        As in :func:`ulf_polarisation` (the same for every record).
    client
        A ``distributed.Client`` (:func:`geoanom.detector.distributed.get_client`): one task
        per record. ``None``: one after the other in this process.

    Returns
    -------
    list of xarray.Dataset
        One feature record per record, in order; equal to the serial results.
    """
    cfg = (config or UlfConfig()).to_dict()
    if client is None:
        return [_features_task(r, cfg, activity, chunk_nights) for r in records]
    import dask

    tasks = [dask.delayed(_features_task, pure=False, traverse=False)(
        r, cfg, activity, chunk_nights) for r in records]
    return client.gather(client.compute(tasks))
