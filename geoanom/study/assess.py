"""The assessment of a study's scores, the same for every kind of study: the event-level
test of every station's scores of every detector (resumable: a rerun reuses a stored test of
the same inputs), Benjamini-Yekutieli over the seismic stations' primary p-values, the
pooled test with the catalog shifted jointly at every station, and paired detector
comparisons over stations.

Seeds: the test of station number ``i`` uses ``[study] seed + i``, the pooled test
``seed + POOLED_SEED_OFFSET``, the paired bootstraps ``seed``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom.executor import run_all
from geoanom.provenance import config_hash
from geoanom.stats.multiplicity import benjamini_yekutieli
from geoanom.stats.protocol import Protocol, protocol_hash
from geoanom.stats.result import TestResult
from geoanom.stats.test import run_test
from geoanom.study.config import ACTIVITY_DETECTOR, SCORE_VAR, StudyConfig
from geoanom.study.pooled import pooled_test

#: Stations enter a paired detector comparison when both tests rest on this many events.
PAIRED_MIN_EVENTS = 5
#: The pooled test's seed is the study seed plus this (the stations' tests use seed + i).
POOLED_SEED_OFFSET = 7919
#: How the results describe the multiplicity control, by study kind.
MULTIPLICITY = {"record": "Benjamini-Yekutieli over the seismic stations' primary p-values "
                          "(geoanom.stats)",
                "scores": "Benjamini-Yekutieli over the areas' primary p-values"}
#: What the progress lines call a study's stations, by study kind.
NOUN = {"record": "stations", "scores": "areas"}


@dataclass
class StationScores:
    """What a study's score production hands to the assessment: ``stations``, the results'
    stations section (filled in by the assessment), and ``by_detector``, detector ->
    station -> SCORES dataset (stations without scores left out)."""

    stations: dict
    by_detector: dict[str, dict]


@dataclass
class Assessment:
    """The assessment of a study: ``stations`` (each test entry with its summary, q-value
    and verdict after multiplicity), ``tests`` ((station, detector) -> TestResult),
    ``across`` (per detector: BY q-values and the pooled test) and ``paired``."""

    stations: dict
    tests: dict
    across: dict
    paired: dict


@dataclass(frozen=True, eq=False)
class StationTest:
    """The event-level test of one station's scores of one detector
    (:func:`run_station_test`), written to ``path``; ``test_hash`` identifies its inputs
    (scores, protocol, seed, remote station), stored beside it in ``path`` with suffix
    ``.hash``."""

    code: str
    detector: str
    scores: xr.Dataset
    catalog: pd.DataFrame
    activity: pd.DataFrame | None
    protocol: Protocol
    seed: int
    path: str
    remote: xr.Dataset | None
    test_hash: str


def station_test(code: str, detector: str, scores: xr.Dataset, catalog: pd.DataFrame,
                 activity: pd.DataFrame | None, protocol: Protocol, *, seed: int,
                 path: str | Path, remote: xr.Dataset | None = None) -> StationTest:
    """The test of station ``code``'s ``scores`` of ``detector``; ``activity``: the
    activity baseline's index; ``remote``: an aseismic control station's scores
    (remote-station baseline and placebo)."""
    h = config_hash({"scores": json.loads(scores.attrs["geoanom_provenance"])["config"],
                     "protocol": protocol_hash(protocol), "seed": seed,
                     "values": config_hash(np.nan_to_num(scores[SCORE_VAR].values).round(9)
                                           .tolist()),
                     "remote": None if remote is None else
                     [str(remote.attrs.get("iaga_code")), str(remote.attrs.get("score_kind")),
                      config_hash(np.nan_to_num(remote[SCORE_VAR].values).round(9).tolist())]})
    return StationTest(code=code, detector=detector, scores=scores, catalog=catalog,
                       activity=activity, protocol=protocol, seed=seed, path=str(path),
                       remote=remote, test_hash=h)


def _hash_path(test: StationTest) -> Path:
    return Path(test.path).with_suffix(".hash")


def stored_test(test: StationTest) -> TestResult | None:
    """The stored result of a test of the same inputs, or None when it has to run."""
    path, hp = Path(test.path), _hash_path(test)
    if path.is_file() and hp.is_file() and hp.read_text().strip() == test.test_hash:
        return TestResult.read(path)
    return None


def run_station_test(test: StationTest) -> TestResult:
    """Run the test, write its result and hash; return the result."""
    r = run_test(test.scores, test.catalog, test.protocol, activity=test.activity,
                 remote_scores=test.remote, seed=test.seed)
    r.write(test.path)
    atomic_write_text(_hash_path(test), test.test_hash + "\n")
    return r


def _remote_summary(r: TestResult) -> dict | None:
    rb = (r.baselines or {}).get("remote_station")
    pl = (r.placebos or {}).get("remote_station")
    if not rb and not pl:
        return None
    return {"station": (rb or {}).get("station"), "baseline_ass": (rb or {}).get("ass"),
            "baseline_p": (rb or {}).get("p_value"),
            "placebo_auc": (pl or {}).get("auc"), "placebo_p": (pl or {}).get("p_value"),
            "placebo_came_out_null": (pl or {}).get("came_out_null")}


def summarise_test(r: TestResult) -> dict:
    """The numbers of a station's test that go into the study's results."""
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
            "targets": _targets_summary(pr.get("targets") or {}),
            "sensitivity": _sensitivity_summary(pr.get("sensitivity") or {}),
            "warnings": list(r.guardrails.get("warnings", []))}


def _targets_summary(t: dict) -> dict | None:
    """Candidate target events: how many, how many used, and why the others were not."""
    if not t:
        return None
    keys = ("n_candidates", "n_used", "not_used", "n_beyond_every_rule",
            "depends_on_later_data")
    return {k: t.get(k) for k in keys if k in t}


def _sensitivity_summary(s: dict) -> dict | None:
    """The primary statistic under the other target rules, and whether the verdict flips."""
    if not s:
        return None
    keep = ("name", "n_independent_events", "auc", "p_value", "verdict", "flips")
    return {"flips": s.get("flips"), "statement": s.get("statement"),
            "variants": [{k: v.get(k) for k in keep} for v in s.get("variants", [])]}


def control_scores(ds: xr.Dataset, det: str, by_detector: dict,
                   control: str) -> xr.Dataset | None:
    """The aseismic control's scores that serve as remote-station baseline and placebo of a
    seismic station's test: of the same detector, or of the plain autoencoder where negative
    learning cannot train without seismic windows; only the control's windows within the
    station's span (run_test bins the remote score on the station's bins)."""
    remote = by_detector[det].get(control)
    if remote is None and det == "negative_learning":
        remote = by_detector.get("plain_autoencoder", {}).get(control)
    if remote is None:
        return None
    e, er = ds["end"].values, remote["end"].values
    keep = (er >= e.min().astype("datetime64[D]")) & (er <= e.max())
    return remote.isel(window=np.flatnonzero(keep)) if keep.sum() > 1 else None


def run_station_tests(cfg: StudyConfig, out: Path, scores: StationScores, catalog: pd.DataFrame,
                  activity: pd.DataFrame | None, say: Callable[[str], None]) -> dict:
    """The event-level test of every station's scores of every detector (files
    ``stations/<CODE>/test_<detector>.json``; the first control station is each seismic
    station's remote station); fills the test entries of ``scores.stations`` and returns
    ``(station, detector) -> TestResult``."""
    proto = cfg.protocol()
    controls = [s.code for s in cfg.stations if s.role == "control"]
    tests = []
    for si, st in enumerate(cfg.stations):
        for det in cfg.detectors:
            ds = scores.by_detector[det].get(st.code)
            if ds is None:
                continue
            remote = None
            if st.role == "seismic" and controls:
                remote = control_scores(ds, det, scores.by_detector, controls[0])
            tests.append(station_test(st.code, det, ds, catalog, activity, proto,
                                      seed=cfg.seed + si, remote=remote,
                                      path=out / "stations" / st.code / f"test_{det}.json"))

    def report(k: int, n: int, t: StationTest | None, r) -> None:
        if k == 0 and n < len(tests):
            say(f"{len(tests) - n} of {len(tests)} tests already done (resumed)")
        elif k:
            say(f"test {k}/{n}: {t.code} {t.detector} ({t.scores.sizes['window']} windows)")

    results = run_all(run_station_test, tests, done=stored_test, progress=report)
    for t, r in zip(tests, results, strict=True):
        entry = scores.stations[t.code]["detectors"][t.detector]
        entry["test"] = summarise_test(r)
        entry["test_file"] = str(Path(t.path).relative_to(out))
    return {(t.code, t.detector): r for t, r in zip(tests, results, strict=True)}


def verdict_after_by(test: dict, q: float, alpha: float, n_stations: int) -> str:
    """The per-station verdict once Benjamini-Yekutieli over the seismic stations is applied."""
    if test.get("significant") is None:
        return str(test.get("verdict"))
    if np.isfinite(q) and q <= alpha:
        return f"significant after BY over {n_stations} stations (q = {q:.3f})"
    tail = f"q = {q:.3f}" if np.isfinite(q) else "q n/a"
    if test.get("significant"):
        return f"significant alone, not after BY over {n_stations} stations ({tail})"
    return f"not significant ({tail})"


def by_q_values(p: list[float]) -> list[float]:
    """Benjamini-Yekutieli q-values of the p-values ``p`` (NaN stays NaN)."""
    return [float(x) for x in benjamini_yekutieli(np.asarray(p, float))]


def primary_p_values(stations: dict, codes: list[str], det: str) -> list[float]:
    """The primary p-values of detector ``det``'s tests at ``codes`` (a missing one: NaN)."""
    pv = [stations[c]["detectors"][det]["test"]["p_value"] for c in codes]
    return [float("nan") if v is None else float(v) for v in pv]


