"""Preprocessing steps from a raw station record to a clean one.

Every step takes a record (:mod:`geoanom.record`) and returns a NEW record with one more
``history`` entry; the input is never modified. Nothing looks ahead in time unless the caller
asks for it by name (``causal=False``).

Flags stay consistent with values: a sample whose flag is not :data:`FLAG_VALID` holds NaN,
and a NaN produced by a step is flagged. Conventions used here:

* a despiked sample, a sample a filter could not compute, a resampling bin with too few valid
  samples, and a sample without a baseline become :data:`FLAG_MISSING` (treated as missing);
* samples outside the selected local-night hours become :data:`FLAG_NOT_OBSERVED` (they were
  excluded on purpose, not lost), so :func:`mask_gaps` never interpolates across them;
* a sample filled by :func:`mask_gaps` is :data:`FLAG_VALID`, and the int8 variable
  ``<component>_interpolated_flag`` (CF ancillary variable, 1 = linearly interpolated) says so.
  Its name ends in ``_flag`` so that :func:`geoanom.record.component_names` does not take it
  for a component.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import NS_PER_DAY
from geoanom.detector.preprocess._record_ops import (
    replace_samples,
    sampling_period_s,
    select_components,
    times_ns,
    to_ns,
    valid_mask,
)
from geoanom.errors import LeakageError, ValidationError
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    append_history,
    component_names,
    validate_record,
)

#: ULF bands in Hz, ``(low_hz, high_hz)``. Pc3-Pc5 follow the IAGA pulsation classes
#: (Jacobs et al. 1964): Pc3 10-45 s, Pc4 45-150 s, Pc5 150-600 s. ``"ULF"`` is the
#: 0.01-0.1 Hz band common in the seismo-electromagnetic literature. 1-minute data have a
#: Nyquist frequency of 1/120 Hz (8.3 mHz): only ``"Pc5"`` (and ``"Pc5_1min"``, which stops
#: safely below Nyquist) are usable there; Pc3, Pc4 and ``"ULF"`` need 1-second data.
ULF_BANDS: dict[str, tuple[float, float]] = {
    "Pc3": (1 / 45, 1 / 10),
    "Pc4": (1 / 150, 1 / 45),
    "Pc5": (1 / 600, 1 / 150),
    "Pc3-5": (1 / 600, 1 / 10),
    "ULF": (0.01, 0.1),
    "Pc5_1min": (1 / 600, 0.9 / 120),
}

_INTERP_SUFFIX = "_interpolated_flag"


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[start, stop)`` index runs where ``mask`` is True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(),
                    strict=True))


# --------------------------------------------------------------------------------------------
# despiking


def despike(record: xr.Dataset, *, window_s: float, threshold: float = 5.0,
            causal: bool = True, min_scale: float = 0.1, jumps: bool = True,
            components=None, chunk: int = 65536) -> xr.Dataset:
    """Remove spikes with a Hampel filter (rolling median and MAD).

    A sample is a spike when ``|x - median| > threshold * max(1.4826 * MAD, min_scale)``,
    median and MAD taken over the valid samples of its window (at least 3). Spikes become
    NaN with :data:`FLAG_MISSING`.

    Parameters
    ----------
    record
        Station record.
    window_s
        Window length in seconds (rounded to whole samples, at least 3).
    threshold
        Cut-off in robust standard deviations. 3.5 (the modified z-score cut-off of Iglewicz
        and Hoaglin 1993) is too eager on short windows: with ``jumps=False`` on Gaussian
        noise it flags 0.35 % of the samples with 30-sample windows and 0.15 % with 60; the
        default 5 flags at most 0.02 % and 0 % (measured, 20,000 samples;
        ``tests/test_preprocess.py``).
    causal
        True (default): the window is the sample and the ``n - 1`` samples before it, so the
        decision never uses later data. False: a centred window (a classic Hampel filter,
        which looks ``n // 2`` samples ahead).
    min_scale
        Floor of the robust scale, in the component's units (nT, arcmin): keeps quantised,
        very quiet data (MAD = 0) from turning every small step into a "spike".
    jumps
        True (default): a level outlier counts as a spike only if its first difference
        ``x[i] - x[i-1]`` is also an outlier among the window's first differences (same test),
        or if ``x[i-1]`` is missing. Geomagnetic records wander like random walks, and a
        causal median lags them: on a Gaussian random walk (100,000 samples) the level test
        alone flags 0.57 % of the samples with 60-sample windows, the combined test none
        (0.004 % with 30); after a real step (a sudden commencement) only its first sample is
        flagged, not 15-30 of them.
        False: the level test alone (a classic Hampel filter).
        Limitation: a causal test cannot tell the onset of a real sudden change from a spike.
        On 1-s WIC data of the May 2024 storm commencement (2 h, 60-s window) the causal
        jump-aware test flags 22 H samples at the sharpest changes (the classic one 302), the
        centred one none: use ``causal=False`` where a look-ahead of ``n // 2`` samples is
        acceptable.
    components
        Components to despike (default all).
    chunk
        Samples processed at a time (bounds memory; does not change the result).
    """
    validate_record(record)
    n = max(3, int(round(window_s / sampling_period_s(record))))
    comps = select_components(record, components)
    values, flags = {}, {}
    counts = {}
    for c in comps:
        x = record[c].values.astype(np.float64)
        f = record[f"{c}_flag"].values.copy()
        x = np.where(f == FLAG_VALID, x, np.nan)
        spike = _hampel_mask(x, n, threshold, causal, min_scale, chunk)
        if jumps:
            # a level outlier is a spike only if it also jumps away from the sample before
            # (when that sample exists): slow excursions of a random-walk-like field, which a
            # lagging causal median mistakes for outliers, do not jump
            d = np.concatenate([[np.nan], np.diff(x)])
            dj = _hampel_mask(d, n, threshold, causal, min_scale, chunk)
            spike &= dj | ~np.isfinite(d)
        counts[c] = int(spike.sum())
        x = x.copy()
        x[spike] = np.nan
        f[spike] = FLAG_MISSING
        values[c], flags[c] = x, f
    step = (f"despike(window={n} samples, threshold={threshold:g}, causal={causal}, "
            f"min_scale={min_scale:g}, jumps={jumps}): removed " +
            ", ".join(f"{c}={k}" for c, k in counts.items()))
    return replace_samples(record, values, flags, step)


def _hampel_mask(x: np.ndarray, n: int, threshold: float, causal: bool, min_scale: float,
                 chunk: int) -> np.ndarray:
    """Boolean spike mask of the Hampel test over windows of ``n`` samples."""
    size = x.size
    if causal:
        before, after = n - 1, 0
    else:
        before = after = n // 2
    pad = np.concatenate([np.full(before, np.nan), x, np.full(after, np.nan)])
    width = before + after + 1
    out = np.zeros(size, dtype=bool)
    for s in range(0, size, chunk):
        e = min(size, s + chunk)
        win = np.lib.stride_tricks.sliding_window_view(pad[s:e + width - 1], width)
        ok = np.sum(np.isfinite(win), axis=1) >= 3
        if not ok.any():
            continue
        w = win[ok]
        med = np.empty(w.shape[0])
        mad = np.empty(w.shape[0])
        # np.median is several times faster than np.nanmedian: use it on gap-free windows
        full = np.isfinite(w).all(axis=1)
        for sel, fn in ((full, np.median), (~full, np.nanmedian)):
            if sel.any():
                ws = w[sel]
                m = fn(ws, axis=1)
                med[sel] = m
                mad[sel] = fn(np.abs(ws - m[:, None]), axis=1)
        scale = np.maximum(1.4826 * mad, min_scale)
        xi = x[s:e][ok]
        with np.errstate(invalid="ignore"):
            spike = np.abs(xi - med) > threshold * scale
        idx = np.flatnonzero(ok) + s
        out[idx] = spike & np.isfinite(xi)
    return out


# --------------------------------------------------------------------------------------------
# gaps


def mask_gaps(record: xr.Dataset, *, max_interp_samples: int = 3,
              components=None) -> xr.Dataset:
    """Fill short gaps by linear interpolation; leave longer ones missing.

    A run of at most ``max_interp_samples`` consecutive :data:`FLAG_MISSING` samples with a
    valid sample on both sides is filled linearly between those two samples and flagged
    valid; the variable ``<component>_interpolated_flag`` (int8, 1 = interpolated) marks it.
    Longer runs, runs at either end, and runs containing :data:`FLAG_NOT_OBSERVED` samples
    are left as they are (NaN, flagged).

    Interpolation looks ahead: a filled sample depends on the valid sample after its gap, at
    most ``max_interp_samples`` samples later. ``max_interp_samples=0`` keeps a processing
    chain strictly causal.

    Parameters
    ----------
    record
        Station record.
    max_interp_samples
        Longest gap, in samples, that is interpolated (0 disables interpolation).
    components
        Components to treat (default all).
    """
    validate_record(record)
    if max_interp_samples < 0:
        raise ValidationError("max_interp_samples must be >= 0", found=str(max_interp_samples))
    comps = select_components(record, components)
    values, flags, interp = {}, {}, {}
    counts = {}
    for c in comps:
        x = record[c].values.astype(np.float64).copy()
        f = record[f"{c}_flag"].values.copy()
        prev = record[f"{c}{_INTERP_SUFFIX}"].values.astype(np.int8) \
            if f"{c}{_INTERP_SUFFIX}" in record else np.zeros(x.size, np.int8)
        done = prev.copy()
        invalid = f != FLAG_VALID
        k = 0
        for a, b in _runs(invalid):
            if b - a > max_interp_samples or a == 0 or b == x.size:
                continue
            if np.any(f[a:b] != FLAG_MISSING):
                continue
            # linear in sample index = linear in time on a regular grid
            w = np.arange(1, b - a + 1) / (b - a + 1)
            x[a:b] = x[a - 1] + w * (x[b] - x[a - 1])
            f[a:b] = FLAG_VALID
            done[a:b] = 1
            k += b - a
        counts[c] = k
        values[c], flags[c], interp[c] = x, f, done
    step = (f"mask_gaps(max_interp_samples={max_interp_samples}): interpolated " +
            ", ".join(f"{c}={k}" for c, k in counts.items()))
    out = replace_samples(record, values, flags, step)
    for c in comps:
        out[f"{c}{_INTERP_SUFFIX}"] = xr.Variable(
            ("time",), interp[c],
            attrs={"flag_values": np.array([0, 1], np.int8),
                   "flag_meanings": "not_interpolated linearly_interpolated",
                   "long_name": f"{c} sample filled by linear interpolation"})
        anc = out[c].attrs.get("ancillary_variables", f"{c}_flag").split()
        if f"{c}{_INTERP_SUFFIX}" not in anc:
            anc.append(f"{c}{_INTERP_SUFFIX}")
        out[c].attrs["ancillary_variables"] = " ".join(anc)
    return out


# --------------------------------------------------------------------------------------------
# baseline


def remove_baseline(record: xr.Dataset, *, window_days: int = 1, method: str = "median",
                    min_valid: float = 0.5, expanding: bool = False,
                    components=None) -> xr.Dataset:
    """Subtract a baseline computed from the previous ``window_days`` whole UTC days.

    For a sample on UTC day ``D`` the baseline comes from the samples in
    ``[D - window_days, D)`` only, so the output at any time never depends on later data
    (and not even on the rest of the same day).

    Parameters
    ----------
    record
        Station record.
    window_days
        Number of previous whole UTC days the baseline uses.
    method
        ``"median"`` or ``"mean"`` (a constant per day), or ``"linear"`` (a least-squares
        line through the previous days, extrapolated over day ``D``: removes a trend).
    min_valid
        Fraction of the window's samples that must be valid; otherwise day ``D`` has no
        baseline and its samples become :data:`FLAG_MISSING`.
    expanding
        False (default): the first ``window_days`` days of the record have no full window
        and become missing. True: they use the whole days the record has before them (at
        least one), ``min_valid`` then applies to those days.
    components
        Components to treat (default all).
    """
    validate_record(record)
    if method not in ("median", "mean", "linear"):
        raise ValidationError("unknown baseline method", expected="median, mean or linear",
                              found=str(method))
    if window_days < 1:
        raise ValidationError("window_days must be >= 1", found=str(window_days))
    period = sampling_period_s(record)
    t = times_ns(record)
    day_ns = NS_PER_DAY
    day = t // day_ns
    per_day = 86_400 / period
    first_day = int(day[0]) if t.size else 0
    days = np.unique(day)
    starts = np.searchsorted(day, days, "left")
    comps = select_components(record, components)
    values, flags = {}, {}
    for c in comps:
        x = record[c].values.astype(np.float64)
        f = record[f"{c}_flag"].values.copy()
        ok = valid_mask(record, c)
        y = np.full_like(x, np.nan)
        for d, s in zip(days.tolist(), starts.tolist(), strict=True):
            e = int(np.searchsorted(day, d, "right"))
            lo_day = d - window_days
            if lo_day < first_day:
                if not expanding or d - first_day < 1:
                    continue
                lo_day = first_day
            lo = int(np.searchsorted(t, lo_day * day_ns, "left"))
            # the window ends where day d starts: nothing from day d or later is used
            sel = slice(lo, s)
            v = ok[sel]
            if v.sum() < min_valid * per_day * (d - lo_day) or v.sum() < 2:
                continue
            xs = x[sel][v]
            if method == "median":
                y[s:e] = x[s:e] - np.median(xs)
            elif method == "mean":
                y[s:e] = x[s:e] - np.mean(xs)
            else:
                ts = (t[sel][v] - d * day_ns) / day_ns
                slope, icpt = np.polyfit(ts, xs, 1)
                y[s:e] = x[s:e] - (icpt + slope * (t[s:e] - d * day_ns) / day_ns)
        f[(f == FLAG_VALID) & ~np.isfinite(y)] = FLAG_MISSING
        values[c], flags[c] = y, f
    step = (f"remove_baseline(window_days={window_days}, method={method}, "
            f"min_valid={min_valid:g}, expanding={expanding}): previous whole UTC days only")
    return replace_samples(record, values, flags, step)


# --------------------------------------------------------------------------------------------
# band-pass


def bandpass(record: xr.Dataset, *, low_hz: float | None = None, high_hz: float | None = None,
             band: str | None = None, order: int = 4, causal: bool = True,
             components=None) -> xr.Dataset:
    """Butterworth band-pass (or low/high-pass) filter, causal by default.

    The filter is designed as second-order sections. Each contiguous run of valid samples is
    filtered separately (no filtering across gaps); a run starts from the steady state of
    its first sample, so a DC level does not ring.

    Parameters
    ----------
    record
        Station record.
    low_hz, high_hz
        Pass band edges in Hz. Only ``low_hz``: high-pass; only ``high_hz``: low-pass.
        ``high_hz`` must be below the Nyquist frequency ``1 / (2 * sampling_period_s)``.
    band
        A name from :data:`ULF_BANDS` instead of ``low_hz``/``high_hz``.
    order
        Butterworth order (per pass, so ``causal=False`` doubles the effective order).
    causal
        True (default): ``scipy.signal.sosfilt``, the output at ``t`` uses samples up to
        ``t`` only. False: zero-phase ``sosfiltfilt``, which looks ahead in time.
    components
        Components to filter (default all).
    """
    from scipy import signal

    validate_record(record)
    if band is not None:
        if band not in ULF_BANDS:
            raise ValidationError("unknown band", expected=", ".join(ULF_BANDS), found=band)
        low_hz, high_hz = ULF_BANDS[band]
    fs = 1.0 / sampling_period_s(record)
    nyq = fs / 2
    if low_hz is None and high_hz is None:
        raise ValidationError("bandpass needs low_hz, high_hz or band")
    if high_hz is not None and not 0 < high_hz < nyq:
        raise ValidationError("high_hz must lie between 0 and the Nyquist frequency",
                              expected=f"0 < high_hz < {nyq:g} Hz", found=f"{high_hz:g} Hz")
    if low_hz is not None and not 0 < low_hz < (high_hz if high_hz is not None else nyq):
        raise ValidationError("low_hz must be positive and below high_hz and Nyquist",
                              expected=f"0 < low_hz < {high_hz or nyq:g} Hz",
                              found=f"{low_hz:g} Hz")
    if low_hz is not None and high_hz is not None:
        sos = signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=fs, output="sos")
    elif low_hz is not None:
        sos = signal.butter(order, low_hz, btype="highpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, high_hz, btype="lowpass", fs=fs, output="sos")
    zi0 = signal.sosfilt_zi(sos)
    comps = select_components(record, components)
    values, flags = {}, {}
    for c in comps:
        x = record[c].values.astype(np.float64)
        f = record[f"{c}_flag"].values.copy()
        y = np.full_like(x, np.nan)
        for a, b in _runs(valid_mask(record, c)):
            seg = x[a:b]
            if causal:
                y[a:b], _ = signal.sosfilt(sos, seg, zi=zi0 * seg[0])
            else:
                padlen = min(3 * (2 * len(sos) + 1), seg.size - 1)
                if seg.size < 2:
                    continue  # too short for a zero-phase pass: left missing
                y[a:b] = signal.sosfiltfilt(sos, seg, padlen=padlen)
        values[c], flags[c] = y, f
    step = (f"bandpass(low_hz={low_hz}, high_hz={high_hz}, order={order}, "
            f"{'causal sosfilt' if causal else 'zero-phase sosfiltfilt (looks ahead)'}, "
            f"valid segments filtered separately)")
    return replace_samples(record, values, flags, step)


# --------------------------------------------------------------------------------------------
# resampling


def resample(record: xr.Dataset, period_s: float, *, how: str = "mean",
             min_valid: float = 0.5, label: str = "left") -> xr.Dataset:
    """Aggregate to a coarser regular cadence.

    Bins are ``[k * period_s, (k + 1) * period_s)`` since the Unix epoch (so hourly and daily
    bins align with UTC hours and days), labelled by their start (default) or end. A bin
    with fewer than ``min_valid * period_s / sampling_period_s`` valid samples is
    :data:`FLAG_MISSING` (or :data:`FLAG_NOT_OBSERVED` if none of its samples was observed).

    Parameters
    ----------
    record
        Station record.
    period_s
        New sampling period in seconds, a whole multiple of the current one.
    how
        ``"mean"``, ``"median"``, ``"min"`` or ``"max"`` of the valid samples.
    min_valid
        Minimum fraction of valid samples per bin.
    label
        ``"left"`` (default): a bin is stamped with its start, so the value stamped ``t``
        summarises ``[t, t + period_s)`` (the usual convention for hourly and daily means,
        but it holds data from after ``t``). ``"right"``: stamped with its end, so nothing
        stamped ``t`` uses data at or after ``t`` (the causal choice).
    """
    validate_record(record)
    if label not in ("left", "right"):
        raise ValidationError("unknown bin label", expected="left or right", found=str(label))
    if how not in ("mean", "median", "min", "max"):
        raise ValidationError("unknown aggregation", expected="mean, median, min or max",
                              found=str(how))
    old = sampling_period_s(record)
    ratio = period_s / old
    if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
        raise ValidationError("resample period must be a whole multiple of the current one",
                              expected=f"a multiple of {old:g} s", found=f"{period_s:g} s")
    p_ns = int(round(period_s * 1e9))
    t = times_ns(record)
    b = t // p_ns
    b0 = int(b[0])
    nb = int(b[-1]) - b0 + 1
    idx = b - b0
    new_t = ((np.arange(nb) + b0 + (1 if label == "right" else 0)) * p_ns
             ).astype("datetime64[ns]")
    expected = round(ratio)
    data_vars = {}
    for c in component_names(record):
        x = record[c].values
        f = record[f"{c}_flag"].values
        ok = valid_mask(record, c)
        cnt = np.bincount(idx[ok], minlength=nb)
        if how == "mean":
            agg = np.bincount(idx[ok], weights=x[ok], minlength=nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                agg = agg / cnt
        else:
            s = pd.Series(x[ok]).groupby(idx[ok]).agg(how)
            agg = np.full(nb, np.nan)
            agg[s.index.to_numpy()] = s.to_numpy()
        nobs = np.bincount(idx, weights=(f != FLAG_NOT_OBSERVED).astype(float), minlength=nb)
        nf = np.where(cnt >= max(1, min_valid * expected), FLAG_VALID,
                      np.where(nobs > 0, FLAG_MISSING, FLAG_NOT_OBSERVED)).astype(np.int8)
        agg = np.where(nf == FLAG_VALID, agg, np.nan)
        data_vars[c] = xr.Variable(("time",), agg, attrs=dict(record[c].attrs))
        data_vars[f"{c}_flag"] = xr.Variable(("time",), nf,
                                             attrs=dict(record[f"{c}_flag"].attrs))
        if f"{c}{_INTERP_SUFFIX}" in record:
            ip = record[f"{c}{_INTERP_SUFFIX}"].values.astype(float)
            anyi = np.bincount(idx, weights=ip, minlength=nb) > 0
            data_vars[f"{c}{_INTERP_SUFFIX}"] = xr.Variable(
                ("time",), anyi.astype(np.int8),
                attrs=dict(record[f"{c}{_INTERP_SUFFIX}"].attrs))
    out = xr.Dataset(data_vars, coords={"time": ("time", new_t,
                                                 dict(record["time"].attrs))})
    out.attrs = dict(record.attrs)
    out.attrs["sampling_period_s"] = float(period_s)
    return append_history(out, f"resample(period_s={period_s:g}, how={how}, "
                               f"min_valid={min_valid:g}, bins labelled by {'start' if label == 'left' else 'end'})")


# --------------------------------------------------------------------------------------------
# local night


def local_mean_solar_hour(time, longitude_deg: float) -> np.ndarray:
    """Local mean solar time in hours, ``UTC + longitude_deg / 15`` modulo 24."""
    t = np.asarray(time).astype("datetime64[ns]").astype(np.int64)
    utc_h = (t % NS_PER_DAY) / 3.6e12
    return np.mod(utc_h + float(longitude_deg) / 15.0, 24.0)


def select_local_night(record: xr.Dataset, *, start_hour: float = 0.0, end_hour: float = 4.0,
                       longitude_deg: float | None = None) -> xr.Dataset:
    """Keep the samples whose local mean solar time is in ``[start_hour, end_hour)``.

    Others become NaN with :data:`FLAG_NOT_OBSERVED`; the time grid stays regular. An
    interval with ``start_hour > end_hour`` wraps midnight (e.g. 22 to 4).

    Parameters
    ----------
    record
        Station record.
    start_hour, end_hour
        Local mean solar hours (0-24).
    longitude_deg
        Station longitude (degrees east; 0-360 or -180-180); default the record's
        ``longitude_deg`` attr.
    """
    validate_record(record)
    lon = record.attrs.get("longitude_deg") if longitude_deg is None else longitude_deg
    lon = float(lon) if lon is not None else float("nan")
    if not np.isfinite(lon):
        raise ValidationError("select_local_night needs the station longitude",
                              expected="longitude_deg attr or argument", found=str(lon))
    h = local_mean_solar_hour(record["time"].values, lon)
    if start_hour <= end_hour:
        keep = (h >= start_hour) & (h < end_hour)
    else:
        keep = (h >= start_hour) | (h < end_hour)
    values, flags = {}, {}
    for c in component_names(record):
        x = record[c].values.astype(np.float64).copy()
        f = record[f"{c}_flag"].values.copy()
        f[~keep & (f == FLAG_VALID)] = FLAG_NOT_OBSERVED
        values[c], flags[c] = x, f
    step = (f"select_local_night(start_hour={start_hour:g}, end_hour={end_hour:g}, "
            f"longitude_deg={lon:g}, local mean solar time = UTC + lon/15 h)")
    return replace_samples(record, values, flags, step)


# --------------------------------------------------------------------------------------------
# remote reference


def _huber_fit(x: np.ndarray, y: np.ndarray, *, intercept: bool, k: float = 1.345,
               max_iter: int = 100, tol: float = 1e-10) -> tuple[float, float]:
    """Huber M-estimate of ``y = a + b x`` (or ``y = b x``) by IRLS; returns ``(a, b)``.

    Scale: 1.4826 * MAD of the residuals, re-estimated each iteration; ``k = 1.345`` gives
    95 % efficiency under Gaussian noise (Huber 1981).
    """
    w = np.ones_like(x)
    a = b = 0.0
    for _ in range(max_iter):
        if intercept:
            sw = w.sum()
            xm, ym = (w * x).sum() / sw, (w * y).sum() / sw
            sxx = (w * (x - xm) ** 2).sum()
            nb = (w * (x - xm) * (y - ym)).sum() / sxx if sxx > 0 else 0.0
            na = ym - nb * xm
        else:
            sxx = (w * x * x).sum()
            nb = (w * x * y).sum() / sxx if sxx > 0 else 0.0
            na = 0.0
        r = y - na - nb * x
        s = 1.4826 * np.median(np.abs(r - np.median(r)))
        if s <= 0:
            s = np.std(r) or 1.0
        u = np.abs(r) / (k * s)
        w = np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-300))
        done = abs(nb - b) <= tol * (1 + abs(b)) and abs(na - a) <= tol * (1 + abs(a))
        a, b = na, nb
        if done:
            break
    return float(a), float(b)


@dataclass
class RemoteReference:
    """Remote-reference subtraction: ``target - (intercept + slope * reference)`` per component.

    The slope of each target component on the same component of a reference station is a
    Huber M-estimate (IRLS), fitted on first differences by default (``on="differences"``)
    so that the different baselines of the two stations do not matter; the intercept is then
    the median of ``target - slope * reference`` over the training samples. Only samples
    strictly before ``train_end`` where both stations are valid enter the fit.

    Noise at the reference biases a regression slope towards zero (errors in variables),
    by the factor ``var(signal) / (var(signal) + var(noise))`` of the reference; on first
    differences that factor is smaller than on levels when the shared signal is slow.
    ``on="levels"`` (after :func:`remove_baseline`) avoids it for slow signals.
    """

    components: tuple[str, ...] = ()
    slope: dict[str, float] = field(default_factory=dict)
    intercept: dict[str, float] = field(default_factory=dict)
    train_end: str = ""
    on: str = "differences"
    n_train: dict[str, int] = field(default_factory=dict)
    reference_code: str = ""
    fitted_on: str = "train"

    @classmethod
    def fit(cls, target: xr.Dataset, reference: xr.Dataset, *, components=None,
            train_end=None, on: str = "differences") -> RemoteReference:
        """Fit on the samples of ``target`` and ``reference`` strictly before ``train_end``.

        Parameters
        ----------
        target, reference
            Station records on the same cadence (times matched exactly).
        components
            Components to fit (default: those both records have).
        train_end
            End of the training period (UTC, exclusive). Required: a fit without it could
            use test data, so it raises :class:`~geoanom.errors.LeakageError`.
        on
            ``"differences"`` (default) or ``"levels"`` (fit ``y = a + b x`` directly).
        """
        if train_end is None:
            raise LeakageError("RemoteReference.fit needs train_end: it fits on training "
                               "data only", expected="a UTC time", found="None")
        if on not in ("differences", "levels"):
            raise ValidationError("unknown fit mode", expected="differences or levels",
                                  found=str(on))
        validate_record(target)
        validate_record(reference)
        end_ns = to_ns(train_end)
        period_ns = int(round(sampling_period_s(target) * 1e9))
        if components is None:
            comps = [c for c in component_names(target) if c in component_names(reference)]
        else:
            comps = select_components(target, components)
            select_components(reference, comps)
        if not comps:
            raise ValidationError("target and reference share no component")
        tt, tr = times_ns(target), times_ns(reference)
        # only the training period of each record enters the fit, before any alignment
        it = np.flatnonzero(tt < end_ns)
        common, ia, ib = np.intersect1d(tt[it], tr[tr < end_ns], return_indices=True)
        ia = it[ia]
        ib = np.flatnonzero(tr < end_ns)[ib]
        slope, icpt, ntr = {}, {}, {}
        for c in comps:
            y = target[c].values[ia]
            x = reference[c].values[ib]
            ok = np.isfinite(x) & np.isfinite(y) & \
                (target[f"{c}_flag"].values[ia] == FLAG_VALID) & \
                (reference[f"{c}_flag"].values[ib] == FLAG_VALID)
            if on == "differences":
                # differences only between consecutive grid samples that are both valid
                step_ok = ok[1:] & ok[:-1] & (np.diff(common) == period_ns)
                dx, dy = np.diff(x)[step_ok], np.diff(y)[step_ok]
                if dx.size < 3:
                    raise ValidationError(f"too few training samples to fit component {c}",
                                          expected="at least 3 valid pairs before train_end",
                                          found=str(dx.size))
                _, b = _huber_fit(dx, dy, intercept=False)
                a = float(np.median(y[ok] - b * x[ok]))
                ntr[c] = int(dx.size)
            else:
                if ok.sum() < 3:
                    raise ValidationError(f"too few training samples to fit component {c}",
                                          expected="at least 3 valid pairs before train_end",
                                          found=str(int(ok.sum())))
                a, b = _huber_fit(x[ok], y[ok], intercept=True)
                ntr[c] = int(ok.sum())
            slope[c], icpt[c] = b, a
        return cls(components=tuple(comps), slope=slope, intercept=icpt,
                   train_end=str(pd.Timestamp(end_ns)), on=on, n_train=ntr,
                   reference_code=str(reference.attrs.get("iaga_code", "")), fitted_on="train")

    def predict(self, reference: xr.Dataset, time) -> dict[str, np.ndarray]:
        """Predicted target values (NaN where the reference is missing) at ``time``."""
        tt = np.asarray(time).astype("datetime64[ns]").astype(np.int64)
        tr = times_ns(reference)
        pos = np.searchsorted(tr, tt)
        pos_c = np.clip(pos, 0, max(tr.size - 1, 0))
        hit = (tr.size > 0) & (tr[pos_c] == tt)
        out = {}
        for c in self.components:
            x = reference[c].values.astype(np.float64)
            xv = np.where(reference[f"{c}_flag"].values == FLAG_VALID, x, np.nan)
            v = np.where(hit, xv[pos_c], np.nan)
            out[c] = self.intercept[c] + self.slope[c] * v
        return out

    def apply(self, target: xr.Dataset, reference: xr.Dataset) -> xr.Dataset:
        """Return ``target`` minus the prediction from ``reference`` (a new record).

        Samples where the reference is missing become :data:`FLAG_MISSING`.
        """
        validate_record(target)
        validate_record(reference)
        select_components(target, self.components)
        select_components(reference, self.components)
        pred = self.predict(reference, target["time"].values)
        values, flags = {}, {}
        for c in self.components:
            values[c] = target[c].values - pred[c]
            flags[c] = target[f"{c}_flag"].values.copy()
        step = (f"remote_reference(reference={self.reference_code or 'unknown'}, on={self.on}, "
                f"train_end={self.train_end}, " +
                ", ".join(f"{c}: {self.intercept[c]:.6g} + {self.slope[c]:.6g} x"
                          for c in self.components) + ")")
        return replace_samples(target, values, flags, step)

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "RemoteReference", "components": list(self.components),
                "slope": {c: float(self.slope[c]) for c in self.components},
                "intercept": {c: float(self.intercept[c]) for c in self.components},
                "train_end": self.train_end, "on": self.on,
                "n_train": {c: int(v) for c, v in self.n_train.items()},
                "reference_code": self.reference_code, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> RemoteReference:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "RemoteReference":
            raise ValidationError("not a RemoteReference dict", expected="type RemoteReference",
                                  found=str(d.get("type")))
        return cls(components=tuple(d["components"]),
                   slope={k: float(v) for k, v in d["slope"].items()},
                   intercept={k: float(v) for k, v in d["intercept"].items()},
                   train_end=str(d.get("train_end", "")), on=str(d.get("on", "differences")),
                   n_train={k: int(v) for k, v in d.get("n_train", {}).items()},
                   reference_code=str(d.get("reference_code", "")),
                   fitted_on=str(d.get("fitted_on", "")))


# --------------------------------------------------------------------------------------------
# scaling


@dataclass
class RobustScaler:
    """Per-component robust scaling ``(x - median) / (1.4826 * MAD)``, fitted on training data.

    ``fitted_on`` records what the statistics were fitted on (e.g. ``"train"``) so that
    :func:`geoanom.detector.windows.check_no_leakage` can verify it. A component with MAD = 0 falls
    back to its standard deviation, and to 1 if that is 0 too.
    """

    center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    components: tuple[str, ...] = ()
    fitted_on: str = ""

    @classmethod
    def fit(cls, x: np.ndarray, components: tuple[str, ...] | list[str] = (),
            fitted_on: str = "train") -> RobustScaler:
        """Fit on ``x`` of shape ``(..., n_components)``; NaN values are ignored."""
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1])
        if flat.shape[0] == 0 or np.all(np.isnan(flat), axis=0).any():
            raise ValidationError("cannot fit a scaler: a component has no valid samples")
        center = np.nanmedian(flat, axis=0)
        mad = np.nanmedian(np.abs(flat - center), axis=0) * 1.4826
        std = np.nanstd(flat, axis=0)
        scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        comps = tuple(components) or tuple(f"c{i}" for i in range(flat.shape[1]))
        if len(comps) != flat.shape[1]:
            raise ValidationError("scaler components do not match the data",
                                  expected=f"{flat.shape[1]} names", found=str(comps))
        return cls(center=center, scale=scale, components=comps, fitted_on=fitted_on)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(..., n_components)``."""
        return (np.asarray(x, dtype=np.float64) - self.center) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "RobustScaler", "center": [float(v) for v in self.center],
                "scale": [float(v) for v in self.scale], "components": list(self.components),
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> RobustScaler:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "RobustScaler":
            raise ValidationError("not a RobustScaler dict", found=str(d.get("type")))
        return cls(center=np.asarray(d["center"], float), scale=np.asarray(d["scale"], float),
                   components=tuple(d["components"]), fitted_on=d.get("fitted_on", ""))


def fit_scaler(record: xr.Dataset, train_end, *, components=None) -> RobustScaler:
    """Fit a :class:`RobustScaler` on the valid samples of ``record`` before ``train_end``.

    Parameters
    ----------
    record
        Station record.
    train_end
        End of the training period (UTC, exclusive). ``None`` raises
        :class:`~geoanom.errors.LeakageError`.
    components
        Components to scale (default all), in this order.
    """
    if train_end is None:
        raise LeakageError("fit_scaler needs train_end: scaling is fitted on training data only",
                           expected="a UTC time", found="None")
    validate_record(record)
    comps = select_components(record, components)
    keep = times_ns(record) < to_ns(train_end)
    if not keep.any():
        raise ValidationError("no samples before train_end to fit the scaler on",
                              expected=f"samples before {train_end}",
                              found=f"record starts {record['time'].values[0]}")
    x = np.stack([np.where(record[f"{c}_flag"].values == FLAG_VALID, record[c].values, np.nan)
                  [keep] for c in comps], axis=-1)
    return RobustScaler.fit(x, components=tuple(comps), fitted_on="train")


def apply_scaler(record: xr.Dataset, scaler: RobustScaler) -> xr.Dataset:
    """Scale the scaler's components of ``record``; units become ``"1"`` (dimensionless).

    The original unit is kept in the attr ``scaled_from_units``.
    """
    validate_record(record)
    comps = select_components(record, list(scaler.components))
    x = np.stack([record[c].values for c in comps], axis=-1)
    z = scaler.transform(x)
    values = {c: z[:, i] for i, c in enumerate(comps)}
    flags = {c: record[f"{c}_flag"].values.copy() for c in comps}
    out = replace_samples(record, values, flags,
                   f"apply_scaler(RobustScaler fitted_on={scaler.fitted_on}, " +
                   ", ".join(f"{c}: center={scaler.center[i]:.6g} scale={scaler.scale[i]:.6g}"
                             for i, c in enumerate(comps)) + ")")
    for c in comps:
        out[c].attrs["scaled_from_units"] = record[c].attrs.get("units", "")
        out[c].attrs["units"] = "1"
    return out


# --------------------------------------------------------------------------------------------
# the [preprocess] table of a detector config: one chain, fitted on training data, stored in
# model.json and re-applied identically by `geoanom score`

#: Order in which :func:`apply_preprocess` runs the steps (a step absent from the config is
#: skipped). Stateless steps first; the two steps fitted on the training period last.
PREPROCESS_STEPS = ("despike", "gaps", "filter", "resample", "night", "regression", "scale")

_STEP_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "despike": {"window_s": (int, float), "threshold": (int, float), "causal": bool,
                "min_scale": (int, float), "jumps": bool},
    "gaps": {"max_interp_samples": int},
    "filter": {"low_hz": (int, float), "high_hz": (int, float), "band": str,
               "order": int, "causal": bool},
    "resample": {"period_s": (int, float), "how": str, "min_valid": (int, float),
                 "label": str},
    "night": {"start_hour": (int, float), "end_hour": (int, float)},
    "regression": {"on": str, "index": str, "fit": str},
    "scale": {"enabled": bool},
}


