"""Station records of the synthetic world: noise series, Sq, storms, pulsations, instrument
noise, spikes, gaps and (optionally) precursors, generated chunk by chunk.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal

from geoanom._time import DAYS_PER_YEAR, NS_PER_DAY, NS_PER_S, S_PER_DAY
from geoanom._version import __version__
from geoanom.errors import ConfigError
from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED, FLAG_VALID, make_record
from geoanom.synthetic.activity import storm_disturbance
from geoanom.synthetic.common import (
    StationConfig,
    SyntheticStation,
    _as_station,
    _child,
    _seeded,
    _to_ns,
    ap_from_kp,
    dipole_field,
)
from geoanom.synthetic.precursors import precursor_envelope


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
        self.n_total = int(round(days * S_PER_DAY / cadence_s))
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
        span_days = self.n_total * self.dt / S_PER_DAY
        ts = _events(r_spike, config.spikes_per_day, span_days)
        self.spikes = pd.DataFrame({
            "time": self._abs(ts),
            "component": np.array(["X", "Y", "Z"])[r_spike.integers(0, 3, ts.size)],
            "amplitude_nT": np.round(np.where(r_spike.random(ts.size) < 0.5, -1.0, 1.0)
                                     * 10 ** r_spike.uniform(0.7, 2.5, ts.size), 2),
        })
        gs = _events(r_gap, config.gaps_per_day, span_days)
        gl = np.minimum(config.gap_median_s * np.exp(r_gap.normal(0, 1.5, gs.size)), 2 * S_PER_DAY)
        fs = _events(r_gap, config.f_gaps_per_day, span_days)
        fl = np.minimum(6 * 3600.0 * np.exp(r_gap.normal(0, 1.0, fs.size)), 3 * S_PER_DAY)
        self.gaps = pd.DataFrame({
            "start": self._abs(np.concatenate([gs, fs])),
            "end": self._abs(np.concatenate([gs + np.maximum(gl, self.dt) / S_PER_DAY,
                                             fs + np.maximum(fl, self.dt) / S_PER_DAY])),
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
                self.prec_ratio = (float(p.attrs.get("horizontal_ratio", 0.3))
                    if hasattr(p, "attrs") else 0.3)
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
        years = (ti - self.t_start) / (DAYS_PER_YEAR * NS_PER_DAY)
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
    per = max(1, int(round(chunk_days * S_PER_DAY / cadence_s)))
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
