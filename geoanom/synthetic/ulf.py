"""The 1-s ULF world: Pc3-Pc5 pulsations shaped by local time and season, and a night-time
rise of the polarisation ratio Z/G in one band before chosen earthquakes.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions). A
ULF station record is the ordinary synthetic record (:mod:`~geoanom.synthetic.station`:
Sq, storms from the activity index, irregular variations, instrument noise, spikes, gaps)
plus two parts, each set by :class:`UlfWorldConfig`:

* **Pulsations** in the IAGA classes Pc3, Pc4 and Pc5
  (:data:`geoanom.detector.preprocess.ULF_BANDS`): band-limited noise shared by all
  stations (seeded by the activity index's ``external_seed``, times each station's
  variation gain), X at the class's amplitude, Y at 0.7 of it and Z at ``z_ratio`` of it,
  each from its own stream. The amplitude follows activity like the other variations
  (``((ap + 3) / 7) ** 0.75``), local time (a day-side maximum: Pc3 near 11, Pc4 near 9,
  Pc5 near 7 local time, Gaussian in time of width 3 h, falling to ``night_fraction`` of
  the maximum at night) and season (``1 + seasonal cos(2 pi (doy - 172) / 365.2422)``,
  northern summer largest; reversed south of the magnetic equator).
* **The Z/G rise**: for every event that carries a precursor at the station (the windows
  of :func:`~geoanom.synthetic.precursors.precursor_windows`, optionally only the events
  named in ``event_ids``), every night whose span ``night_lt_h`` (local mean solar time)
  lies inside the event's lead window is a *raised night*: there the part of Z in
  ``band_hz`` is multiplied by ``1 + rise`` (its Fourier coefficients in the band, over
  the night and ``taper_h`` + 1 h either side), with a raised-cosine ramp over ``taper_h``
  before and after the night span. H is not touched, so the ratio Z/G of the band rises by
  exactly the factor ``1 + rise`` over the night span (band powers by ``(1 + rise) ** 2``);
  bands beside it see only the spectral leakage of their estimator. The rise needs no
  random numbers: a world with ``rise = 0`` has the same samples everywhere, and one with
  ``rise > 0`` differs from it only in Z on raised nights.

F is the scalar instrument of the ordinary record (the pulsations and the rise, a few
tenths of a nT, are left out of it). Chunks of a ULF record end at local noon, so that a
night is never cut; the records are the same whatever the chunk length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.fft
import xarray as xr

from geoanom._time import NS_PER_DAY, NS_PER_S
from geoanom.detector.preprocess import ULF_BANDS
from geoanom.errors import ConfigError
from geoanom.record import make_record
from geoanom.synthetic.common import StationConfig, _as_station, _seeded
from geoanom.synthetic.station import _BandNoise, _sq_bump, _StationGenerator

__all__ = ["UlfWorldConfig", "PULSATIONS", "raised_nights", "ulf_station_record",
           "iter_ulf_station_record"]

#: Pulsation classes of the ULF world: (name in ULF_BANDS, local time of the maximum, h).
PULSATIONS = (("Pc3", 11.0), ("Pc4", 9.0), ("Pc5", 7.0))

#: Width (h) of the day-side maximum of the pulsations.
PULSATION_WIDTH_H = 3.0

#: Time (h) beyond the ramps that the Fourier band split of a raised night also takes,
#: so that the edges of the transform lie outside the ramps.
RISE_PAD_H = 1.0


@dataclass(frozen=True)
class UlfWorldConfig:
    """The ULF parts of a 1-s world (see the module docstring).

    Parameters
    ----------
    rise
        Z/G in ``band_hz`` rises by the factor ``1 + rise`` on raised nights (0: no rise).
    band_hz
        The band of the rise, Hz.
    night_lt_h
        Night span of the rise, ``(start, end)`` local mean solar hours (wrapping midnight).
    taper_h
        Raised-cosine ramps before and after the night span, h.
    event_ids
        Events whose lead windows raise nights (``None``: every event that carries a
        precursor at the station).
    pc3_nT, pc4_nT, pc5_nT
        RMS in X of the pulsations at their day-side maximum at quiet times, nT.
    z_ratio
        Z amplitude of the pulsations relative to X.
    night_fraction
        Amplitude of the pulsations far from their maximum, relative to it.
    seasonal
        Relative amplitude of the seasonal modulation.
    """

    rise: float = 0.0
    band_hz: tuple[float, float] = (0.03, 0.04)
    night_lt_h: tuple[float, float] = (22.0, 6.0)
    taper_h: float = 0.5
    event_ids: tuple[str, ...] | None = None
    pc3_nT: float = 0.3
    pc4_nT: float = 0.4
    pc5_nT: float = 1.0
    z_ratio: float = 0.3
    night_fraction: float = 0.2
    seasonal: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "band_hz", tuple(float(v) for v in self.band_hz))
        object.__setattr__(self, "night_lt_h", tuple(float(v) for v in self.night_lt_h))
        if self.event_ids is not None:
            object.__setattr__(self, "event_ids", tuple(str(e) for e in self.event_ids))
        if not (self.rise >= 0):
            raise ConfigError("ULF world: rise must be >= 0", found=str(self.rise))
        lo, hi = self.band_hz
        if not (0 < lo < hi):
            raise ConfigError("ULF world: band_hz", expected="0 < low < high",
                              found=str(self.band_hz))
        if not (self.taper_h >= 0):
            raise ConfigError("ULF world: taper_h must be >= 0", found=str(self.taper_h))
        start, end = self.night_lt_h
        margin = self.taper_h + RISE_PAD_H
        # the night span and its margins stay inside one local noon-to-noon day
        if not (0 <= start < 24 and 0 <= end <= 24) or not (
                margin < (start - 12.0) % 24.0 and (end - 12.0) % 24.0 + margin < 24.0
                and (start - 12.0) % 24.0 < (end - 12.0) % 24.0):
            raise ConfigError("ULF world: night_lt_h with its ramps must lie between two "
                              "local noons", expected=f"ramps of {margin:g} h clear of noon",
                              found=str(self.night_lt_h))
        for name in ("pc3_nT", "pc4_nT", "pc5_nT", "z_ratio", "night_fraction", "seasonal"):
            if not (getattr(self, name) >= 0):
                raise ConfigError(f"ULF world: {name} must be >= 0",
                                  found=str(getattr(self, name)))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["band_hz"] = list(self.band_hz)
        d["night_lt_h"] = list(self.night_lt_h)
        if self.event_ids is not None:
            d["event_ids"] = list(self.event_ids)
        return d


def _local_offset_ns(longitude_deg: float) -> int:
    lon = (float(longitude_deg) + 180.0) % 360.0 - 180.0
    return int(round(lon / 15.0 * 3600 * NS_PER_S))


def raised_nights(windows: pd.DataFrame, station: object, config: UlfWorldConfig,
                  start_ns: int, end_ns: int) -> pd.DataFrame:
    """The raised nights of a station: night spans inside a lead window of a chosen event,
    with the whole span and its ramps inside ``[start_ns, end_ns)``.

    Returns
    -------
    pandas.DataFrame
        ``station, night_start, night_end`` (UTC), ``event_ids`` (";"-joined),
        ``band_low_hz, band_high_hz, zg_factor`` (``1 + rise``), one row per night.
    """
    st = _as_station(station)
    cols = ["station", "night_start", "night_end", "event_ids", "band_low_hz",
            "band_high_hz", "zg_factor"]
    w = windows[windows["station"] == st.code] if len(windows) else windows
    if config.event_ids is not None and len(w):
        w = w[w["event_id"].astype(str).isin(config.event_ids)]
    if not len(w) or config.rise <= 0:
        return pd.DataFrame(columns=cols)
    off = _local_offset_ns(st.longitude_deg)
    s_h, e_h = config.night_lt_h
    span = int(round(((e_h - s_h) % 24.0) * 3600 * NS_PER_S))
    margin = int(round((config.taper_h + RISE_PAD_H) * 3600 * NS_PER_S))
    first = int(round(s_h * 3600 * NS_PER_S)) - off
    d0 = (start_ns - first) // NS_PER_DAY
    starts = first + np.arange(d0, (end_ns - first) // NS_PER_DAY + 1) * NS_PER_DAY
    starts = starts[(starts - margin >= start_ns) & (starts + span + margin <= end_ns)]
    ws = w["start"].values.astype("datetime64[ns]").astype(np.int64)
    we = w["end"].values.astype("datetime64[ns]").astype(np.int64)
    inside = (starts[:, None] >= ws[None, :]) & (starts[:, None] + span <= we[None, :])
    rows = []
    ids = w["event_id"].astype(str).to_numpy()
    for k in np.flatnonzero(inside.any(axis=1)):
        rows.append((st.code, starts[k], starts[k] + span, ";".join(ids[inside[k]]),
                     config.band_hz[0], config.band_hz[1], 1.0 + config.rise))
    df = pd.DataFrame(rows, columns=cols)
    for c in ("night_start", "night_end"):
        df[c] = pd.to_datetime(df[c].astype(np.int64)).astype("datetime64[ns]")
    return df


class _UlfGenerator:
    """The ordinary station generator plus pulsations and Z/G rises, chunk by chunk; chunks
    given to :meth:`next` must end at local noon (or at the record's end)."""

    def __init__(self, station, activity: xr.Dataset, start: object, days: float,
                 cadence_s: float, rng: np.random.Generator, precursors: pd.DataFrame | None,
                 config: StationConfig, ulf: UlfWorldConfig) -> None:
        # the ordinary generator draws from ``rng`` as it does alone: a ULF record is the
        # ordinary record of the same seed plus the pulsations and the rises
        self.base = _StationGenerator(_as_station(station), activity, start, days, cadence_s,
                                      rng, precursors, config)
        self.ulf, self.dt = ulf, float(cadence_s)
        nyq = 0.5 / self.dt
        if ulf.band_hz[1] > 0.9 * nyq:
            raise ConfigError("the ULF rise band is not resolved at this cadence",
                              expected=f"band_hz below {0.9 * nyq:g} Hz (cadence 1 s)",
                              found=f"{ulf.band_hz} at {cadence_s:g} s")
        seed = int(activity.attrs["external_seed"])
        self.pulse = []
        for i, (name, peak_h) in enumerate(PULSATIONS):
            band = ULF_BANDS[name]
            if band[1] <= 0.9 * nyq:
                noise = [_BandNoise(_seeded(seed, 7, i, j), self.dt, band) for j in range(3)]
                self.pulse.append((getattr(ulf, f"{name.lower()}_nT"), peak_h, noise))
        st = self.base.st
        self.offset_ns = _local_offset_ns(st.longitude_deg)
        self.south = self.base.site["magnetic_latitude_deg"] < 0
        t0 = int(self.base.t_start)
        self.raised = raised_nights(precursors if precursors is not None else pd.DataFrame(),
                                    st, ulf, t0, t0 + self.base.n_total * self.base.step)

    @property
    def spikes(self) -> pd.DataFrame:
        return self.base.spikes

    @property
    def gaps(self) -> pd.DataFrame:
        return self.base.gaps

    @property
    def site(self) -> dict:
        return self.base.site

    def noon_chunks(self, chunk_days: float) -> Iterator[int]:
        """Sample counts of consecutive chunks that end at local noon, ``chunk_days``
        (whole days, at least 1) apart, and at the record's end."""
        step, n = self.base.step, self.base.n_total
        t0 = int(self.base.t_start)
        noon = 12 * 3600 * NS_PER_S - self.offset_ns
        first = noon + ((t0 - noon) // NS_PER_DAY + 1) * NS_PER_DAY
        per = max(1, int(round(chunk_days))) * (NS_PER_DAY // step)
        bounds = [min(n, (first - t0 + step - 1) // step)]
        while bounds[-1] < n:
            bounds.append(min(n, bounds[-1] + per))
        prev = 0
        for b in bounds:
            if b > prev:
                yield b - prev
            prev = b

    def attrs(self) -> dict:
        a = self.base.attrs()
        a["ulf_world"] = json.dumps(self.ulf.to_dict(), sort_keys=True)
        return a

    def next(self, n: int) -> tuple[np.ndarray, dict, dict]:
        t, comps, flags = self.base.next(n)
        ti = t.astype(np.int64)
        env = self.base.ext.envelope(ti)
        lt = ((ti + self.offset_ns) % NS_PER_DAY) / 3.6e12
        doy = ((ti - np.datetime64("2000-01-01", "ns").astype(np.int64)) / NS_PER_DAY) % 365.2422
        season = 1.0 + self.ulf.seasonal * (-1.0 if self.south else 1.0) * np.cos(
            2 * np.pi * (doy - 172.0) / 365.2422)
        g = self.base.site["variation_gain"]
        nf = self.ulf.night_fraction
        for amp, peak_h, (bx, by, bz) in self.pulse:
            a = g * amp * env * season * (nf + (1.0 - nf) * _sq_bump(lt, peak_h,
                                                                     PULSATION_WIDTH_H))
            comps["X"] = comps["X"] + a * bx.next(n)
            comps["Y"] = comps["Y"] + 0.7 * a * by.next(n)
            comps["Z"] = comps["Z"] + self.ulf.z_ratio * a * bz.next(n)
        comps["Z"] = comps["Z"] + self._rise(ti, comps["Z"])
        res = self.base.cfg.resolution_nT
        if res > 0:
            for c in "XYZ":
                comps[c] = np.round(comps[c] / res) * res
        return t, comps, flags

    def _rise(self, ti: np.ndarray, z: np.ndarray) -> np.ndarray:
        """What the raised nights of this chunk add to Z (zeros elsewhere)."""
        out = np.zeros(ti.size)
        if not len(self.raised) or self.ulf.rise <= 0:
            return out
        ns = self.raised["night_start"].values.astype(np.int64)
        ne = self.raised["night_end"].values.astype(np.int64)
        taper = self.ulf.taper_h * 3600 * NS_PER_S
        margin = int(round((self.ulf.taper_h + RISE_PAD_H) * 3600 * NS_PER_S))
        zc = z.copy()
        sp = self.base.spikes  # spikes are the instrument's: they do not rise with Z
        isz = sp["component"].to_numpy() == "Z"
        t_sp = sp["time"].values.astype(np.int64)[isz]
        j = np.searchsorted(ti, t_sp)
        hit = (j < ti.size) & (ti[np.minimum(j, ti.size - 1)] == t_sp)
        np.subtract.at(zc, j[hit], sp["amplitude_nT"].to_numpy(float)[isz][hit])
        lo, hi = self.ulf.band_hz
        for s, e in zip(ns, ne, strict=True):
            if s - margin < ti[0] or e + margin > ti[-1] + self.base.step:
                continue
            i0, i1 = np.searchsorted(ti, [s - margin, e + margin])
            seg = zc[i0:i1]
            k = np.arange(seg.size)
            seg = seg - np.polyval(np.polyfit(k, seg, 1), k)
            f = scipy.fft.rfftfreq(seg.size, d=self.dt)
            spec = scipy.fft.rfft(seg)
            spec[(f < lo) | (f >= hi)] = 0.0
            band = scipy.fft.irfft(spec, n=seg.size)
            x = ti[i0:i1]
            w = np.ones(x.size)
            if taper > 0:
                w = np.minimum(w, 0.5 * (1 - np.cos(np.pi * np.clip((x - (s - taper)) / taper,
                                                                     0, 1))))
                w = np.minimum(w, 0.5 * (1 - np.cos(np.pi * np.clip(((e + taper) - x) / taper,
                                                                     0, 1))))
            else:
                w = ((x >= s) & (x < e)).astype(float)
            out[i0:i1] += self.ulf.rise * w * band
        return out


def _history(cadence_s: float) -> str:
    return f"synthetic ULF record (geoanom.synthetic, {cadence_s:g} s)"


def iter_ulf_station_record(
    station: object,
    activity: xr.Dataset,
    *,
    start: object,
    days: float,
    cadence_s: float = 1.0,
    rng: np.random.Generator,
    precursors: pd.DataFrame | None = None,
    config: StationConfig | None = None,
    ulf: UlfWorldConfig | None = None,
    chunk_days: float = 1.0,
) -> Iterator[xr.Dataset]:
    """Yield a ULF station record in chunks ending at local noon, ``chunk_days`` whole days
    apart (for long 1-s spans); their concatenation equals :func:`ulf_station_record` with
    the same arguments, sample for sample."""
    gen = _UlfGenerator(station, activity, start, days, cadence_s, rng, precursors,
                        config or StationConfig(), ulf or UlfWorldConfig())
    attrs = gen.attrs()
    for n in gen.noon_chunks(chunk_days):
        t, comps, flags = gen.next(n)
        yield make_record(t, comps, flags=flags, attrs=attrs, history=_history(cadence_s))


def ulf_station_record(
    station: object,
    activity: xr.Dataset,
    *,
    start: object,
    days: float,
    cadence_s: float = 1.0,
    rng: np.random.Generator,
    precursors: pd.DataFrame | None = None,
    config: StationConfig | None = None,
    ulf: UlfWorldConfig | None = None,
) -> xr.Dataset:
    """A synthetic 1-s station record of the ULF world (X, Y, Z, F in nT).

    Parameters as :func:`geoanom.synthetic.station.station_record`, plus ``ulf`` (the
    pulsations and the rise). ``precursors`` (:func:`precursor_windows`) choose the raised
    nights; their nT amplitudes add the ordinary precursor noise as well (zero with
    strength 0). ``attrs["raised_nights"]`` lists the raised nights (JSON).
    """
    return _ulf_station_record(station, activity, start, days, cadence_s, rng, precursors,
                               config, ulf=ulf)[0]


def _ulf_station_record(station, activity, start, days, cadence_s, rng, precursors, config,
                        *, ulf: UlfWorldConfig | None):
    """:func:`ulf_station_record` plus its generator (spikes, gaps, site, raised nights)."""
    gen = _UlfGenerator(station, activity, start, days, cadence_s, rng, precursors,
                        config or StationConfig(), ulf or UlfWorldConfig())
    parts = [gen.next(n) for n in gen.noon_chunks(1.0)]
    t = np.concatenate([p[0] for p in parts])
    comps = {c: np.concatenate([p[1][c] for p in parts]) for c in parts[0][1]}
    flags = {c: np.concatenate([p[2][c] for p in parts]) for c in parts[0][2]}
    attrs = gen.attrs()
    attrs["site_response"] = json.dumps(gen.site, sort_keys=True)
    ds = make_record(t, comps, flags=flags, attrs=attrs, history=_history(cadence_s))
    raised = gen.raised.copy()
    for c in ("night_start", "night_end"):
        raised[c] = pd.to_datetime(raised[c]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    ds.attrs["raised_nights"] = raised.to_json(orient="records")
    ds.attrs["n_spikes"] = int(len(gen.spikes))
    ds.attrs["n_gaps"] = int(len(gen.gaps))
    return ds, gen