@dataclass(frozen=True)
class PreprocessConfig:
    """The ``[preprocess]`` table of a detector TOML: which steps run, with which settings.

    Each step is a sub-table; a step that is absent does not run. Steps run in the order of
    :data:`PREPROCESS_STEPS` whatever their order in the file::

        [preprocess]
        components = ["X", "Y", "Z"]          # default: every component of the record
        despike = { window_s = 600.0 }         # despike(); causal Hampel filter
        gaps = { max_interp_samples = 3 }      # mask_gaps(); 0 keeps the chain causal
        filter = { low_hz = 0.002, high_hz = 0.008 }   # bandpass(); only low_hz: high-pass
        resample = { period_s = 3600.0, how = "mean", label = "right" }  # resample()
        night = { start_hour = 0.0, end_hour = 4.0 }   # select_local_night()
        regression = { on = "activity" }       # or on = "reference" (a remote station)
        scale = true                           # RobustScaler fitted on the training period

    ``regression`` subtracts the part of each component explained by an activity index
    (``on = "activity"``: ``y - (a + b * index)``, Huber fit; ``index`` names the index
    column, default the first one) or by the same component of a remote reference station
    (``on = "reference"``; ``fit = "differences"`` or ``"levels"``, see
    :class:`RemoteReference`). Both fits, and ``scale``, use the training period only.

    Parameters
    ----------
    components
        Components treated by every step (``None``: all the record has).
    steps
        Step name -> settings dict (keyword arguments of the step function).
    """

    components: tuple[str, ...] | None = None
    steps: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing runs (no step, no component selection)."""
        return not self.steps and self.components is None

    def step(self, name: str) -> dict | None:
        """Settings of step ``name`` (a dict), or None when the step does not run."""
        for n, kv in self.steps:
            if n == name:
                return dict(kv)
        return None

    @classmethod
    def from_dict(cls, d: dict | None, *, path=None) -> PreprocessConfig:
        """Build from the ``[preprocess]`` table; unknown steps or keys raise ConfigError.

        Parameters
        ----------
        d
            The table (``None`` or ``{}``: no preprocessing).
        path
            The config file, named in errors.
        """
        from geoanom.errors import ConfigError

        d = dict(d or {})
        comps = d.pop("components", None)
        if comps is not None:
            if isinstance(comps, str):
                comps = [comps]
            if not isinstance(comps, (list, tuple)) or not all(isinstance(c, str) for c in comps):
                raise ConfigError("[preprocess] components must be a list of names", path=path,
                                  expected='e.g. ["X", "Y", "Z"]', found=repr(comps))
            comps = tuple(comps)
        unknown = sorted(set(d) - set(PREPROCESS_STEPS))
        if unknown:
            raise ConfigError("unknown step(s) in [preprocess]: " + ", ".join(unknown),
                              path=path, expected="components, " + ", ".join(PREPROCESS_STEPS),
                              found=", ".join(unknown))
        steps = []
        for name in PREPROCESS_STEPS:
            if name not in d:
                continue
            v = d[name]
            if isinstance(v, bool):
                if not v:
                    continue
                v = {}
            if not isinstance(v, dict):
                raise ConfigError(f"[preprocess] {name} must be a table or true", path=path,
                                  expected=f"{name} = {{ ... }} or [preprocess.{name}]",
                                  found=repr(v))
            allowed = _STEP_KEYS[name]
            for k, val in v.items():
                if k not in allowed:
                    raise ConfigError(f"[preprocess.{name}] has no setting '{k}'", path=path,
                                      expected="one of " + ", ".join(allowed), found=k)
                typ = allowed[k]
                if isinstance(val, bool) and typ is not bool:
                    ok = False
                else:
                    ok = isinstance(val, typ)
                if not ok:
                    raise ConfigError(f"[preprocess.{name}] {k} has the wrong type", path=path,
                                      expected=getattr(typ, "__name__", "a number"),
                                      found=repr(val))
            if name == "scale" and v.get("enabled", True) is False:
                continue
            v = {k: val for k, val in v.items() if not (name == "scale" and k == "enabled")}
            _check_step(name, v, path)
            steps.append((name, tuple(sorted(v.items()))))
        return cls(components=comps, steps=tuple(steps))

    def to_dict(self) -> dict:
        """The ``[preprocess]`` table (JSON/TOML-ready)."""
        out: dict = {}
        if self.components is not None:
            out["components"] = list(self.components)
        for name, kv in self.steps:
            out[name] = dict(kv)
        return out


def _check_step(name: str, v: dict, path) -> None:
    """Settings checks that do not need the record."""
    from geoanom.errors import ConfigError

    def bad(msg: str, expected: str, found: object) -> None:
        raise ConfigError(f"[preprocess.{name}] {msg}", path=path, expected=expected,
                          found=repr(found))

    if name == "despike" and "window_s" not in v:
        bad("needs window_s", "window_s = seconds, e.g. 600.0", v)
    if name == "despike" and v.get("window_s", 1) <= 0:
        bad("window_s must be positive", "> 0", v["window_s"])
    if name == "gaps" and v.get("max_interp_samples", 0) < 0:
        bad("max_interp_samples must be >= 0", ">= 0", v["max_interp_samples"])
    if name == "filter":
        if not ({"low_hz", "high_hz", "band"} & set(v)):
            bad("needs low_hz, high_hz or band", "e.g. low_hz = 0.002, high_hz = 0.008", v)
        if "band" in v and v["band"] not in ULF_BANDS:
            bad("unknown band", ", ".join(ULF_BANDS), v["band"])
    if name == "resample":
        if "period_s" not in v or v["period_s"] <= 0:
            bad("needs a positive period_s", "period_s = seconds, e.g. 3600.0",
                v.get("period_s"))
        if v.get("how", "mean") not in ("mean", "median", "min", "max"):
            bad("unknown how", "mean, median, min or max", v["how"])
        if v.get("label", "right") not in ("left", "right"):
            bad("unknown label", "left or right", v["label"])
    if name == "night":
        for k in ("start_hour", "end_hour"):
            if not 0 <= v.get(k, 0) <= 24:
                bad(f"{k} must lie in 0..24", "0 <= hour <= 24", v[k])
    if name == "regression":
        if v.get("on") not in ("activity", "reference"):
            bad("needs on = \"activity\" or \"reference\"", "activity or reference",
                v.get("on"))
        if v.get("fit", "differences") not in ("differences", "levels"):
            bad("unknown fit", "differences or levels", v["fit"])


@dataclass
class FittedPreprocess:
    """A :class:`PreprocessConfig` with everything fitted on the training period.

    Stored under ``"preprocess"`` in ``model.json`` (:meth:`to_dict`) so that
    ``geoanom score`` re-applies exactly the same chain (:func:`apply_preprocess`).

    Attributes
    ----------
    config
        The steps.
    train_end
        End (UTC, exclusive) of the period the fitted steps used.
    activity
        Activity regression: ``{"index": name, "intercept": {c: a}, "slope": {c: b},
        "n_train": {c: n}}`` (``None`` when the step does not run).
    reference
        :meth:`RemoteReference.to_dict` output (``None`` when the step does not run).
    scaler
        :meth:`RobustScaler.to_dict` output (``None`` when ``scale`` does not run).
    source
        What the raw record was: ``iaga_code``, ``sampling_period_s``, ``components``
        (compared with the record given to ``score``).
    """

    config: PreprocessConfig
    train_end: str = ""
    activity: dict | None = None
    reference: dict | None = None
    scaler: dict | None = None
    source: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "FittedPreprocess", "config": self.config.to_dict(),
                "order": list(PREPROCESS_STEPS), "train_end": self.train_end,
                "activity": self.activity, "reference": self.reference,
                "scaler": self.scaler, "source": dict(self.source)}

    @classmethod
    def from_dict(cls, d: dict) -> FittedPreprocess:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(d, dict) or d.get("type") != "FittedPreprocess":
            raise ValidationError("not a FittedPreprocess dict", expected="type FittedPreprocess",
                                  found=str(d.get("type") if isinstance(d, dict) else type(d)))
        return cls(config=PreprocessConfig.from_dict(d.get("config")),
                   train_end=str(d.get("train_end", "")), activity=d.get("activity"),
                   reference=d.get("reference"), scaler=d.get("scaler"),
                   source=dict(d.get("source") or {}))


def as_activity_index(activity, index: str | None = None) -> tuple[str, xr.Dataset]:
    """An activity index as ``(variable name, index Dataset)`` for
    :func:`geoanom.io.indices.align_index`.

    Parameters
    ----------
    activity
        An index from :func:`geoanom.io.indices.read_index`, or a DataFrame with a ``time``
        column (interval starts, UTC) and numeric columns (e.g. ``kp``, ``dst_nT``; the
        cadence is the median time step).
    index
        Variable/column to use (case-insensitive); default the index's primary variable,
        else the first numeric column.
    """
    if isinstance(activity, pd.DataFrame):
        cols = {str(c).lower(): c for c in activity.columns}
        tcol = cols.get("time")
        if tcol is None:
            raise ValidationError("activity has no time column", expected="time",
                                  found=", ".join(map(str, activity.columns)))
        t = pd.to_datetime(activity[tcol], utc=True).dt.tz_localize(None).to_numpy(
            "datetime64[ns]")
        order = np.argsort(t, kind="stable")
        num = [c for c in activity.columns
               if c != tcol and pd.api.types.is_numeric_dtype(activity[c])]
        ds = xr.Dataset({str(c): ("time", activity[c].to_numpy(np.float64)[order])
                         for c in num}, coords={"time": t[order]})
        step = np.diff(t[order].astype(np.int64))
        ds.attrs["cadence_s"] = float(np.median(step)) / 1e9 if step.size else 86_400.0
        ds.attrs["primary_variable"] = str(num[0]) if num else ""
        activity = ds
    if not isinstance(activity, xr.Dataset):
        raise ValidationError("activity must be an index Dataset or a DataFrame",
                              found=type(activity).__name__)
    names = {str(v).lower(): str(v) for v in activity.data_vars}
    if index is not None:
        var = names.get(index.lower())
        if var is None:
            raise ValidationError("activity lacks the index named in [preprocess.regression]",
                                  expected=index, found=", ".join(names.values()))
    else:
        var = str(activity.attrs.get("primary_variable") or "") or next(iter(names.values()),
                                                                        "")
        if var not in activity.data_vars:
            raise ValidationError("activity has no numeric variable", expected="e.g. Kp or Dst",
                                  found=", ".join(names.values()))
    return var, activity


def align_activity(index: xr.Dataset, variable: str, record: xr.Dataset, *,
                   by_end: bool = False) -> np.ndarray:
    """The index at each sample of ``record``: the overlap-weighted mean over the interval
    the sample covers, ``[t, t + period)`` (``by_end=True``: ``[t - period, t)``, a record
    resampled with bins labelled by their end), by :func:`geoanom.io.indices.align_index`."""
    from geoanom.io.indices import align_index

    t = record["time"].values.astype("datetime64[ns]")
    p = np.timedelta64(int(round(sampling_period_s(record) * 1e9)), "ns")
    start, end = (t - p, t) if by_end else (t, t + p)
    return align_index(index, start, end, how="mean", variable=variable)


def _by_end(cfg: PreprocessConfig) -> bool:
    s = cfg.step("resample")
    return s is not None and s.get("label", "right") == "right"


def _stateless(record: xr.Dataset, cfg: PreprocessConfig) -> xr.Dataset:
    comps = list(cfg.components) if cfg.components is not None else None
    r = record
    if comps is not None:
        select_components(r, comps)
        drop = [v for c in component_names(r) if c not in comps
                for v in (c, f"{c}_flag", f"{c}{_INTERP_SUFFIX}") if v in r]
        r = r.drop_vars(drop)
    s = cfg.step("despike")
    if s is not None:
        r = despike(r, **s)
    s = cfg.step("gaps")
    if s is not None:
        r = mask_gaps(r, **s)
    s = cfg.step("filter")
    if s is not None:
        r = bandpass(r, **s)
    s = cfg.step("resample")
    if s is not None:
        s = {"how": "mean", "label": "right", **s}
        r = resample(r, s.pop("period_s"), **s)
    s = cfg.step("night")
    if s is not None:
        r = select_local_night(r, **s)
    return r


def _need(what: str, given) -> None:
    if given is None:
        raise ValidationError(f"the [preprocess] regression needs {what}",
                              expected=f"{what} (--{'activity' if 'activity' in what else 'reference'}"
                                       " FILE on the command line)", found="none given")


def fit_preprocess(record: xr.Dataset, config: PreprocessConfig, train_end, activity=None,
                   *, reference: xr.Dataset | None = None) -> FittedPreprocess:
    """Fit the steps of ``config`` that learn from data, on samples before ``train_end`` only.

    Parameters
    ----------
    record
        The raw station record (the same one training reads).
    config
        The ``[preprocess]`` steps.
    train_end
        End (UTC, exclusive) of the training period; the regression and the scaler see no
        sample at or after it. ``None`` raises :class:`~geoanom.errors.LeakageError` when a
        fitted step runs.
    activity
        Activity index (see :func:`as_activity_index`); needed by ``regression.on = "activity"``.
    reference
        Raw record of a remote reference station; needed by ``regression.on = "reference"``.

    Returns
    -------
    FittedPreprocess
    """
    validate_record(record)
    src = {"iaga_code": str(record.attrs.get("iaga_code", "")),
           "sampling_period_s": float(record.attrs.get("sampling_period_s", np.nan)),
           "components": list(component_names(record))}
    fitted = FittedPreprocess(config=config, source=src)
    reg = config.step("regression")
    if reg is None and config.step("scale") is None:
        return fitted
    if train_end is None:
        raise LeakageError("fit_preprocess needs train_end: its regression and scaling are "
                           "fitted on training data only", expected="a UTC time", found="None")
    fitted.train_end = str(pd.Timestamp(to_ns(train_end)))
    r = _stateless(record, config)
    if reg is not None:
        if reg["on"] == "activity":
            _need("an activity index", activity)
            name, idx = as_activity_index(activity, reg.get("index"))
            a = align_activity(idx, name, r, by_end=_by_end(config))
            keep = times_ns(r) < to_ns(train_end)
            fit = {"index": name, "intercept": {}, "slope": {}, "n_train": {}}
            for c in component_names(r):
                ok = keep & valid_mask(r, c) & np.isfinite(a)
                if ok.sum() < 3:
                    raise ValidationError(f"too few training samples to regress {c} on {name}",
                                          expected="at least 3 samples before train_end with "
                                                   "the index defined", found=str(int(ok.sum())))
                icpt, slope = _huber_fit(a[ok], r[c].values[ok], intercept=True)
                fit["intercept"][c], fit["slope"][c] = icpt, slope
                fit["n_train"][c] = int(ok.sum())
            fitted.activity = fit
        else:
            _need("a reference record", reference)
            ref = _stateless(reference, config)
            rr = RemoteReference.fit(r, ref, train_end=train_end,
                                     on=reg.get("fit", "differences"))
            fitted.reference = rr.to_dict()
        r = _regress(r, fitted, activity, reference)
    if config.step("scale") is not None:
        fitted.scaler = fit_scaler(r, train_end).to_dict()
    return fitted


def _regress(r: xr.Dataset, fitted: FittedPreprocess, activity, reference) -> xr.Dataset:
    reg = fitted.config.step("regression")
    if reg is None:
        return r
    if reg["on"] == "activity":
        _need("an activity index", activity)
        fit = fitted.activity or {}
        name, idx = as_activity_index(activity, fit.get("index"))
        a = align_activity(idx, name, r, by_end=_by_end(fitted.config))
        values, flags = {}, {}
        for c in fit["slope"]:
            select_components(r, [c])
            values[c] = r[c].values - (fit["intercept"][c] + fit["slope"][c] * a)
            flags[c] = r[f"{c}_flag"].values.copy()
        step = (f"activity_regression(index={name}, train_end={fitted.train_end}, " +
                ", ".join(f"{c}: {fit['intercept'][c]:.6g} + {fit['slope'][c]:.6g} {name}"
                          for c in fit["slope"]) + ")")
        return replace_samples(r, values, flags, step)
    _need("a reference record", reference)
    rr = RemoteReference.from_dict(fitted.reference)
    return rr.apply(r, _stateless(reference, fitted.config))


def apply_preprocess(record: xr.Dataset, fitted: FittedPreprocess, *, activity=None,
                     reference: xr.Dataset | None = None) -> xr.Dataset:
    """Run the chain of ``fitted`` on ``record`` (a new record; the input is not modified).

    The same function serves ``geoanom train`` (after :func:`fit_preprocess`) and
    ``geoanom score`` (with the ``FittedPreprocess`` read back from ``model.json``), so both
    see identical samples.

    Parameters
    ----------
    record
        Raw station record.
    fitted
        From :func:`fit_preprocess` or :meth:`FittedPreprocess.from_dict`.
    activity, reference
        The activity index or remote record when the regression step uses one.
    """
    validate_record(record)
    r = _stateless(record, fitted.config)
    r = _regress(r, fitted, activity, reference)
    if fitted.scaler is not None:
        r = apply_scaler(r, RobustScaler.from_dict(fitted.scaler))
    return r
