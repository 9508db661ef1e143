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

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import NS_PER_DAY
from geoanom.detector.preprocess._record_ops import (
    replace_samples,
    sampling_period_s,
    select_components,
    times_ns,
    valid_mask,
)
from geoanom.errors import ValidationError
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

#: Suffix of the int8 variable ``<component>_interpolated_flag`` that marks the samples
#: :func:`mask_gaps` filled (1 = linearly interpolated).
INTERP_SUFFIX = "_interpolated_flag"


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
        prev = (record[f"{c}{INTERP_SUFFIX}"].values.astype(np.int8)
            if f"{c}{INTERP_SUFFIX}" in record else np.zeros(x.size, np.int8))
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
        out[f"{c}{INTERP_SUFFIX}"] = xr.Variable(
            ("time",), interp[c],
            attrs={"flag_values": np.array([0, 1], np.int8),
                   "flag_meanings": "not_interpolated linearly_interpolated",
                   "long_name": f"{c} sample filled by linear interpolation"})
        anc = out[c].attrs.get("ancillary_variables", f"{c}_flag").split()
        if f"{c}{INTERP_SUFFIX}" not in anc:
            anc.append(f"{c}{INTERP_SUFFIX}")
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
        if f"{c}{INTERP_SUFFIX}" in record:
            ip = record[f"{c}{INTERP_SUFFIX}"].values.astype(float)
            anyi = np.bincount(idx, weights=ip, minlength=nb) > 0
            data_vars[f"{c}{INTERP_SUFFIX}"] = xr.Variable(
                ("time",), anyi.astype(np.int8),
                attrs=dict(record[f"{c}{INTERP_SUFFIX}"].attrs))
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
