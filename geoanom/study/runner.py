"""``geoanom study``: run a study configuration end to end and write its report folder.

Layout of ``REPORT_DIR``::

    results.json                  every number, with provenance
    summary.md                    the verdicts in words, with the events they rest on
    figures/                      timelines, Molchan curves, superposed epochs, forest plot
    stations/<CODE>/scores_<detector>.nc   concatenated test-year scores per station
    stations/<CODE>/test_<detector>.json   the event-level test (run_test)
    units/...                     one file per unit (station x detector x test year
                                  [x injection]); a rerun skips units whose file carries
                                  the same unit hash, so a killed study continues
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom._jsonfile import json_safe
from geoanom._time import S_PER_DAY
from geoanom._version import __version__
from geoanom.errors import ConfigError
from geoanom.provenance import config_hash, file_sha256, provenance
from geoanom.study.config import ACTIVITY_DETECTOR, SHORT, TRAINED_DETECTORS, StudyConfig
from geoanom.study.units import SCORE_VAR, read_unit, run_unit, unit_done

RESULT_TYPE = "geoanom.StudyResult"
#: Stations enter a paired detector comparison when both tests rest on this many events.
PAIRED_MIN_EVENTS = 5
SCHEMA = 1


class StudyLog:
    """A study's progress lines on stderr: ``geoanom study [seconds] what``.

    (Not :class:`geoanom._progress.Progress`, the progress *bar* of one loop.)
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(f"geoanom study [{time.perf_counter() - self.t0:7.1f} s] {text}",
                  file=sys.stderr, flush=True)


def record_digest(record: xr.Dataset) -> str:
    """Checksum of a record's values (the unit hash changes when the data do)."""
    import hashlib

    h = hashlib.sha256()
    h.update(np.asarray(record["time"].values, "datetime64[ns]").tobytes())
    for c in sorted(map(str, record.data_vars)):
        if not c.endswith("_flag"):
            h.update(np.ascontiguousarray(record[c].values, np.float64).tobytes())
    return h.hexdigest()[:16]


def unit_seed(seed: int, station_index: int, year: int) -> int:
    """Training seed of a unit: the same for every detector of a station-year (paired)."""
    return int(seed) * 100_003 + station_index * 1_009 + int(year)


def run_units(specs: list[dict], *, scheduler: str | None = None, workers: int = 2,
              progress: StudyLog | None = None) -> list[dict]:
    """Run unit specs serially or on ``dask.distributed``; units already done are skipped.

    Results are identical either way: each unit is a pure function of its spec (seeded,
    deterministic, one torch thread), and its output goes to its own file.
    """
    progress = progress or StudyLog(False)
    todo = [s for s in specs if not unit_done(s["out"], s["unit_hash"])]
    done_before = len(specs) - len(todo)
    if done_before:
        progress(f"{done_before} of {len(specs)} units already done (resumed)")
    out: list[dict] = []
    if not todo:
        return out
    if scheduler:
        from geoanom.detector.distributed import get_client

        client = get_client(scheduler, workers=workers, threads_per_worker=1)
        try:
            from distributed import as_completed

            futs = client.map(run_unit, todo, pure=False)
            for k, f in enumerate(as_completed(futs), 1):
                r = f.result()
                out.append(r)
                progress(f"unit {k}/{len(todo)}: {r.get('station')} {r.get('detector')} "
                         f"{r.get('year', '')} {r['status']} ({r.get('seconds', 0):.1f} s)")
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if scheduler == "local" and cluster is not None:
                cluster.close()
        return out
    for k, s in enumerate(todo, 1):
        r = run_unit(s)
        out.append(r)
        progress(f"unit {k}/{len(todo)}: {r.get('station')} {r.get('detector')} "
                 f"{r.get('year', '')} {r['status']}"
                 + (f" ({r['reason']})" if r.get("reason") else "")
                 + f" ({r.get('seconds', 0):.1f} s)")
    return out


def concat_unit_scores(cfg: StudyConfig, record: xr.Dataset, unit_paths: list[Path],
                       detector: str, extra: dict | None = None) -> xr.Dataset | None:
    """Concatenate a station's unit files of one detector into one SCORES dataset (all
    windows ``split = "test"``: every score is out of sample)."""
    from geoanom.detector.score import score_attrs

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


