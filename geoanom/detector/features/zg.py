"""The field's Z/G anomaly rule on a feature record, as a scores dataset.

A night is anomalous when its polarisation ratio Z/G in a band rises above the mean plus
``n_sigma`` (2) standard deviations of the Z/G of the *past* nights: the
``mean_sigma_window_nights`` nights before it (the night itself and later nights never enter
its baseline), counting only valid nights that are not storm nights. The result has the
layout of the baselines in :mod:`geoanom.detector.baselines` (dim ``window``, one per night;
``start``, ``end``, ``score``, ``valid_fraction``; the scores attrs with
``score_kind = "zg_anomaly"``), so that the statistics and figures take it like any other.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import NS_PER_S, S_PER_DAY
from geoanom.detector.score import score_attrs
from geoanom.errors import ConfigError, ValidationError
from geoanom.provenance import provenance
from geoanom.record import FLAG_VALID


def _window_of(features: xr.Dataset, night_window: str | None) -> dict:
    wins = json.loads(features.attrs.get("night_windows", "[]"))
    tags = [w["tag"] for w in wins]
    if not wins:
        raise ValidationError("not a ULF feature record (no night_windows attr)",
                              expected="the output of ulf_polarisation")
    if night_window is None:
        if len(wins) > 1:
            raise ConfigError("the feature record has several night windows: name one",
                              expected=", ".join(tags), found="None")
        return wins[0]
    if night_window not in tags:
        raise ConfigError("no such night window", expected=", ".join(tags),
                          found=str(night_window))
    return wins[tags.index(night_window)]


def zg_anomaly_scores(features: xr.Dataset, band: str, *, night_window: str | None = None,
                      mean_sigma_window_nights: int = 30, n_sigma: float = 2.0,
                      min_nights: int = 10, screen_storms: bool = True) -> xr.Dataset:
    """Z/G above a running mean + ``n_sigma`` sigma of the past nights.

    Parameters
    ----------
    features
        A feature record from :func:`geoanom.detector.features.ulf.ulf_polarisation`.
    band
        Band name (``"b3"``).
    night_window
        Night window tag (``"lt02"``); may be left out when the record has one.
    mean_sigma_window_nights
        Nights before each night whose Z/G give its mean and (sample) standard deviation.
    n_sigma
        The threshold is ``mean + n_sigma * sigma``.
    min_nights
        Baseline nights needed (valid, not storm nights); fewer: the score is NaN.
    screen_storms
        Storm nights (``storm_ap``/``storm_dst`` flags, where present) are left out of
        every baseline and score NaN.

    Returns
    -------
    xarray.Dataset
        Per night: ``start``/``end`` of the night window, ``score`` = ``(zg - mean) /
        sigma``, ``zg``, ``zg_mean``, ``zg_std``, ``threshold``, ``anomaly`` (int8: ``zg >
        threshold``), ``storm`` (int8), ``valid_fraction``. NaN scores for invalid nights,
        screened storm nights and nights without enough baseline.
    """
    if mean_sigma_window_nights < 2 or not (2 <= min_nights <= mean_sigma_window_nights):
        raise ConfigError("Z/G baseline: need 2 <= min_nights <= mean_sigma_window_nights",
                          found=f"{min_nights}, {mean_sigma_window_nights}")
    win = _window_of(features, night_window)
    name = f"zg_{band}_{win['tag']}"
    if name not in features:
        bands = sorted({str(v).split("_")[1] for v in features.data_vars
                        if str(v).startswith("zg_") and not str(v).endswith("_flag")})
        raise ConfigError("no such ULF band in the feature record", expected=", ".join(bands),
                          found=str(band))
    zg = np.asarray(features[name].values, np.float64)
    ok = (np.asarray(features[f"{name}_flag"].values) == FLAG_VALID) & np.isfinite(zg)
    storm = np.zeros(zg.shape, bool)
    for flag in ("storm_ap", "storm_dst"):
        if flag in features.coords:
            storm |= np.asarray(features[flag].values) == 1
    use = ok & ~storm if screen_storms else ok
    past = pd.Series(np.where(use, zg, np.nan)).shift(1).rolling(
        int(mean_sigma_window_nights), min_periods=int(min_nights))
    mean = past.mean().to_numpy()
    std = past.std(ddof=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(use & (std > 0), (zg - mean) / std, np.nan)
    threshold = mean + float(n_sigma) * std
    anomaly = (np.isfinite(score) & (zg > threshold)).astype(np.int8)
    start = (features["time"].values.astype("datetime64[ns]")
             + np.timedelta64(int(win["offset_s"]) * NS_PER_S, "ns"))
    end = start + np.timedelta64(int(win["length_s"]) * NS_PER_S, "ns")
    vf_name = f"valid_fraction_{win['tag']}"
    vf = (np.asarray(features[vf_name].values, np.float64) if vf_name in features.coords
          else ok.astype(np.float64))
    ds = xr.Dataset({
        "start": ("window", start, {"long_name": "night window start (UTC)"}),
        "end": ("window", end, {"long_name": "night window end, exclusive (UTC)"}),
        "score": ("window", score, {"long_name": f"Z/G {band} {win['tag']} in sigmas of the "
                                                 "past nights", "units": "1"}),
        "zg": ("window", np.where(ok, zg, np.nan), {"long_name": "Z/G", "units": "1"}),
        "zg_mean": ("window", mean, {"long_name": "mean Z/G of the past nights"}),
        "zg_std": ("window", std, {"long_name": "standard deviation of Z/G, past nights"}),
        "threshold": ("window", threshold, {"long_name": f"mean + {n_sigma:g} sigma"}),
        "anomaly": ("window", anomaly, {"long_name": "Z/G above the threshold"}),
        "storm": ("window", storm.astype(np.int8), {"long_name": "storm night"}),
        "valid_fraction": ("window", vf, {"long_name": "share of valid samples", "units": "1"}),
    }, coords={"window": np.arange(zg.size)})
    cfg = {"scorer": "geoanom.detector.features.zg.zg_anomaly_scores", "variable": name,
           "mean_sigma_window_nights": int(mean_sigma_window_nights),
           "n_sigma": float(n_sigma), "min_nights": int(min_nights),
           "screen_storms": bool(screen_storms),
           "ulf_config": features.attrs.get("ulf_config", ""),
           "record_history": str(features.attrs.get("history", ""))}
    ds.attrs = score_attrs(features, window_length_s=float(win["length_s"]),
                           stride_s=float(S_PER_DAY), period=float(S_PER_DAY),
                           kind="zg_anomaly", prov=provenance(config=cfg))
    ds.attrs["band"] = str(band)
    ds.attrs["night_window"] = str(win["tag"])
    return ds