def by_over_stations(stations: dict, codes: list[str], det: str, alpha: float) -> list[float]:
    """Benjamini-Yekutieli over the primary p-values of detector ``det``'s tests at
    ``codes``; each test entry gets its ``q_value_by`` and ``verdict_after_multiplicity``.
    Returns the q-values."""
    q = by_q_values(primary_p_values(stations, codes, det)) if codes else []
    for c, qq in zip(codes, q, strict=True):
        te = stations[c]["detectors"][det]["test"]
        te["q_value_by"] = qq
        te["verdict_after_multiplicity"] = verdict_after_by(te, qq, alpha, len(codes))
    return q


def across_stations(cfg: StudyConfig, scores: StationScores, catalog: pd.DataFrame,
                    say: Callable[[str], None]) -> dict:
    """Per detector: Benjamini-Yekutieli over the tested seismic stations (each test entry
    gets its q-value and verdict after it) and the pooled test over them."""
    proto = cfg.protocol()
    seismic = [s.code for s in cfg.stations if s.role == "seismic"]
    across: dict = {}
    for det in cfg.detectors:
        codes = [c for c in seismic if "test" in scores.stations[c]["detectors"].get(det, {})]
        q = by_over_stations(scores.stations, codes, det, proto.alpha)
        say(f"pooled test {det} over {len(codes)} {NOUN[cfg.kind]} (joint catalog shifts)")
        pooled = pooled_test({c: scores.by_detector[det][c] for c in codes}, catalog, proto,
                             seed=cfg.seed + POOLED_SEED_OFFSET)
        across[det] = {"stations": codes, "by_q_values": dict(zip(codes, q, strict=True)),
                       "multiplicity": MULTIPLICITY[cfg.kind], "pooled": pooled}
    return across