def _remote_summary(r) -> dict | None:
    rb = (r.baselines or {}).get("remote_station")
    pl = (r.placebos or {}).get("remote_station")
    if not rb and not pl:
        return None
    return {"station": (rb or {}).get("station"), "baseline_ass": (rb or {}).get("ass"),
            "baseline_p": (rb or {}).get("p_value"),
            "placebo_auc": (pl or {}).get("auc"), "placebo_p": (pl or {}).get("p_value"),
            "placebo_came_out_null": (pl or {}).get("came_out_null")}


def _test_summary(r) -> dict:
    pr, eff = r.primary, r.effect_sizes
    act = (r.baselines or {}).get("activity") or {}
    return {"auc": pr.get("auc"), "auc_ci95": eff.get("auc_ci95"), "p_value": pr.get("p_value"),
            "p_value_basis": pr.get("p_value_basis"), "verdict": pr.get("verdict"),
            "significant": pr.get("significant"),
            "n_independent_events": pr.get("n_independent_events"), "n_bins": pr.get("n_bins"),
            "critical_auc": pr.get("critical_auc"), "null": pr.get("null"),
            "test_period": pr.get("test_period"),
            "activity_baseline": {"name": act.get("name"), "ass": act.get("ass"),
                                  "p_value": act.get("p_value")} if act else None,
            "activity_correlation": r.guardrails.get("activity_correlation"),
            "control_station": _remote_summary(r),
            "warnings": list(r.guardrails.get("warnings", []))}


def test_station(cfg: StudyConfig, ds: xr.Dataset, catalog, activity, path: Path,
                 seed: int, protocol=None, remote: xr.Dataset | None = None):
    """Run (or reuse) the event-level test of one station's scores; returns the TestResult.

    ``remote``: an aseismic control station's scores (remote-station baseline and placebo).
    """
    from geoanom.stats.protocol import protocol_hash
    from geoanom.stats.result import TestResult
    from geoanom.stats.test import run_test

    p = protocol or cfg.protocol()
    h = config_hash({"scores": json.loads(ds.attrs["geoanom_provenance"])["config"],
                     "protocol": protocol_hash(p), "seed": seed,
                     "values": config_hash(np.nan_to_num(ds[SCORE_VAR].values).round(9)
                                           .tolist()),
                     "remote": None if remote is None else
                     [str(remote.attrs.get("iaga_code")), str(remote.attrs.get("score_kind")),
                      config_hash(np.nan_to_num(remote[SCORE_VAR].values).round(9).tolist())]})
    hp = path.with_suffix(".hash")
    if path.is_file() and hp.is_file() and hp.read_text().strip() == h:
        return TestResult.read(path)
    r = run_test(ds, catalog, p, activity=activity, remote_scores=remote, seed=seed)
    r.write(path)
    atomic_write_text(hp, h + "\n")
    return r


def _verdict_after_by(test: dict, q: float, alpha: float, n_stations: int) -> str:
    """The per-station verdict once Benjamini-Yekutieli over the seismic stations is applied."""
    if test.get("significant") is None:
        return str(test.get("verdict"))
    if np.isfinite(q) and q <= alpha:
        return f"significant after BY over {n_stations} stations (q = {q:.3f})"
    tail = f"q = {q:.3f}" if np.isfinite(q) else "q n/a"
    if test.get("significant"):
        return f"significant alone, not after BY over {n_stations} stations ({tail})"
    return f"not significant ({tail})"


def _by(p: list[float]) -> list[float]:
    from geoanom.stats.multiplicity import benjamini_yekutieli

    return [float(x) for x in benjamini_yekutieli(np.asarray(p, float))]


def _by_over_stations(stations_out: dict, codes: list[str], det: str,
                      alpha: float) -> tuple[list[float], list[float]]:
    """Benjamini-Yekutieli over the primary p-values of detector ``det``'s tests at ``codes``
    (a missing p-value counts as NaN); each test entry gets its ``q_value_by`` and
    ``verdict_after_multiplicity``. Returns the p-values and the q-values."""
    pv = [stations_out[c]["detectors"][det]["test"]["p_value"] for c in codes]
    pv = [float("nan") if v is None else float(v) for v in pv]
    q = _by(pv) if codes else []
    for c, qq in zip(codes, q, strict=True):
        te = stations_out[c]["detectors"][det]["test"]
        te["q_value_by"] = qq
        te["verdict_after_multiplicity"] = _verdict_after_by(te, qq, alpha, len(codes))
    return pv, q


