"""Power by injection: how large an effect this station and catalog could reveal.

Synthetic precursors are added to the REAL record before the real catalog's independent
events that the station sees (:func:`geoanom.synthetic.precursor_windows` decides which
events, the window ``[t - lead_max, t - lead_min]`` and the amplitude law
``strength * a_ref * 10 ** (0.5 (M - m_min)) * exp(-2 d / R)``, with ``a_ref`` the
station's robust spread (1.4826 x MAD of its values), so strengths are in units of that
spread; :func:`geoanom.synthetic.precursor_envelope` gives the tapered envelope). Shapes:

``noise``
    Gaussian noise with the envelope as its RMS (the synthetic world's precursor: more
    variability before events);
``bump``
    the envelope itself added as an offset (a smooth enhancement before events).

Each injection is one realisation (its own noise and seed); the rolling-origin detectors
then score the injected record (``retrain = true``: retrained on it, so negative learning
can learn the signal; ``false``: the models of the real study, frozen) and the event-level
test runs with a reduced surrogate count. Detection = primary ``p <= alpha``. As a check,
the same windows are moved to random times (unrelated to events): those injections must be
"detected" at about ``alpha``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom._version import __version__
from geoanom.executor import run_all
from geoanom.provenance import config_hash
from geoanom.record import append_history
from geoanom.stats.protocol import Protocol
from geoanom.stats.test import run_test
from geoanom.study.config import DEFAULT_POWER, StationSpec, StudyConfig
from geoanom.study.units import DetectorUnit, RecordUnits, concat_unit_scores, run_detector_unit
from geoanom.synthetic import PrecursorConfig, precursor_envelope, precursor_windows


def robust_spread(record, component: str) -> float:
    """1.4826 x the median absolute deviation of a component's values (its units)."""
    v = np.asarray(record[component].values, float)
    v = v[np.isfinite(v)]
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if v.size else float("nan")


