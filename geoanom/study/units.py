"""Score production of a record study: its units (one detector, one station, one test year;
or the activity-only score of one station) and the station scores they add up to.

A unit is a frozen dataclass (:class:`DetectorUnit`, :class:`ActivityUnit`), built in one
place (:class:`RecordUnits`), and run by a plain function of it (:func:`run_unit`), so the
serial loop and ``dask.distributed`` (:func:`geoanom.executor.run_all`) run exactly the same
code; each unit writes one file atomically, stamped with its unit hash (a rerun skips the
units whose file carries the same hash: :func:`stored_unit`).

Rolling origin (per station, per test year ``Y``): the detector is trained on the record
before the start of ``Y - 1`` and validated (early stopping) on year ``Y - 1``, with the
embargo of :mod:`geoanom.detector.windows` between them
(:func:`geoanom.detector.windows.split_windows`); the catalog it sees ends at the start of
``Y``. It then scores the windows whose end falls in ``Y``. Scores of different years come
from different models, so each year's scores are divided by the median score of that
model's validation-year windows (``score_normalisation = "validation_median"``): a number
the model fixed before ``Y``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from geoanom._atomic import atomic_path
from geoanom._time import S_PER_DAY
from geoanom._version import __version__
from geoanom.detector.api import TrainingPeriod, fit_detector, load_detector
from geoanom.detector.baselines import activity_scores
from geoanom.detector.config import DetectorConfig
from geoanom.detector.score import score_attrs, write_scores
from geoanom.errors import ConfigError, GeoanomError
from geoanom.provenance import config_hash, provenance
from geoanom.study.config import ACTIVITY_DETECTOR, SCORE_VAR, TRAINED_DETECTORS, StudyConfig


def year_bounds(year: int) -> tuple[np.datetime64, np.datetime64]:
    """``[1 January year, 1 January year + 1)`` as datetime64[ns]."""
    return (np.datetime64(f"{year:04d}-01-01", "ns"), np.datetime64(f"{year + 1:04d}-01-01", "ns"))


def record_digest(record: xr.Dataset) -> str:
    """Checksum of a record's values (the unit hash changes when the data do)."""
    h = hashlib.sha256()
    h.update(np.asarray(record["time"].values, "datetime64[ns]").tobytes())
    for c in sorted(map(str, record.data_vars)):
        if not c.endswith("_flag"):
            h.update(np.ascontiguousarray(record[c].values, np.float64).tobytes())
    return h.hexdigest()[:16]


def unit_seed(seed: int, station_index: int, year: int) -> int:
    """Training seed of a unit: the same for every detector of a station-year (paired)."""
    return int(seed) * 100_003 + station_index * 1_009 + int(year)


@dataclass(frozen=True, eq=False)
class DetectorUnit:
    """One trained detector for one station and test year (:func:`run_detector_unit`).

    ``record`` is the station record (in a power run, with injected signals); ``activity``
    and ``reference`` are what a ``[preprocess]`` regression regresses on (or None);
    ``out`` is the unit file and ``model_dir`` the model folder; ``reuse_model`` scores
    with the model already in ``model_dir`` instead of training one (power runs with
    frozen detectors).
    """

    record: xr.Dataset
    catalog: pd.DataFrame
    window_config: dict
    train_config: dict
    preprocess: dict | None
    detector: str
    lam: float
    year: int
    seed: int
    out: str
    model_dir: str
    unit_hash: str
    normalisation: str
    min_train_days: float
    activity: pd.DataFrame | None = None
    reference: xr.Dataset | None = None
    reuse_model: bool = False
    threads: int = 1


@dataclass(frozen=True, eq=False)
class ActivityUnit:
    """The activity-only score of one station over the test years ``years`` (first, last):
    the index ``index`` (a table with ``time`` and one value column) on day windows
    (:func:`run_activity_unit`)."""

    record: xr.Dataset
    activity: pd.DataFrame
    index: str
    years: tuple[int, int]
    out: str
    unit_hash: str