def paired_aucs(stations_out: dict, codes, det: str) -> dict[str, float]:
    """Station -> AUC of detector ``det``'s test, for the stations of ``codes`` whose test
    rests on at least :data:`PAIRED_MIN_EVENTS` independent events (an AUC of one event is
    0 or 1 by chance): the stations a paired detector comparison may use."""
    out: dict[str, float] = {}
    for c in codes:
        te = stations_out[c]["detectors"].get(det, {}).get("test") or {}
        if te.get("auc") is not None and (te.get("n_independent_events") or 0) \
                >= PAIRED_MIN_EVENTS:
            out[c] = float(te["auc"])
    return out


def paired_difference(a: dict, b: dict, seed: int = 0, n_boot: int = 9999) -> dict:
    """``a - b`` of per-station AUCs, paired over stations where both exist: mean, bootstrap
    95 % CI over stations, and how many stations favour ``a``."""
    codes = [c for c in a if c in b and np.isfinite(a[c]) and np.isfinite(b[c])]
    if not codes:
        return {"n_stations": 0}
    d = np.array([a[c] - b[c] for c in codes])
    rng = np.random.default_rng(seed)
    bs = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    return {"n_stations": len(codes), "stations": codes, "differences": d.tolist(),
            "mean": float(d.mean()), "ci95": [float(np.percentile(bs, 2.5)),
                                              float(np.percentile(bs, 97.5))],
            "n_positive": int((d > 0).sum())}