def injection_windows(record, catalog: pd.DataFrame, station, *, strength: float,
                      spread: float, lead_days, m_min: float, max_depth_km: float,
                      taper_days: float = 1.0, random_time: bool = False,
                      rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Precursor windows of the station's seen independent events within the record (or,
    with ``random_time``, the same windows moved to uniformly random times in the record)."""
    t = record["time"].values
    cat = catalog[catalog["mainshock"].to_numpy(bool)
                  & (catalog["time"].to_numpy() > t[0]) & (catalog["time"].to_numpy() <= t[-1])]
    pc = PrecursorConfig(strength=float(strength), m_min=m_min, max_depth_km=max_depth_km,
                         lead_min_days=float(lead_days[0]), lead_max_days=float(lead_days[1]),
                         taper_days=taper_days, a_ref_nT=float(spread))
    w = precursor_windows(cat, [station], pc)
    if random_time and len(w):
        rng = rng or np.random.default_rng(0)
        span = int(t[-1].astype(np.int64) - t[0].astype(np.int64))
        length = (w["end"] - w["start"]).to_numpy("timedelta64[ns]").astype(np.int64)
        s0 = t[0].astype(np.int64) + rng.integers(0, max(span - int(length.max()), 1), len(w))
        w = w.copy()
        w["start"] = s0.astype("datetime64[ns]")
        w["end"] = (s0 + length).astype("datetime64[ns]")
        w["event_time"] = w["end"]
    return w


def inject(record, windows: pd.DataFrame, *, component: str, shape: str, taper_days: float,
           rng: np.random.Generator):
    """A copy of ``record`` with the precursors of ``windows`` added to ``component``."""
    ti = record["time"].values.astype("datetime64[ns]").astype(np.int64)
    env = precursor_envelope(ti, windows, taper_days)
    add = env * rng.standard_normal(ti.size) if shape == "noise" else env
    out = record.copy(deep=True)
    v = np.asarray(out[component].values, float)
    out[component].values = v + np.where(np.isfinite(v), add, 0.0)
    return append_history(out, f"injected {len(windows)} synthetic precursors ({shape}, "
                               f"max RMS {float(env.max()) if env.size else 0.0:.3g}) into "
                               f"{component}")


@dataclass(frozen=True, eq=False)
class Injection:
    """One injection (:func:`run_injection`): synthetic precursors of ``strength`` (in units
    of ``spread``) added to ``component`` of the record of ``units``, the study's detector
    units of one station and detector, one per test year; ``random_time``: the windows
    moved to random times; ``protocol``: the reduced protocol of the test (a dict);
    ``work``: the folder of the injected units (removed after); ``out``: the result file."""

    units: tuple[DetectorUnit, ...]
    station: StationSpec
    component: str
    spread: float
    strength: float
    random_time: bool
    k: int
    shape: str
    taper_days: float
    lead_days: tuple[float, float]
    m_min: float
    max_depth_km: float
    injection_seed: int
    retrain: bool
    study_cfg: StudyConfig
    protocol: dict
    work: str
    out: str
    unit_hash: str


def run_injection(inj: Injection) -> dict:
    """Inject, run the detector over every test year (each year's unit with the injected
    record), test; write the result as JSON."""
    t0 = time.perf_counter()
    first = inj.units[0]
    rec, catalog, det = first.record, first.catalog, first.detector
    rng = np.random.default_rng(inj.injection_seed)
    w = injection_windows(rec, catalog, inj.station, strength=inj.strength,
                          spread=inj.spread, lead_days=inj.lead_days, m_min=inj.m_min,
                          max_depth_km=inj.max_depth_km, taper_days=inj.taper_days,
                          random_time=inj.random_time, rng=rng)
    rec_i = inject(rec, w, component=inj.component, shape=inj.shape,
                   taper_days=inj.taper_days, rng=rng)
    work = Path(inj.work)
    paths = []
    for u in inj.units:
        path = work / f"{u.year}.nc"
        run_detector_unit(replace(
            u, record=rec_i, out=str(path), unit_hash="power", reuse_model=not inj.retrain,
            model_dir=str(work / f"model_{u.year}") if inj.retrain else u.model_dir))
        paths.append(path)
    ds = concat_unit_scores(inj.study_cfg, rec_i, paths, det)
    out = {"station": inj.station.code, "detector": det,
           "strength": inj.strength, "random_time": inj.random_time,
           "k": inj.k, "n_injected": int(len(w))}
    if ds is None:
        out.update(p_value=None, auc=None, n_events=0, status="no scores")
    else:
        p = Protocol.from_dict(inj.protocol)
        r = run_test(ds, catalog, p, seed=inj.injection_seed, keep_series=False)
        out.update(p_value=r.primary.get("p_value"), auc=r.primary.get("auc"),
                   n_events=r.primary.get("n_independent_events"), status="done")
    shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["unit_hash"] = inj.unit_hash
    atomic_write_text(inj.out, json.dumps(out, default=float) + "\n")
    return out


def stored_injection(inj: Injection) -> dict | None:
    """The stored result of an injection of the same hash, or None when it has to run."""
    try:
        d = json.loads(Path(inj.out).read_text())
    except (OSError, ValueError):
        return None
    return d if d.get("unit_hash") == inj.unit_hash else None


def power_design(cfg: StudyConfig) -> dict:
    """The ``[power]`` table over :data:`DEFAULT_POWER`."""
    pw = dict(DEFAULT_POWER)
    pw.update(cfg.table("power"))
    return pw


def reduced_protocol(cfg: StudyConfig, pw: dict) -> dict:
    """The protocol of the injections' tests (as a dict): the study's, with ``surrogates``
    primary surrogates and the fewest of every other kind."""
    return Protocol.from_dict(cfg.protocol().to_dict()).replace(
        surrogates_n=int(pw["surrogates"]), surrogates_n_secondary=0,
        surrogates_n_bootstrap=99, surrogates_n_legacy=0,
        surrogates_n_fake_catalogs=0).to_dict()


def injections(units: RecordUnits) -> list[Injection]:
    """Every injection of the ``[power]`` design: per station, detector, strength (and the
    random-time check at the largest strength), ``n_injections`` realisations."""
    cfg, out = units.cfg, units.out
    pw = power_design(cfg)
    wcfg = cfg.table("windows")
    comp = (wcfg.get("components") or [None])[0]
    proto = cfg.protocol()
    pdict = reduced_protocol(cfg, pw)
    lead = wcfg.get("lead_days", list(proto.target.lead_days))
    specs = []
    for code in [c for c in pw["stations"] if c in units.records]:
        rec = units.records[code]
        si = [s.code for s in cfg.stations].index(code)
        c = comp or [v for v in rec.data_vars if not str(v).endswith("_flag")][0]
        spread = robust_spread(rec, c)
        levels = [(float(s), False) for s in pw["strengths"]]
        if pw["random_time_check"]:
            levels.append((float(max(pw["strengths"])), True))
        for det in pw["detectors"]:
            years = tuple(units.detector_unit(code, det, y) for y in cfg.test_years)
            for li, (s, rt) in enumerate(levels):
                for k in range(int(pw["n_injections"])):
                    iseed = int(cfg.seed) * 7_919 + si * 104_729 + li * 1_009 + k
                    key = {"geoanom": __version__, "station": code, "detector": det,
                           "strength": s, "random": rt,
                           "k": k, "power": pw, "windows": wcfg, "train": cfg.table("train"),
                           "record": units.digests[code], "protocol": pdict,
                           "seed": iseed}
                    name = f"{'random' if rt else 's'}{s:g}_{k:03d}"
                    specs.append(Injection(
                        units=years, station=cfg.station(code), component=c, spread=spread,
                        strength=s, random_time=rt, k=k, shape=pw["shape"],
                        taper_days=float(pw["taper_days"]), lead_days=lead,
                        m_min=proto.target.m_min,
                        max_depth_km=proto.target.max_depth_km, injection_seed=iseed,
                        retrain=bool(pw["retrain"]), study_cfg=cfg, protocol=pdict,
                        work=str(out / "power" / "work" / code / det / name),
                        out=str(out / "power" / code / det / f"{name}.json"),
                        unit_hash=config_hash(key)))
    return specs


def _rates(rows: list[dict], strength: float, alpha: float) -> dict:
    """Detection rate (primary p <= alpha), median p, AUC and events of ``rows``."""
    p = np.array([x["p_value"] if x["p_value"] is not None else np.nan for x in rows], float)
    return {"strength": strength, "n": len(rows),
            "detection_rate": float(np.mean(p <= alpha)) if len(rows) else None,
            "median_p": float(np.nanmedian(p)) if np.isfinite(p).any() else None,
            "median_auc": float(np.nanmedian([x["auc"] if x["auc"] is not None else np.nan
                                              for x in rows])),
            "n_events": int(np.nanmedian([x["n_events"] or 0 for x in rows]))}


def power_summary(results: list[dict], pw: dict, alpha: float, seconds: float) -> dict:
    """Detection rate per station, detector and strength, and the false-alarm rate of the
    random-time injections, with the design and a note on what the rates mean."""
    how = ("retrained on" if pw["retrain"] else
           "frozen (trained on the real record), scoring")
    note = (f"{pw['n_injections']} injections per strength; shape '{pw['shape']}'; strengths "
            f"in units of each station's robust spread (1.4826 MAD) at M = m_min and zero "
            f"distance; detectors {how} the injected record; detection = primary p <= "
            f"{alpha:g} with {pw['surrogates']} surrogates. Random-time rows move the same "
            "precursors to random times: their rate is the false-alarm rate and should sit "
            "near alpha.")
    summary: dict = {"design": pw, "alpha": alpha, "stations": {},
                     "seconds": seconds, "design_note": note}
    for r in results:
        summary["stations"].setdefault(r["station"], {}).setdefault(r["detector"], []).append(r)
    for dets in summary["stations"].values():
        for det, rows in list(dets.items()):
            real = [x for x in rows if not x["random_time"]]
            rand = [x for x in rows if x["random_time"]]
            ss = sorted({x["strength"] for x in real})
            dd = {"strengths": [_rates([x for x in real if x["strength"] == s], s, alpha)
                                for s in ss]}
            if rand:
                a = _rates(rand, rand[0]["strength"], alpha)
                dd["random_time"] = {"strength": a["strength"], "n": a["n"],
                                     "rate": a["detection_rate"], "median_p": a["median_p"]}
            dets[det] = dd
    return summary


def run_power(units: RecordUnits, *, scheduler: str | None = None, workers: int = 2,
              say: Callable[[str], None] = print) -> dict:
    """The power study of the ``[power]`` table over the study of ``units``; writes
    ``power/`` and returns its summary (:func:`power_summary`). ``scheduler`` and
    ``workers``: as for the study's units (:func:`geoanom.executor.run_all`)."""
    specs = injections(units)

    def report(k: int, n: int, inj: Injection | None, r: dict | None) -> None:
        if k == 0:
            say(f"power: {len(specs)} injections ({len(specs) - n} already done)")
            return
        say(f"power {k}/{n}: {r['station']} {r['detector']} "
            f"{'random' if r['random_time'] else 'strength'} {r['strength']:g} "
            f"#{r['k']}: p = {r['p_value']} ({r['seconds']:.1f} s)")

    t = time.perf_counter()
    results = run_all(run_injection, specs, scheduler=scheduler, workers=workers,
                      done=stored_injection, progress=report)
    summary = power_summary(results, power_design(units.cfg), units.cfg.protocol().alpha,
                            round(time.perf_counter() - t, 2))
    atomic_write_text(units.out / "power" / "power.json",
                      json.dumps(summary, indent=1, default=float) + "\n")
    return summary