def regression_inputs(cfg: StudyConfig, records: dict, activity: dict, digests: dict,
                      sums: dict) -> dict:
    """What a ``[preprocess]`` regression of the study regresses on: ``activity`` (the
    ``[activity]`` index named by the step's ``index``, default the ``baseline`` one) or
    ``reference`` (the record of the station ``[records] reference`` names), with ``key``,
    the identity of that input for the unit hashes. Empty without a regression step."""
    reg = (cfg.table("preprocess") or {}).get("regression")
    if not reg:
        return {}
    if reg["on"] == "activity":
        name = str(reg.get("index") or cfg.table("activity").get("baseline", "kp")).lower()
        if name not in activity:
            raise ConfigError("[preprocess.regression] index names an index the study does "
                              "not read", path=cfg.path,
                              expected="one of [activity] " + (", ".join(activity) or "kp, dst"),
                              found=name)
        f = str(cfg.resolve(cfg.table("activity")[name]))
        return {"activity": activity[name], "key": {"activity": name, "sha": sums.get(f)}}
    code = cfg.table("records").get("reference")
    if code not in records:
        raise ConfigError("[preprocess.regression] on = \"reference\" needs [records] "
                          "reference, the code of the study station to regress on",
                          path=cfg.path, expected=", ".join(records), found=str(code))
    return {"reference": records[code], "key": {"reference": code, "record": digests[code]}}


@dataclass(frozen=True, eq=False)
class RecordUnits:
    """The units of a record study, built from its configuration and inputs: the one place
    where unit specs and their hashes are made (the study's and the power study's).

    Use :meth:`from_inputs`; ``digests`` are the records' checksums, ``catalog_key`` the
    catalog file's SHA-256, ``regressors`` :func:`regression_inputs`.
    """

    cfg: StudyConfig
    out: Path
    records: dict
    catalog: pd.DataFrame
    activity: dict
    sums: dict
    digests: dict
    catalog_key: str
    regressors: dict

    @classmethod
    def from_inputs(cls, cfg: StudyConfig, out: str | os.PathLike, records: dict, catalog,
                    activity: dict, sums: dict) -> RecordUnits:
        """The builder of a study with report folder ``out``, station records ``records``
        (code -> record), ``catalog``, activity indices ``activity`` (name -> table) and
        ``sums`` (input file -> SHA-256)."""
        digests = {c: record_digest(r) for c, r in records.items()}
        cat_key = sums.get(str(cfg.resolve(cfg.table("catalog").get("file", ""))), "")
        return cls(cfg=cfg, out=Path(out), records=records, catalog=catalog, activity=activity,
                   sums=sums, digests=digests, catalog_key=cat_key,
                   regressors=regression_inputs(cfg, records, activity, digests, sums))

    def detector_unit(self, code: str, det: str, year: int) -> DetectorUnit:
        """The unit of trained detector ``det`` for station ``code`` and test year ``year``."""
        cfg = self.cfg
        si = [s.code for s in cfg.stations].index(code)
        wcfg = cfg.table("windows")
        tcfg = cfg.table("train")
        pre = cfg.table("preprocess") or None
        seed = unit_seed(cfg.seed, si, year)
        key = {"geoanom": __version__, "station": code, "detector": det,
               "year": year, "windows": wcfg,
               "train": tcfg, "preprocess": pre, "seed": seed,
               "record": self.digests[code],
               "catalog": self.catalog_key, "normalisation": cfg.study["score_normalisation"],
               "min_train_days": cfg.min_train_days}
        if self.regressors:
            key["regression_input"] = self.regressors["key"]
        folder = self.out / "units" / code / det
        return DetectorUnit(
            record=self.records[code], catalog=self.catalog, window_config=wcfg,
            train_config=tcfg, preprocess=pre, detector=det, lam=TRAINED_DETECTORS[det],
            year=year, seed=seed, out=str(folder / f"{year}.nc"),
            model_dir=str(folder / f"model_{year}"), unit_hash=config_hash(key),
            normalisation=cfg.study["score_normalisation"], min_train_days=cfg.min_train_days,
            activity=self.regressors.get("activity"),
            reference=self.regressors.get("reference"))

    def activity_unit(self, code: str) -> ActivityUnit:
        """The one activity-only unit of station ``code`` (all test years)."""
        cfg = self.cfg
        act_tab = cfg.table("activity")
        years = cfg.test_years
        idx = act_tab.get("score", "kp")
        key = {"geoanom": __version__, "station": code, "detector": ACTIVITY_DETECTOR,
               "years": [years[0], years[-1]],
               "index": idx, "index_sha": self.sums.get(str(cfg.resolve(act_tab[idx]))),
               "record": self.digests[code]}
        path = self.out / "units" / code / ACTIVITY_DETECTOR / "all_years.nc"
        return ActivityUnit(record=self.records[code], activity=self.activity[idx], index=idx,
                            years=(years[0], years[-1]), out=str(path),
                            unit_hash=config_hash(key))

    def all_units(self) -> tuple[list, dict[tuple[str, str], list[Path]]]:
        """Every unit of the study (stations x detectors [x test years]) and, per
        ``(station, detector)``, the unit files that make its scores."""
        units: list = []
        files: dict[tuple[str, str], list[Path]] = {}
        for st in self.cfg.stations:
            for det in self.cfg.detectors:
                if det == ACTIVITY_DETECTOR:
                    mine = [self.activity_unit(st.code)]
                else:
                    mine = [self.detector_unit(st.code, det, y) for y in self.cfg.test_years]
                units += mine
                files[(st.code, det)] = [Path(u.out) for u in mine]
        return units, files


