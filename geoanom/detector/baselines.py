"""Baseline detectors behind the same interface as the model scorer.

Each scorer maps a station record to a scores dataset with the layout of
:func:`geoanom.detector.score.score_record` (dim ``window``; ``start``, ``end``, ``score``,
``valid_fraction``; the same global attrs with ``score_kind`` naming the baseline), so that
statistics and figures take any of them:

* the **plain autoencoder**: the same BiLSTM trained by the same :func:`geoanom.detector.nn.train.train`
  with ``lam = 0`` (:func:`train_plain_autoencoder`), scored by ``score_record``;
* the **ULF Z/H polarisation ratio** (:func:`zh_ratio_scores`): band power of Z over band
  power of the horizontal field in a ULF band, per window (Hayakawa-style polarisation
  analysis);
* **activity only** (:func:`activity_scores`): the geomagnetic activity index (e.g. Kp) over
  each window; what a detector that only tracks storms would score.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.detector.score import score_attrs, score_record
from geoanom.detector.windows import sample_valid, window_grid, window_is_valid
from geoanom.errors import ConfigError, ValidationError

Scorer = Callable[[xr.Dataset], xr.Dataset]


def train_plain_autoencoder(ws, config=None, *, out_dir: str | os.PathLike, **kwargs):
    """The first baseline: :func:`geoanom.detector.nn.train.train` with ``lam = 0``.

    Same architecture, data, seeds and early stopping as the negative-learning model; the
    seismic windows enter neither the loss nor the batches. Returns its ``TrainResult``.
    """
    from geoanom.detector.nn.train import TrainConfig, train

    cfg = dataclasses.replace(config or TrainConfig(), lam=0.0)
    return train(ws, cfg, out_dir=out_dir, **kwargs)


def _scores_dataset(record: xr.Dataset, n_windows: int, L: int, S: int, period: float,
                    variables: dict, kind: str, config: dict) -> xr.Dataset:
    from geoanom.provenance import provenance

    n = int(record.sizes["time"])
    t0 = np.asarray(record["time"].isel(time=0).values, "datetime64[ns]") if n else None
    pns = int(round(period * 1e9))
    start = (t0 + (np.arange(n_windows, dtype=np.int64) * S * pns).astype("timedelta64[ns]")
             if n else np.zeros(0, "datetime64[ns]"))
    dv = {"start": ("window", start, {"long_name": "window start (UTC)"}),
          "end": ("window", start + np.timedelta64(L * pns, "ns"),
                  {"long_name": "window end, exclusive (UTC)"})}
    dv.update(variables)
    ds = xr.Dataset(dv, coords={"window": np.arange(n_windows)})
    ds.attrs = score_attrs(record, window_length_s=L * period, stride_s=S * period,
                           period=period, kind=kind,
                           prov=provenance(config=dict(config, record_history=str(
                               record.attrs.get("history", "")))))
    return ds


def _component_windows(record: xr.Dataset, comp: str, a: int, b: int, L: int,
                       S: int) -> tuple[np.ndarray, np.ndarray]:
    vals = np.asarray(record[comp].isel(time=slice(a, b)).values, np.float64)
    flag = f"{comp}_flag"
    ok = sample_valid(vals, np.asarray(record[flag].isel(time=slice(a, b)).values)
                      if flag in record else None)
    vals = np.where(ok, vals, 0.0)
    sw = np.lib.stride_tricks.sliding_window_view
    return sw(vals, L)[::S], sw(ok, L)[::S]


def _grid(record: xr.Dataset, window_length_s: float,
          stride_s: float) -> tuple[int, int, int, float]:
    """``(n_windows, length, stride, period_s)`` of :func:`geoanom.detector.windows.window_grid`."""
    g = window_grid(int(record.sizes["time"]),
                    float(record.attrs.get("sampling_period_s", float("nan"))),
                    window_length_s, stride_s)
    return g.n_windows, g.length, g.stride, g.period_s


def default_ulf_band(period_s: float) -> tuple[float, float]:
    """Default ULF band (Hz): 0.01-0.1 Hz where the cadence resolves it, else the top of the
    resolvable band (``0.25``-``0.9`` of Nyquist; 2.1-7.5 mHz at 1-minute cadence)."""
    nyq = 0.5 / period_s
    return min(0.01, 0.25 * nyq), min(0.1, 0.9 * nyq)


def _band_power(x: np.ndarray, ok: np.ndarray, period_s: float,
                band_hz: tuple[float, float]) -> np.ndarray:
    """Band power of each window (rows), after removing a linear trend fitted on valid samples
    and applying a Hann taper; invalid samples are zero after detrending (power is rescaled
    by the valid share)."""
    w = ok.astype(np.float64)
    n_ok = w.sum(axis=1, keepdims=True)
    t = np.arange(x.shape[1], dtype=np.float64)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        tb = (w * t).sum(axis=1, keepdims=True) / n_ok
        xb = (w * x).sum(axis=1, keepdims=True) / n_ok
        slope = ((w * (t - tb) * (x - xb)).sum(axis=1, keepdims=True) /
            (w * (t - tb) ** 2).sum(axis=1, keepdims=True))
    resid = np.where(ok, x - xb - np.nan_to_num(slope) * (t - tb), 0.0)
    taper = np.hanning(x.shape[1])[None, :]
    spec = np.abs(np.fft.rfft(resid * taper, axis=1)) ** 2
    f = np.fft.rfftfreq(x.shape[1], d=period_s)
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    if not sel.any():
        raise ConfigError("the ULF band holds no frequency of these windows",
                          expected=f"a band within {f[1]:.3g}..{f[-1]:.3g} Hz",
                          found=f"{band_hz[0]:.3g}..{band_hz[1]:.3g} Hz")
    with np.errstate(invalid="ignore", divide="ignore"):
        return spec[:, sel].sum(axis=1) / (n_ok[:, 0] / x.shape[1])


def zh_ratio_scores(
    record: xr.Dataset,
    *,
    window_length_s: float,
    stride_s: float,
    band_hz: tuple[float, float] | None = None,
    vertical: str = "Z",
    horizontal: tuple[str, ...] | None = None,
    min_valid_fraction: float = 0.5,
    chunk_windows: int = 4096,
) -> xr.Dataset:
    """ULF polarisation ratio ``P_Z / P_H`` per window.

    Parameters
    ----------
    record
        Station record with a vertical and one or two horizontal components (nT).
    window_length_s, stride_s
        Window geometry (s); windows start at the first sample.
    band_hz
        ULF band (Hz); default :func:`default_ulf_band` of the record's cadence.
    vertical, horizontal
        Component names; ``horizontal`` default ``("H",)`` if present, else ``("X", "Y")``.
        ``P_H`` is the sum of the horizontal components' band powers.
    min_valid_fraction
        Windows with a smaller share of valid samples (in any component used) score NaN.

    Returns
    -------
    xarray.Dataset
        ``score`` = ``zh_ratio`` (dimensionless), ``power_z``, ``power_h`` (nT^2, summed
        periodogram over the band), ``valid_fraction``; ``score_kind = "zh_ratio"``.
    """
    if horizontal is None:
        horizontal = ("H",) if "H" in record else ("X", "Y")
    need = (vertical, *horizontal)
    missing = [c for c in need if c not in record]
    if missing:
        raise ValidationError("the Z/H ratio needs a vertical and horizontal components",
                              expected=", ".join(need), found="missing " + ", ".join(missing))
    n_windows, L, S, period = _grid(record, window_length_s, stride_s)
    band = tuple(band_hz) if band_hz is not None else default_ulf_band(period)
    pz = np.full(n_windows, np.nan)
    ph = np.full(n_windows, np.nan)
    vf = np.zeros(n_windows)
    for w0 in range(0, n_windows, chunk_windows):
        w1 = min(n_windows, w0 + chunk_windows)
        a, b = w0 * S, (w1 - 1) * S + L
        xz, okz = _component_windows(record, vertical, a, b, L, S)
        powz = _band_power(xz, okz, period, band)
        powh = np.zeros_like(powz)
        n_valid = [okz.sum(axis=1)]
        for c in horizontal:
            xh, okh = _component_windows(record, c, a, b, L, S)
            powh += _band_power(xh, okh, period, band)
            n_valid.append(okh.sum(axis=1))
        pz[w0:w1], ph[w0:w1] = powz, powh
        n_valid = np.stack(n_valid, axis=1)
        vf[w0:w1] = n_valid.sum(axis=1) / (L * len(need))
        # the windows' validity rule, with a missing share of 1 - min_valid_fraction
        low = ~window_is_valid(n_valid, L, 1.0 - min_valid_fraction)
        pz[w0:w1][low] = np.nan
        ph[w0:w1][low] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(ph > 0, pz / ph, np.nan)
    variables = {
        "score": ("window", ratio, {"long_name": "ULF Z/H band-power ratio", "units": "1"}),
        "zh_ratio": ("window", ratio.copy(), {"long_name": "ULF Z/H band-power ratio",
                                               "units": "1"}),
        "power_z": ("window", pz, {"long_name": f"{vertical} band power", "units": "nT2"}),
        "power_h": ("window", ph, {"long_name": "horizontal band power", "units": "nT2"}),
        "valid_fraction": ("window", vf, {"long_name": "share of valid samples", "units": "1"}),
    }
    cfg = {"scorer": "geoanom.detector.baselines.zh_ratio_scores", "band_hz": list(band),
           "vertical": vertical, "horizontal": list(horizontal),
           "window_length_s": L * period, "stride_s": S * period,
           "min_valid_fraction": min_valid_fraction}
    ds = _scores_dataset(record, n_windows, L, S, period, variables, "zh_ratio", cfg)
    ds.attrs["band_hz"] = list(band)
    return ds


def _activity_series(activity, variable: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(activity, pd.Series):
        t, v = activity.index.values, activity.values
    elif isinstance(activity, xr.Dataset):
        if variable not in activity:
            raise ValidationError("activity dataset lacks the index variable",
                                  expected=variable, found=", ".join(map(str, activity)))
        t, v = activity["time"].values, activity[variable].values
    elif isinstance(activity, xr.DataArray):
        t, v = activity["time"].values, activity.values
    else:
        raise ValidationError("activity must be a pandas Series or xarray object with time",
                              found=type(activity).__name__)
    t = np.asarray(t).astype("datetime64[ns]")
    v = np.asarray(v, np.float64)
    if t.size == 0 or np.any(np.diff(t.astype(np.int64)) <= 0):
        raise ValidationError("activity times must be non-empty and strictly increasing")
    return t, v


def activity_scores(
    record: xr.Dataset,
    activity,
    *,
    window_length_s: float,
    stride_s: float,
    variable: str = "kp",
    how: str = "max",
) -> xr.Dataset:
    """Activity-only score: the activity index over each window.

    Parameters
    ----------
    record
        Station record (gives the window grid and the station attrs).
    activity
        The index as a step function: a ``pandas.Series`` indexed by time, or an xarray
        Dataset (variable ``variable``) / DataArray on ``time``. Each value holds from its
        time to the next (e.g. 3-hourly Kp).
    window_length_s, stride_s
        Window geometry (s).
    how
        ``"max"`` or ``"mean"`` (time-weighted) of the index over ``[start, end)``.

    Returns
    -------
    xarray.Dataset
        ``score`` = ``activity``, ``valid_fraction`` (of the record); NaN before the first
        index time. ``score_kind = "activity_<how>"``.
    """
    if how not in ("max", "mean"):
        raise ConfigError("activity aggregation must be max or mean", found=str(how))
    t, v = _activity_series(activity, variable)
    n_windows, L, S, period = _grid(record, window_length_s, stride_s)
    n = int(record.sizes["time"])
    pns = int(round(period * 1e9))
    t0 = (np.asarray(record["time"].isel(time=0).values, "datetime64[ns]").astype(np.int64)
        if n else 0)
    start = t0 + np.arange(n_windows, dtype=np.int64) * S * pns
    end = start + L * pns
    ti = t.astype(np.int64)
    i0 = np.searchsorted(ti, start, side="right") - 1
    i1 = np.searchsorted(ti, end, side="left") - 1
    score = np.full(n_windows, np.nan)
    one = (i0 == i1) & (i0 >= 0)
    score[one] = v[i0[one]]
    t_next = np.r_[ti[1:], np.iinfo(np.int64).max]
    for k in np.flatnonzero(~one & (i1 >= 0)):
        lo = max(i0[k], 0)
        seg = v[lo:i1[k] + 1]
        if how == "max":
            score[k] = np.nanmax(seg) if np.isfinite(seg).any() else np.nan
        else:
            a = np.maximum(ti[lo:i1[k] + 1], start[k])
            b = np.minimum(t_next[lo:i1[k] + 1], end[k])
            score[k] = float(np.sum(seg * (b - a)) / np.sum(b - a))
    comps = [c for c in record.data_vars
             if not str(c).endswith("_flag") and record[c].dims == ("time",)]
    vf = np.zeros(n_windows)
    if comps and n_windows:
        ok = np.zeros(n, np.float64)
        for c in comps:
            ok += np.isfinite(np.asarray(record[c].values, np.float64))
        cs = np.r_[0.0, np.cumsum(ok / len(comps))]
        idx = np.arange(n_windows) * S
        vf = (cs[idx + L] - cs[idx]) / L
    variables = {
        "score": ("window", score, {"long_name": f"activity index ({how} over window)"}),
        "activity": ("window", score.copy(), {"long_name": f"{variable} {how} over window"}),
        "valid_fraction": ("window", vf, {"long_name": "share of valid samples", "units": "1"}),
    }
    cfg = {"scorer": "geoanom.detector.baselines.activity_scores", "variable": variable, "how": how,
           "window_length_s": L * period, "stride_s": S * period}
    return _scores_dataset(record, n_windows, L, S, period, variables, f"activity_{how}", cfg)


def make_scorer(kind: str, **options) -> Scorer:
    """A scorer ``record -> scores`` by name.

    ``"model"`` / ``"plain_autoencoder"``: ``options`` ``model`` (artifact folder or
    LoadedModel) plus :func:`~geoanom.detector.score.score_record` keywords; ``"zh_ratio"``: keywords of
    :func:`zh_ratio_scores`; ``"activity"``: ``activity`` plus keywords of
    :func:`activity_scores`.
    """
    if kind in ("model", "plain_autoencoder"):
        opts = dict(options)
        model = opts.pop("model")
        return lambda record: score_record(model, record, **opts)
    if kind == "zh_ratio":
        return lambda record: zh_ratio_scores(record, **options)
    if kind == "activity":
        opts = dict(options)
        act = opts.pop("activity")
        return lambda record: activity_scores(record, act, **opts)
    raise ConfigError("unknown scorer", expected="model, plain_autoencoder, zh_ratio, activity",
                      found=str(kind))
