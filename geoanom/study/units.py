"""The independent units of a study: one detector, one station, one test year (and, in a
power run, one injection). Each unit is a plain function of a picklable spec, so the serial
runner and ``dask.distributed`` run exactly the same code, and writes one file atomically.

Rolling origin (per station, per test year ``Y``): the detector is trained on the record
before the start of ``Y - 1`` and validated (early stopping) on year ``Y - 1``, with the
embargo of :mod:`geoanom.detector.windows` between them (:func:`geoanom.detector.windows.split_windows`); the
catalog it sees ends at the start of ``Y``. It then scores the windows whose end falls in
``Y``. Scores of different years come from different models, so each year's scores are
divided by the median score of that model's validation-year windows
(``score_normalisation = "validation_median"``): a number the model fixed before ``Y``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from geoanom._atomic import atomic_path
from geoanom.detector.api import TrainingPeriod, fit_detector, load_detector
from geoanom.detector.baselines import activity_scores
from geoanom.detector.config import DetectorConfig
from geoanom.errors import GeoanomError

SCORE_VAR = "score"


def year_bounds(year: int) -> tuple[np.datetime64, np.datetime64]:
    """``[1 January year, 1 January year + 1)`` as datetime64[ns]."""
    return (np.datetime64(f"{year:04d}-01-01", "ns"), np.datetime64(f"{year + 1:04d}-01-01", "ns"))


def read_unit(path: str | os.PathLike) -> xr.Dataset | None:
    """A unit's result file, or None when absent or unreadable."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        return xr.load_dataset(p, engine="netcdf4")
    except (OSError, ValueError):
        return None


def unit_done(path: str | os.PathLike, unit_hash: str) -> bool:
    """True when ``path`` holds a finished unit of the same configuration (resumability)."""
    ds = read_unit(path)
    return ds is not None and ds.attrs.get("unit_hash") == unit_hash


def _write_unit(path: Path, start, end, score, raw, attrs: dict) -> Path:
    ds = xr.Dataset({"start": ("window", np.asarray(start, "datetime64[ns]")),
                     "end": ("window", np.asarray(end, "datetime64[ns]")),
                     SCORE_VAR: ("window", np.asarray(score, float)),
                     "score_raw": ("window", np.asarray(raw, float))},
                    coords={"window": np.arange(len(score))})
    ds.attrs = {k: (json.dumps(v, sort_keys=True, default=str)
                    if isinstance(v, (dict, list)) else v) for k, v in attrs.items()
                if v is not None}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return path