def paired_aucs(stations: dict, codes, det: str) -> dict[str, float]:
    """Station -> AUC of detector ``det``'s test, for the stations of ``codes`` whose test
    rests on at least :data:`PAIRED_MIN_EVENTS` independent events (an AUC of one event is
    0 or 1 by chance): the stations a paired detector comparison may use."""
    out: dict[str, float] = {}
    for c in codes:
        te = stations[c]["detectors"].get(det, {}).get("test") or {}
        if te.get("auc") is not None and ((te.get("n_independent_events") or 0)
                >= PAIRED_MIN_EVENTS):
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


def paired_comparisons(cfg: StudyConfig, stations: dict) -> dict:
    """Paired detector comparisons over the seismic stations whose tests rest on at least
    PAIRED_MIN_EVENTS events for both detectors: negative learning minus the plain
    autoencoder, then each detector minus the activity score (in ``[study] detectors``
    order)."""
    seismic = [s.code for s in cfg.stations if s.role == "seismic"]
    aucs = {det: paired_aucs(stations, seismic, det) for det in cfg.detectors}
    pairs = []
    if {"negative_learning", "plain_autoencoder"} <= set(cfg.detectors):
        pairs.append(("negative_learning", "plain_autoencoder"))
    if ACTIVITY_DETECTOR in cfg.detectors:
        pairs += [(d, ACTIVITY_DETECTOR) for d in cfg.detectors if d != ACTIVITY_DETECTOR]
    return {f"{a}_minus_{b}": dict(paired_difference(aucs[a], aucs[b], seed=cfg.seed),
                                   min_events=PAIRED_MIN_EVENTS) for a, b in pairs}


def assess(cfg: StudyConfig, out: Path, scores: StationScores, catalog: pd.DataFrame,
           activity: pd.DataFrame | None, say: Callable[[str], None],
           timings: dict[str, float]) -> Assessment:
    """Test every station's scores, then control multiplicity, pool and compare (see the
    module docstring); ``activity`` is the tests' activity baseline (an index table or
    None). Adds ``tests`` and ``pooled`` (seconds) to ``timings``."""
    t = time.perf_counter()
    tests = run_station_tests(cfg, out, scores, catalog, activity, say)
    timings["tests"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    across = across_stations(cfg, scores, catalog, say)
    paired = paired_comparisons(cfg, scores.stations)
    timings["pooled"] = round(time.perf_counter() - t, 2)
    return Assessment(stations=scores.stations, tests=tests, across=across, paired=paired)
