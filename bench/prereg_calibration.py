"""Calibration of ``geoanom prereg`` on synthetic worlds: the PASS rate of the pre-stated
criterion on null worlds (precursor strength 0) against its alpha, and on precursor worlds
against strength.

Each world runs the whole prospective route through the library: a synthetic world
(:func:`geoanom.synthetic.make_world`, one station, 110 days of 5-minute data, precursors
0.25-1 day before M >= 3.5 events within 60 km when the strength is above 0), a small
detector fitted on the 60 days before the test start (:func:`~geoanom.detector.api.fit_detector`),
:func:`~geoanom.prereg.registration.freeze`, alarms issued week by week as if the data were
arriving (:func:`~geoanom.prereg.alarms.issue_alarms`, one day of context), and
:func:`~geoanom.prereg.evaluate.evaluate` against the world's catalog. The criterion: primary
``p <= alpha`` (``--alpha``, default 0.05) with at least 10 independent target events and
ASS above 0.5, with ``--surrogates`` (default 199) uniform circular shifts.

Usage::

    python bench/prereg_calibration.py [--null-worlds 200] [--strengths 30,100,300]
        [--worlds-per-strength 40] [--workers 1] [--out FILE.jsonl]

Prints one JSON line per world, then one per strength with the PASS rate and its binomial
95 % confidence interval (Clopper-Pearson), overall and among the worlds with enough events.
The tests import :func:`small_world`, :func:`write_inputs` and the TOML texts from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from geoanom.synthetic import PrecursorConfig, make_world

#: The world: one station, 110 days of 5-minute data from 2020-01-01; test from day 60.
DAYS = 110.0
CADENCE_S = 300.0
TEST_START = "2020-03-01"
TEST_END = "2020-04-20"
LEAD_DAYS = (0.25, 1.0)
RADIUS_KM = 60.0
M_MIN = 3.5
#: Precursors 0.25-1 day before the target events, in the band the detector filters to.
PRECURSOR = PrecursorConfig(m_min=M_MIN, lead_min_days=LEAD_DAYS[0], lead_max_days=LEAD_DAYS[1],
                            radius_km=RADIUS_KM, taper_days=0.1)

DETECTOR_TOML = f"""\
[windows]
window_length_s = 10800.0
stride_s = 5400.0
lead_days = [{LEAD_DAYS[0]}, {LEAD_DAYS[1]}]
m_min = {M_MIN}
radius = {RADIUS_KM}
buffer_days = 0.25
normal_margin_magnitude = 0.0
post_event_exclusion_days = 0.25
split_fractions = [0.7, 0.3, 0.0]
decluster = "nearest_neighbour"

[train]
hidden_size = 8
latent_size = 2
max_epochs = 3
ramp_epochs = 1
batches_per_epoch = 5

[preprocess]
components = ["Z"]
filter = {{ low_hz = 0.0004, high_hz = 0.0015 }}
scale = true
"""


def protocol_toml(surrogates: int = 199) -> str:
    """The protocol of the small world: its target rule, lead window and 6-hour bins."""
    return f"""\
[target]
min_magnitude = {M_MIN}
radius = {RADIUS_KM}
declustering = "nearest_neighbour"

[lead]
min_days = {LEAD_DAYS[0]}
max_days = {LEAD_DAYS[1]}
post_event_exclusion_days = 0.25

[binning]
bin_days = 0.25

[surrogates]
n = {surrogates}
method = "uniform"
n_secondary = 19
n_bootstrap = 199
n_legacy = 19
n_fake_catalogs = 2

[grid]
lead_windows = [[{LEAD_DAYS[0]}, {LEAD_DAYS[1]}]]
"""


def criteria_toml(alpha: float = 0.05) -> str:
    """The pre-stated criterion of the calibration."""
    return f"""\
[primary]
max_p_value = {alpha}
min_independent_events = 10
min_ass = 0.5
seed = 0