def run_study(cfg: StudyConfig, output: str | os.PathLike, *, scheduler: str | None = None,
              workers: int = 2, progress: bool = True, inject: bool = False,
              figures: bool = True) -> dict:
    """Run a study and write its report folder (see the module docstring).

    Parameters
    ----------
    cfg
        The validated study configuration (:func:`geoanom.study.config.load_study_config`).
    output
        Report folder (created; a rerun resumes from the unit files in it).
    scheduler
        ``None``: serial; ``"local"``: a LocalCluster of ``workers`` processes; else a
        dask scheduler address.
    workers
        Workers of a local cluster.
    progress
        Progress lines on stderr.
    inject
        Also run the power study (the ``[power]`` table, :mod:`geoanom.study.power`).
    figures
        Draw the figures.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    t_all = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    say = StudyLog(progress)
    timings: dict[str, float] = {}
    sums = _start_report(cfg, out, say)
    if cfg.kind == "scores":
        from geoanom.study.own_scores import run_scores_study

        return run_scores_study(cfg, out, sums=sums, say=say, figures=figures)

    t = time.perf_counter()
    records, catalog, activity, base_name = _read_inputs(cfg, say)
    timings["read_inputs"] = round(time.perf_counter() - t, 2)
    specs, unit_files = _unit_specs(cfg, out, records, catalog, activity, sums)
    years = cfg.test_years
    say(f"{len(specs)} units (stations x detectors x test years {years[0]}-{years[-1]})")
    t = time.perf_counter()
    unit_results = run_units(specs, scheduler=scheduler, workers=workers, progress=say)
    timings["units"] = round(time.perf_counter() - t, 2)
    timings["units_cpu_sum"] = round(sum(r.get("seconds", 0) for r in unit_results), 2)

    t = time.perf_counter()
    stations_out, scores_by_det = _write_station_scores(cfg, out, records, unit_files)
    results_obj = _test_stations(cfg, out, stations_out, scores_by_det, catalog,
                                 activity[base_name], say)
    timings["tests"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    across = _across_stations(cfg, stations_out, scores_by_det, catalog, say)
    paired = _paired_comparisons(cfg, stations_out)
    timings["pooled"] = round(time.perf_counter() - t, 2)

    power = None
    if inject:
        from geoanom.study.power import run_power

        t = time.perf_counter()
        power = run_power(cfg, out, records=records, catalog=catalog, activity=activity,
                          scheduler=scheduler, workers=workers, say=say)
        timings["power"] = round(time.perf_counter() - t, 2)

    result = _record_study_result(cfg, stations_out, across, paired, power, catalog, timings)
    if figures:
        from geoanom.study.report import study_figures

        t = time.perf_counter()
        say("figures")
        result["files"]["figures"] = study_figures(result, out, scores_by_det, results_obj,
                                                   activity, catalog)
        timings["figures"] = round(time.perf_counter() - t, 2)
    return seal_report(result, cfg, out, say, sums=sums, t_all=t_all)


# ---------------------------------------------------------------- the phases of run_study

def _start_report(cfg: StudyConfig, out: Path, say) -> dict[str, str]:
    """Write the configuration this report is made with (``study.toml``: rerun it with
    ``geoanom study --config``) and return the SHA-256 of every input file."""
    from geoanom.study import inputs
    from geoanom.study.config import study_toml

    atomic_write_text(out / "study.toml", study_toml(cfg.raw, header=(
        f"study {cfg.name!r} as run (config hash {cfg.hash()}); relative input paths "
        f"resolve against --data-root or [study] data_root")))
    files = inputs.input_files(cfg)
    say(f"study {cfg.name!r}: checksumming {len(files)} input files")
    return {str(f): file_sha256(f) for f in files}


def _record_study_result(cfg: StudyConfig, stations_out: dict, across: dict, paired: dict,
                         power: dict | None, catalog, timings: dict) -> dict:
    """The results of a record study before figures and provenance are added."""
    return {"type": RESULT_TYPE, "schema": SCHEMA, "study": cfg.name, "kind": cfg.kind,
            "config": cfg.raw, "config_hash": cfg.hash(), "stations": stations_out,
            "across_stations": across, "paired": paired, "power": power,
            "catalog": {"n_events": int(len(catalog)),
                        "n_mainshocks": int(catalog["mainshock"].sum()),
                        "declustering": str(catalog.attrs.get("declustering", ""))},
            "files": {}, "timings_s": timings, "provenance": {}}


def _read_inputs(cfg: StudyConfig, say) -> tuple[dict, object, dict, str]:
    """Records, catalog and activity indices of a record study, and the name of the index
    that is the tests' activity baseline."""
    from geoanom.study import inputs

    records = inputs.load_records(cfg)
    catalog = inputs.load_catalog(cfg)
    activity = inputs.load_activity(cfg)
    say(f"read {len(records)} station records, {len(catalog)} catalog events "
        f"({int(catalog['mainshock'].sum())} mainshocks), indices {sorted(activity)}")
    base_name = cfg.table("activity").get("baseline", "kp")
    if base_name not in activity:
        raise ConfigError("[activity] baseline names an index that is not given",
                          path=cfg.path, expected=", ".join(activity) or "kp or dst",
                          found=base_name)
    return records, catalog, activity, base_name


def _unit_specs(cfg: StudyConfig, out: Path, records: dict, catalog, activity: dict,
                sums: dict) -> tuple[list[dict], dict[tuple[str, str], list[Path]]]:
    """The unit specs of a record study (stations x detectors [x test years]) and, per
    ``(station, detector)``, the unit files that make its scores."""
    specs: list[dict] = []
    unit_files: dict[tuple[str, str], list[Path]] = {}
    digests = {c: record_digest(r) for c, r in records.items()}
    cat_key = sums.get(str(cfg.resolve(cfg.table("catalog").get("file", ""))), "")
    regressors = regression_inputs(cfg, records, activity, digests, sums)
    for si, st in enumerate(cfg.stations):
        for det in cfg.detectors:
            if det == ACTIVITY_DETECTOR:
                spec = _activity_unit_spec(cfg, out, st.code, records[st.code], activity,
                                           sums, digests[st.code])
                specs.append(spec)
                unit_files[(st.code, det)] = [Path(spec["out"])]
                continue
            unit_files[(st.code, det)] = []
            for y in cfg.test_years:
                spec = _detector_unit_spec(cfg, out, si, st.code, records[st.code], catalog,
                                           det, y, digests[st.code], cat_key, regressors)
                specs.append(spec)
                unit_files[(st.code, det)].append(Path(spec["out"]))
    return specs, unit_files


