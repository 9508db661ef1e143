"""``geoanom study``: run a study configuration end to end and write its report folder.

Two phases: produce the scores (a record study runs its units,
:mod:`geoanom.study.units`; a scores study takes the user's own scores,
:mod:`geoanom.study.own_scores`), then assess them the same way for every kind
(:mod:`geoanom.study.assess`); a record study may add the power study
(:mod:`geoanom.study.power`), and the report ends both (:mod:`geoanom.study.report`).

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

import os
import sys
import time
from pathlib import Path

import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom.errors import ConfigError
from geoanom.executor import run_all
from geoanom.provenance import file_sha256
from geoanom.study import inputs
from geoanom.study.assess import StationScores, assess
from geoanom.study.config import StudyConfig, study_toml
from geoanom.study.own_scores import grid_multiplicity, write_area_scores
from geoanom.study.power import run_power
from geoanom.study.report import seal_report, study_figures, study_result
from geoanom.study.units import RecordUnits, run_unit, stored_unit, write_station_scores


class StudyLog:
    """A study's log: one line per step on stderr, ``geoanom study [seconds] what``.

    A log of lines, not a progress bar (that is :class:`geoanom._progress.Progress`).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, text: str) -> None:
        if self.enabled:
            print(f"geoanom study [{time.perf_counter() - self.t0:7.1f} s] {text}",
                  file=sys.stderr, flush=True)


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
        Also run the power study (the ``[power]`` table, :mod:`geoanom.study.power`) of a
        record study.
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
    extra: dict = {}
    if cfg.kind == "scores":
        scores, catalog, activity, extra = _own_scores(cfg, out, say, timings)
    else:
        scores, catalog, activity, units = _record_scores(cfg, out, sums, say, timings,
                                                          scheduler=scheduler, workers=workers)
    baseline = activity.get(cfg.table("activity").get("baseline", "kp"))
    assessment = assess(cfg, out, scores, catalog, baseline, say, timings)
    if cfg.kind == "scores":
        extra["grid"] = grid_multiplicity(cfg, assessment)
    elif inject:
        t = time.perf_counter()
        extra["power"] = run_power(units, scheduler=scheduler, workers=workers, say=say)
        timings["power"] = round(time.perf_counter() - t, 2)
    result = study_result(cfg, assessment, catalog, timings, **extra)
    if figures:
        t = time.perf_counter()
        say("figures")
        # timelines are drawn of record scores only
        timelines = scores.by_detector if cfg.kind == "record" else {}
        result["files"]["figures"] = study_figures(result, out, timelines, assessment.tests,
                                                   activity, catalog)
        timings["figures"] = round(time.perf_counter() - t, 2)
    return seal_report(result, cfg, out, say, sums=sums, t_all=t_all)


def _start_report(cfg: StudyConfig, out: Path, say) -> dict[str, str]:
    """Write the configuration this report is made with (``study.toml``: rerun it with
    ``geoanom study --config``) and return the SHA-256 of every input file."""
    atomic_write_text(out / "study.toml", study_toml(cfg.raw, header=(
        f"study {cfg.name!r} as run (config hash {cfg.hash()}); relative input paths "
        f"resolve against --data-root or [study] data_root")))
    files = inputs.input_files(cfg)
    say(f"study {cfg.name!r}: checksumming {len(files)} input files")
    return {str(f): file_sha256(f) for f in files}


def _own_scores(cfg: StudyConfig, out: Path, say, timings: dict
                ) -> tuple[StationScores, pd.DataFrame, dict, dict]:
    """The scores of a scores study (written per area), its catalog, activity indices, and
    its base rates (as ``study_result`` keywords)."""
    t = time.perf_counter()
    area_scores, catalog, rates = inputs.read_weekly_area_scores(cfg)
    activity = inputs.load_activity(cfg)
    timings["read_inputs"] = round(time.perf_counter() - t, 2)
    say(f"read {len(area_scores)} areas, {len(catalog)} label events")
    scores = write_area_scores(cfg, out, area_scores, rates, activity)
    return scores, catalog, activity, {"base_rates": rates}


def _record_scores(cfg: StudyConfig, out: Path, sums: dict, say, timings: dict, *,
                   scheduler: str | None, workers: int
                   ) -> tuple[StationScores, pd.DataFrame, dict, RecordUnits]:
    """Run the units of a record study and write each station's scores; returns the scores,
    the catalog, the activity indices and the units' builder (for the power study)."""
    t = time.perf_counter()
    records, catalog, activity = _read_inputs(cfg, say)
    timings["read_inputs"] = round(time.perf_counter() - t, 2)
    units = RecordUnits.from_inputs(cfg, out, records, catalog, activity, sums)
    specs, unit_files = units.all_units()
    years = cfg.test_years
    say(f"{len(specs)} units (stations x detectors x test years {years[0]}-{years[-1]})")

    def report(k: int, n: int, unit, r: dict | None) -> None:
        if k == 0:
            if n < len(specs):
                say(f"{len(specs) - n} of {len(specs)} units already done (resumed)")
            return
        say(f"unit {k}/{n}: {r.get('station')} {r.get('detector')} "
            f"{r.get('year', '')} {r['status']}"
            + (f" ({r['reason']})" if r.get("reason") else "")
            + f" ({r.get('seconds', 0):.1f} s)")

    t = time.perf_counter()
    results = run_all(run_unit, specs, scheduler=scheduler, workers=workers, done=stored_unit,
                      progress=report)
    timings["units"] = round(time.perf_counter() - t, 2)
    timings["units_cpu_sum"] = round(sum(r.get("seconds", 0) for r in results
                                         if not r.get("resumed")), 2)
    stations, by_det = write_station_scores(cfg, out, records, unit_files)
    return StationScores(stations, by_det), catalog, activity, units


def _read_inputs(cfg: StudyConfig, say) -> tuple[dict, pd.DataFrame, dict]:
    """Records, catalog and activity indices of a record study; the index named by
    ``[activity] baseline`` (the tests' activity baseline) must be among them."""
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
    return records, catalog, activity


__all__ = ["run_study", "StudyLog"]