def read_unit(path: str | os.PathLike) -> xr.Dataset | None:
    """A unit's result file, or None when absent or unreadable."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        return xr.load_dataset(p, engine="netcdf4")
    except (OSError, ValueError):
        return None


def stored_unit(unit: DetectorUnit | ActivityUnit) -> dict | None:
    """The facts of a unit already done (its file carries the unit's hash), marked
    ``resumed``; None when it has to run."""
    ds = read_unit(unit.out)
    if ds is None or ds.attrs.get("unit_hash") != unit.unit_hash:
        return None
    return {**json.loads(ds.attrs.get("info", "{}")), "resumed": True}


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


def run_detector_unit(unit: DetectorUnit) -> dict:
    """Fit one detector for one station and test year, score the year, write the unit.

    Rolling origin: :func:`~geoanom.detector.api.fit_detector` with the
    :class:`~geoanom.detector.api.TrainingPeriod` ``[1 January year - 1, 1 January year)``
    (train before it, validate in it), then :meth:`~geoanom.detector.api.Detector.score` on
    the validation and test years.

    Returns
    -------
    dict
        ``status`` ("done", "skipped" with ``reason``), ``path``, ``seconds`` and training
        facts.
    """
    t_start = time.perf_counter()
    torch.set_num_threads(int(unit.threads))
    out = Path(unit.out)
    year = int(unit.year)
    rec = unit.record
    info: dict = {"detector": unit.detector, "year": year,
                  "station": str(rec.attrs.get("iaga_code"))}
    attrs = {"unit_hash": unit.unit_hash, "station": info["station"], "year": year,
             "detector": unit.detector}
    v0, y0 = year_bounds(year - 1)[0], year_bounds(year)[0]
    y1 = year_bounds(year)[1]
    config = DetectorConfig.from_dict({
        "windows": unit.window_config,
        "train": {**unit.train_config, "lam": float(unit.lam), "seed": int(unit.seed)},
        "preprocess": unit.preprocess or {}})
    mdir = Path(unit.model_dir)
    regressors = {"activity": unit.activity, "reference": unit.reference}

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
    if before.size == 0 or ((before[-1] - before[0]) / np.timedelta64(1, "D")
            < float(unit.min_train_days)):
        return skipped(f"less than {unit.min_train_days} days of data before {year - 1}")
    if unit.reuse_model:
        if not (mdir / "model.json").is_file():
            return skipped(f"no trained model for {year} to reuse")
        det = load_detector(mdir, device="cpu")
    else:
        try:
            det = fit_detector(rec, unit.catalog, config, out_dir=mdir,
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
    if unit.normalisation == "validation_median":
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


def run_activity_unit(unit: ActivityUnit) -> dict:
    """The activity-only detector for one station: the index (daily max of Kp, or of -Dst)
    on day windows over the test years; no training (:func:`activity_scores`)."""
    t_start = time.perf_counter()
    rec = unit.record
    act = unit.activity
    name = unit.index
    col = [c for c in act.columns if c != "time"][0]
    v = act[col].to_numpy(float)
    if "dst" in col.lower():
        v = -v   # higher = more active, as the test's activity baseline
    series = pd.Series(v, index=pd.to_datetime(act["time"]))
    y0 = year_bounds(int(unit.years[0]))[0]
    y1 = year_bounds(int(unit.years[1]))[1]
    seg = rec.sel(time=slice(y0 - np.timedelta64(1, "D"), y1 - np.timedelta64(1, "ns")))
    sc = activity_scores(seg, series, window_length_s=86400.0, stride_s=86400.0,
                         variable=name, how="max")
    end = sc["end"].values.astype("datetime64[ns]")
    m = (end > y0) & (end <= y1)
    s = sc["score"].values.astype(float)[m]
    info = {"detector": "activity", "index": name, "station": str(rec.attrs.get("iaga_code")),
            "status": "done", "n_test_windows": int(m.sum()),
            "seconds": round(time.perf_counter() - t_start, 2)}
    _write_unit(Path(unit.out), sc["start"].values[m], end[m], s, s,
                {"unit_hash": unit.unit_hash, "station": info["station"],
                 "detector": "activity", "status": "done", "info": info})
    info["path"] = str(unit.out)
    return info


def run_unit(unit: DetectorUnit | ActivityUnit) -> dict:
    """Run a unit by its type (the entry point of serial and dask runs)."""
    if isinstance(unit, ActivityUnit):
        return run_activity_unit(unit)
    return run_detector_unit(unit)


def concat_unit_scores(cfg: StudyConfig, record: xr.Dataset, unit_paths: list[Path],
                       detector: str, extra: dict | None = None) -> xr.Dataset | None:
    """Concatenate a station's unit files of one detector into one SCORES dataset (all
    windows ``split = "test"``: every score is out of sample)."""
    parts, infos = [], []
    for p in unit_paths:
        ds = read_unit(p)
        if ds is None:
            continue
        infos.append(json.loads(ds.attrs.get("info", "{}")))
        if ds.attrs.get("status") == "done" and ds.sizes["window"]:
            parts.append(ds)
    if not parts:
        return None
    start = np.concatenate([d["start"].values for d in parts])
    end = np.concatenate([d["end"].values for d in parts])
    sc = np.concatenate([d[SCORE_VAR].values for d in parts])
    raw = np.concatenate([d["score_raw"].values for d in parts])
    order = np.argsort(end, kind="mergesort")
    day = float(S_PER_DAY)
    wl = day if detector == ACTIVITY_DETECTOR else float(
        cfg.table("windows").get("window_length_s", day))
    st = day if detector == ACTIVITY_DETECTOR else float(
        cfg.table("windows").get("stride_s", day))
    ds = xr.Dataset({"start": ("window", start[order]), "end": ("window", end[order]),
                     SCORE_VAR: ("window", sc[order], {"long_name": f"{detector} score"}),
                     "score_raw": ("window", raw[order]),
                     "split": ("window", np.full(order.size, "test", dtype=object))},
                    coords={"window": np.arange(order.size)})
    prov = provenance(config={"study": cfg.name, "study_config_hash": cfg.hash(),
                              "detector": detector, "units": infos, **(extra or {})},
                      seeds={"seed": cfg.seed})
    ds.attrs = score_attrs(record, window_length_s=wl, stride_s=st,
                           period=float(record.attrs.get("sampling_period_s", day)),
                           kind=f"study_{detector}", prov=prov)
    ds.attrs["detector"] = detector
    return ds


def write_station_scores(cfg: StudyConfig, out: Path, records: dict,
                         unit_files: dict) -> tuple[dict, dict[str, dict]]:
    """Write each station's concatenated scores per detector; return the ``stations``
    section of the results (units and score files) and detector -> station -> scores."""
    stations_out: dict = {}
    scores_by_det: dict[str, dict] = {d: {} for d in cfg.detectors}
    for st in cfg.stations:
        sd = out / "stations" / st.code
        stations_out[st.code] = st.result_entry()
        for det in cfg.detectors:
            ds = concat_unit_scores(cfg, records[st.code], unit_files[(st.code, det)], det)
            units = []
            for p in unit_files[(st.code, det)]:
                u = read_unit(p)
                if u is not None:
                    units.append(json.loads(u.attrs.get("info", "{}")))
            entry: dict = {"units": [{k: u.get(k) for k in ("year", "status", "reason",
                                                            "best_epoch", "val_metric",
                                                            "n_train_seismic", "normaliser")
                                      if k in u} for u in units]}
            if ds is None:
                entry["status"] = "no scores (every unit skipped)"
            else:
                sp = write_scores(ds, sd / f"scores_{det}.nc")
                entry["scores"] = str(sp.relative_to(out))
                scores_by_det[det][st.code] = ds
            stations_out[st.code]["detectors"][det] = entry
    return stations_out, scores_by_det