def _activity_unit_spec(cfg: StudyConfig, out: Path, code: str, rec: xr.Dataset,
                        activity: dict, sums: dict, digest: str) -> dict:
    """The one activity-only unit of a station (all test years)."""
    act_tab = cfg.table("activity")
    years = cfg.test_years
    det = ACTIVITY_DETECTOR
    idx = act_tab.get("score", "kp")
    key = {"geoanom": __version__, "station": code, "detector": det,
           "years": [years[0], years[-1]],
           "index": idx, "index_sha": sums.get(str(cfg.resolve(act_tab[idx]))),
           "record": digest}
    path = out / "units" / code / det / "all_years.nc"
    return {"kind": "activity", "record": rec, "activity": activity[idx],
            "index": idx, "years": [years[0], years[-1]], "out": str(path),
            "unit_hash": config_hash(key)}


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


def _detector_unit_spec(cfg: StudyConfig, out: Path, si: int, code: str, rec: xr.Dataset,
                        catalog, det: str, y: int, digest: str, cat_key: str,
                        regressors: dict) -> dict:
    """The unit of a trained detector for station number ``si`` and test year ``y``."""
    wcfg = cfg.table("windows")
    tcfg = cfg.table("train")
    pre = cfg.table("preprocess") or None
    seed = unit_seed(cfg.seed, si, y)
    key = {"geoanom": __version__, "station": code, "detector": det,
           "year": y, "windows": wcfg,
           "train": tcfg, "preprocess": pre, "seed": seed,
           "record": digest,
           "catalog": cat_key, "normalisation": cfg.study["score_normalisation"],
           "min_train_days": cfg.min_train_days}
    if regressors:
        key["regression_input"] = regressors["key"]
    path = out / "units" / code / det / f"{y}.nc"
    return {"kind": "detector", "record": rec, "catalog": catalog,
            "window_config": wcfg, "train_config": tcfg, "year": y,
            "preprocess": pre, "activity": regressors.get("activity"),
            "reference": regressors.get("reference"),
            "detector": det, "lam": TRAINED_DETECTORS[det], "seed": seed,
            "out": str(path), "model_dir": str(out / "units" / code / det / f"model_{y}"),
            "unit_hash": config_hash(key),
            "normalisation": cfg.study["score_normalisation"],
            "min_train_days": cfg.min_train_days, "threads": 1}


def _write_station_scores(cfg: StudyConfig, out: Path, records: dict,
                    unit_files: dict) -> tuple[dict, dict[str, dict]]:
    """Write each station's concatenated scores per detector; return the ``stations``
    section of the results (units and score files) and detector -> station -> scores."""
    from geoanom.detector.score import write_scores

    stations_out: dict = {}
    scores_by_det: dict[str, dict] = {d: {} for d in cfg.detectors}
    for st in cfg.stations:
        sd = out / "stations" / st.code
        stations_out[st.code] = {"role": st.role, "latitude_deg": st.latitude_deg,
                                 "longitude_deg": st.longitude_deg, "detectors": {}}
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


def _control_scores(ds: xr.Dataset, det: str, scores_by_det: dict,
                    control: str) -> xr.Dataset | None:
    """The aseismic control's scores that serve as remote-station baseline and placebo of a
    seismic station's test: of the same detector, or of the plain autoencoder where negative
    learning cannot train without seismic windows; only the control's windows within the
    station's span (run_test bins the remote score on the station's bins)."""
    remote = scores_by_det[det].get(control)
    if remote is None and det == "negative_learning":
        remote = scores_by_det.get("plain_autoencoder", {}).get(control)
    if remote is None:
        return None
    e, er = ds["end"].values, remote["end"].values
    keep = (er >= e.min().astype("datetime64[D]")) & (er <= e.max())
    return remote.isel(window=np.flatnonzero(keep)) if keep.sum() > 1 else None


def _test_stations(cfg: StudyConfig, out: Path, stations_out: dict, scores_by_det: dict,
                   catalog, base_act, say) -> dict:
    """The event-level test of every station's scores of every detector (seed
    ``cfg.seed + station index``); fills ``stations_out`` and returns
    ``(station, detector) -> TestResult``."""
    results_obj: dict = {}
    controls = [s.code for s in cfg.stations if s.role == "control"]
    for si, st in enumerate(cfg.stations):
        sd = out / "stations" / st.code
        for det in cfg.detectors:
            ds = scores_by_det[det].get(st.code)
            if ds is None:
                continue
            remote = None
            if st.role == "seismic" and controls:
                remote = _control_scores(ds, det, scores_by_det, controls[0])
            say(f"testing {st.code} {det} ({ds.sizes['window']} windows)")
            r = test_station(cfg, ds, catalog, base_act, sd / f"test_{det}.json",
                             seed=cfg.seed + si, remote=remote)
            entry = stations_out[st.code]["detectors"][det]
            entry["test"] = _test_summary(r)
            entry["test_file"] = str((sd / f"test_{det}.json").relative_to(out))
            results_obj[(st.code, det)] = r
    return results_obj