def run_detector_unit(spec: dict) -> dict:
    """Fit one detector for one station and test year, score the year, write the unit.

    Rolling origin: :func:`~geoanom.detector.api.fit_detector` with the
    :class:`~geoanom.detector.api.TrainingPeriod` ``[1 January year - 1, 1 January year)``
    (train before it, validate in it), then :meth:`~geoanom.detector.api.Detector.score` on
    the validation and test years.

    ``spec`` keys: ``record`` (station record, possibly with injected signals), ``catalog``,
    ``window_config`` and ``train_config`` (dicts), ``year``, ``detector``, ``lam``, ``seed``,
    ``out`` (unit file), ``model_dir``, ``unit_hash``, ``normalisation``, ``preprocess``
    (a ``[preprocess]`` table or None), ``activity`` and ``reference`` (what a
    ``[preprocess]`` regression regresses on, or None), ``min_train_days``, ``reuse_model``
    (score with an existing model instead of training: power runs with frozen detectors),
    ``threads``.

    Returns
    -------
    dict
        ``status`` ("done", "skipped" with ``reason``), ``path``, ``seconds`` and training
        facts.
    """
    t_start = time.perf_counter()
    torch.set_num_threads(int(spec.get("threads", 1)))
    out = Path(spec["out"])
    year = int(spec["year"])
    rec = spec["record"]
    info: dict = {"detector": spec["detector"], "year": year,
                  "station": str(rec.attrs.get("iaga_code"))}
    attrs = {"unit_hash": spec["unit_hash"], "station": info["station"], "year": year,
             "detector": spec["detector"]}
    v0, y0 = year_bounds(year - 1)[0], year_bounds(year)[0]
    y1 = year_bounds(year)[1]
    config = DetectorConfig.from_dict({
        "windows": spec["window_config"],
        "train": {**spec["train_config"], "lam": float(spec["lam"]), "seed": int(spec["seed"])},
        "preprocess": spec.get("preprocess") or {}})
    mdir = Path(spec["model_dir"])
    regressors = {"activity": spec.get("activity"), "reference": spec.get("reference")}

    def skipped(reason: str) -> dict:
        info.update(status="skipped", reason=reason)
        _write_unit(out, [], [], [], [], {**attrs, "status": "skipped", "reason": reason,
                                          "info": info})
        info.update(path=str(out), seconds=round(time.perf_counter() - t_start, 2))
        return info

    tv = rec["time"].values
    have = np.isfinite(np.asarray(rec[[c for c in rec.data_vars
                                       if not str(c).endswith("_flag")][0]].values, float))
    if not have[(tv >= y0) & (tv < y1)].any():
        return skipped(f"no data in {year}")
    before = tv[have & (tv < v0)]
    if before.size == 0 or (before[-1] - before[0]) / np.timedelta64(1, "D") \
            < float(spec.get("min_train_days", 0)):
        return skipped(f"less than {spec.get('min_train_days')} days of data before {year - 1}")
    if spec.get("reuse_model"):
        if not (mdir / "model.json").is_file():
            return skipped(f"no trained model for {year} to reuse")
        det = load_detector(mdir, device="cpu")
    else:
        try:
            det = fit_detector(rec, spec["catalog"], config, out_dir=mdir,
                               period=TrainingPeriod(v0, y0), device="cpu", resume=False,
                               progress=False, **regressors)
        except GeoanomError as exc:
            return skipped(str(exc))
        f = det.fit_summary
        info.update(best_epoch=int(f["best_epoch"]), epochs_run=int(f["epochs_run"]),
                    val_metric=float(f["best_metric"]),
                    **{k: int(f[k]) for k in ("n_train_windows", "n_val_windows",
                                              "n_train_seismic")})
    # score the validation year and the test year (windows reaching back one length)
    L = np.timedelta64(int(round(config.windows.window_length_s * 1e9)), "ns")
    sc = det.score(rec, start=v0 - L, end=y1, **regressors)
    end = sc["end"].values.astype("datetime64[ns]")
    raw = sc["rmse"].values.astype(float)
    val = (end > v0) & (end <= y0) & np.isfinite(raw)
    test = (end > y0) & (end <= y1)
    norm = 1.0
    if spec.get("normalisation", "validation_median") == "validation_median":
        if not val.any():
            return skipped(f"no scored validation window in {year - 1}")
        norm = float(np.median(raw[val]))
    info["normaliser"] = norm
    info["n_test_windows"] = int(test.sum())
    info["seconds"] = round(time.perf_counter() - t_start, 2)
    _write_unit(out, sc["start"].values[test], end[test], raw[test] / norm, raw[test],
                {**attrs, "status": "done", "info": info,
                 "model_weights_sha256": json.loads(sc.attrs["geoanom_provenance"])
                 .get("config", {}).get("model", {}).get("weights_sha256")})
    info.update(status="done", path=str(out))
    return info


def run_activity_unit(spec: dict) -> dict:
    """The activity-only detector for one station: the index (daily max of Kp, or of -Dst)
    on day windows over the test years; no training (:func:`activity_scores`)."""

    t_start = time.perf_counter()
    rec = spec["record"]
    act = spec["activity"]
    name = spec["index"]
    col = [c for c in act.columns if c != "time"][0]
    v = act[col].to_numpy(float)
    if "dst" in col.lower():
        v = -v   # higher = more active, as the test's activity baseline
    series = pd.Series(v, index=pd.to_datetime(act["time"]))
    y0 = year_bounds(int(spec["years"][0]))[0]
    y1 = year_bounds(int(spec["years"][1]))[1]
    seg = rec.sel(time=slice(y0 - np.timedelta64(1, "D"), y1 - np.timedelta64(1, "ns")))
    sc = activity_scores(seg, series, window_length_s=86400.0, stride_s=86400.0,
                         variable=name, how="max")
    end = sc["end"].values.astype("datetime64[ns]")
    m = (end > y0) & (end <= y1)
    s = sc["score"].values.astype(float)[m]
    info = {"detector": "activity", "index": name, "station": str(rec.attrs.get("iaga_code")),
            "status": "done", "n_test_windows": int(m.sum()),
            "seconds": round(time.perf_counter() - t_start, 2)}
    _write_unit(Path(spec["out"]), sc["start"].values[m], end[m], s, s,
                {"unit_hash": spec["unit_hash"], "station": info["station"],
                 "detector": "activity", "status": "done", "info": info})
    info["path"] = str(spec["out"])
    return info


def run_unit(spec: dict) -> dict:
    """Dispatch a unit spec to its function (the entry point of serial and dask runs)."""
    if spec["kind"] == "activity":
        return run_activity_unit(spec)
    return run_detector_unit(spec)