[alarms]
quantiles = [0.9, 0.95]
"""


def small_world(seed: int, strength: float = 0.0):
    """The synthetic world of one calibration run (:func:`geoanom.synthetic.make_world`)."""
    return make_world(seed, DAYS, cadence_s=CADENCE_S, n_stations=1, precursor=PRECURSOR,
                      precursor_strength=strength)


def before(ds_or_cat, t: str, after: bool = False):
    """The samples (record) or events (catalog) before ``t`` (or from ``t`` on)."""
    t = np.datetime64(t, "ns")
    if "time" in getattr(ds_or_cat, "dims", {}):
        keep = ds_or_cat["time"].values >= t if after else ds_or_cat["time"].values < t
        return ds_or_cat.isel(time=np.flatnonzero(keep))
    keep = ds_or_cat["time"].to_numpy() >= t if after else ds_or_cat["time"].to_numpy() < t
    return ds_or_cat[keep]


def write_inputs(world, folder: Path, surrogates: int = 199, alpha: float = 0.05) -> dict:
    """Write the files of a run: the training record and catalog (before the test start),
    the full catalog, detector.toml, protocol.toml and criteria.toml. Returns their paths."""
    from geoanom.io.netcdf import write_netcdf

    folder.mkdir(parents=True, exist_ok=True)
    rec = world.records["SYA"]
    paths = {"train_record": folder / "train.nc", "train_catalog": folder / "catalog_train.csv",
             "catalog": folder / "catalog.csv", "detector": folder / "detector.toml",
             "protocol": folder / "protocol.toml", "criteria": folder / "criteria.toml"}
    write_netcdf(before(rec, TEST_START), paths["train_record"])
    for key, cat in (("train_catalog", before(world.catalog, TEST_START)),
                     ("catalog", world.catalog)):
        out = cat.copy()
        out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        out.to_csv(paths[key], index=False)
    paths["detector"].write_text(DETECTOR_TOML)
    paths["protocol"].write_text(protocol_toml(surrogates))
    paths["criteria"].write_text(criteria_toml(alpha))
    return paths


def run_world(seed: int, strength: float, work: Path, *, surrogates: int = 199,
              alpha: float = 0.05, issue_days: int = 7) -> dict:
    """One world through freeze, weekly issues and evaluate; its verdict and figures."""
    from geoanom.detector.api import fit_detector, load_detector
    from geoanom.detector.config import DetectorConfig
    from geoanom.prereg.alarms import issue_alarms, read_log
    from geoanom.prereg.evaluate import evaluate
    from geoanom.prereg.registration import freeze

    t = time.perf_counter()
    world = small_world(seed, strength)
    d = work / f"s{strength:g}_w{seed}"
    paths = write_inputs(world, d, surrogates, alpha)
    rec = world.records["SYA"]
    train, cat0 = before(rec, TEST_START), before(world.catalog, TEST_START)
    cfg = DetectorConfig.from_toml(paths["detector"])
    fit_detector(train, cat0, cfg, out_dir=d / "model", device="cpu", progress=False)
    reg = freeze(d / "model", paths["protocol"], paths["criteria"], train, cat0,
                 test_start=TEST_START, test_end=TEST_END)
    det = load_detector(d / "model", device="cpu")
    proto = reg.frozen_protocol
    day = np.timedelta64(1, "D")
    a = np.datetime64(TEST_START, "ns")
    while a < np.datetime64(TEST_END, "ns"):
        b = a + issue_days * day
        new = before(before(rec, str(a), after=True), str(b))
        ctx = before(before(rec, str(a - day), after=True), str(a))
        issue_alarms(reg, det, proto, new, d / "alarms", context=ctx)
        a = b
    res = evaluate(reg, read_log(d / "alarms"), world.catalog)
    pr = res.primary
    return {"seed": seed, "strength": strength, "verdict": res.verdict,
            "p_value": pr["p_value"], "ass": pr["ass"],
            "n_events": pr["n_independent_events"],
            "enough_events": pr["n_independent_events"] >= 10,
            "seconds": round(time.perf_counter() - t, 2)}


def _job(args):
    seed, strength, work, surrogates, alpha = args
    import torch

    torch.set_num_threads(1)
    return run_world(seed, strength, Path(work), surrogates=surrogates, alpha=alpha)


def rate(rows: list[dict]) -> dict:
    """PASS rate with its Clopper-Pearson 95 % interval."""
    from scipy import stats

    k, n = sum(r["verdict"] == "PASS" for r in rows), len(rows)
    if n == 0:
        return {"n": 0, "passes": 0, "rate": None, "ci95": [None, None]}
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return {"n": n, "passes": k, "rate": k / n, "ci95": [ci.low, ci.high]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--null-worlds", type=int, default=200)
    ap.add_argument("--strengths", default="30,100,300",
                    help="precursor strengths of the power part, comma-separated")
    ap.add_argument("--worlds-per-strength", type=int, default=40)
    ap.add_argument("--surrogates", type=int, default=199)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON lines here")
    args = ap.parse_args(argv)
    strengths = [0.0] + [float(s) for s in args.strengths.split(",") if s]
    jobs = []
    with tempfile.TemporaryDirectory() as work:
        for s in strengths:
            n = args.null_worlds if s == 0 else args.worlds_per_strength
            jobs += [(seed, s, work, args.surrogates, args.alpha) for seed in range(n)]
        out = open(args.out, "w") if args.out else None  # noqa: SIM115 - closed below
        rows = []
        t0 = time.perf_counter()
        if args.workers > 1:
            from multiprocessing import get_context

            with get_context("spawn").Pool(args.workers) as pool:
                results = pool.imap(_job, jobs)
                for r in results:
                    rows.append(r)
                    _emit(r, out)
        else:
            for j in jobs:
                r = _job(j)
                rows.append(r)
                _emit(r, out)
        for s in strengths:
            mine = [r for r in rows if r["strength"] == s]
            enough = [r for r in mine if r["enough_events"]]
            p_rate = rate([{"verdict": "PASS" if r["p_value"] is not None
                            and r["p_value"] <= args.alpha else "FAIL"} for r in mine])
            _emit({"summary": True, "strength": s, "alpha": args.alpha,
                   "pass": rate(mine), "pass_among_enough_events": rate(enough),
                   "p_at_or_below_alpha": p_rate,
                   "median_events": float(np.median([r["n_events"] for r in mine])),
                   "median_seconds_per_world": float(np.median([r["seconds"] for r in mine])),
                   "wall_s": round(time.perf_counter() - t0, 1)}, out)
        if out:
            out.close()
    return 0


def _emit(row: dict, out) -> None:
    line = json.dumps(row)
    print(line, flush=True)
    if out:
        out.write(line + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