def _across_stations(cfg: StudyConfig, stations_out: dict, scores_by_det: dict, catalog,
                     say) -> dict:
    """Per detector: Benjamini-Yekutieli over the seismic stations' primary p-values (each
    station's test entry gets its q-value and verdict after it) and the pooled test
    (seed ``cfg.seed + 7919``)."""
    from geoanom.study.pooled import pooled_test

    proto = cfg.protocol()
    seismic = [s.code for s in cfg.stations if s.role == "seismic"]
    across: dict = {}
    for det in cfg.detectors:
        codes = [c for c in seismic if "test" in stations_out[c]["detectors"].get(det, {})]
        _, q = _by_over_stations(stations_out, codes, det, proto.alpha)
        say(f"pooled test {det} over {len(codes)} stations (joint catalog shifts)")
        pooled = pooled_test({c: scores_by_det[det][c] for c in codes}, catalog, proto,
                             seed=cfg.seed + 7919)
        across[det] = {"stations": codes, "by_q_values": dict(zip(codes, q, strict=True)),
                       "multiplicity": "Benjamini-Yekutieli over the seismic stations' "
                                       "primary p-values (geoanom.stats)",
                       "pooled": pooled}
    return across


def _paired_comparisons(cfg: StudyConfig, stations_out: dict) -> dict:
    """Paired detector comparisons over the seismic stations whose tests rest on at least
    PAIRED_MIN_EVENTS events for both detectors (an AUC of one event is 0 or 1 by chance)."""
    seismic = [s.code for s in cfg.stations if s.role == "seismic"]
    aucs = {det: paired_aucs(stations_out, seismic, det) for det in cfg.detectors}
    paired = {}
    if {"negative_learning", "plain_autoencoder"} <= set(cfg.detectors):
        paired["negative_learning_minus_plain_autoencoder"] = paired_difference(
            aucs["negative_learning"], aucs["plain_autoencoder"], seed=cfg.seed)
    for det in TRAINED_DETECTORS:
        if det in cfg.detectors and ACTIVITY_DETECTOR in cfg.detectors:
            paired[f"{det}_minus_activity"] = paired_difference(aucs[det], aucs["activity"],
                                                                seed=cfg.seed)
    for d in paired.values():
        d["min_events"] = PAIRED_MIN_EVENTS
    return paired


def seal_report(result: dict, cfg: StudyConfig, out: Path, say, *, sums: dict,
                t_all: float) -> dict:
    """The last step of every study: total time (s since ``t_all``), provenance (config,
    seed, input checksums), then :func:`finish_report`."""
    result["timings_s"]["total"] = round(time.perf_counter() - t_all, 2)
    result["provenance"] = provenance(config=cfg.raw, seeds={"seed": cfg.seed},
                                      extra={"type": RESULT_TYPE, "schema": SCHEMA,
                                             "inputs_sha256": sums})
    return finish_report(result, out, say)


def finish_report(result: dict, out: Path, say, extra_summary: str = "") -> dict:
    """Write ``results.json`` and ``summary.md`` (with ``extra_summary`` after its title
    block) atomically; return the JSON-safe result."""
    from geoanom.study.report import summary_markdown

    result["files"].update({"results": "results.json", "summary": "summary.md",
                            "config": "study.toml"})
    result = json_safe(result)
    atomic_write_text(out / "results.json", json.dumps(result, indent=1, default=str) + "\n")
    text = summary_markdown(result)
    if extra_summary:
        head, sep, rest = text.partition("## Per station")
        text = head + extra_summary + "\n" + sep + rest
    atomic_write_text(out / "summary.md", text)
    say(f"report in {out}")
    return result


__all__ = ["run_study", "run_units", "concat_unit_scores", "paired_aucs", "paired_difference",
           "StudyLog", "SHORT"]
