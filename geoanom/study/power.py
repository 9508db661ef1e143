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
from pathlib import Path

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom._version import __version__
from geoanom.provenance import config_hash
from geoanom.study.config import TRAINED_DETECTORS

DEFAULT_POWER = {"stations": [], "shape": "noise", "strengths": [0.5, 1.0, 2.0, 4.0],
                 "n_injections": 20, "random_time_check": True,
                 "detectors": ["negative_learning"], "retrain": True, "surrogates": 499,
                 "taper_days": 1.0}


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
    from geoanom.synthetic import PrecursorConfig, precursor_windows

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
    from geoanom.record import append_history
    from geoanom.synthetic import precursor_envelope

    ti = record["time"].values.astype("datetime64[ns]").astype(np.int64)
    env = precursor_envelope(ti, windows, taper_days)
    add = env * rng.standard_normal(ti.size) if shape == "noise" else env
    out = record.copy(deep=True)
    v = np.asarray(out[component].values, float)
    out[component].values = v + np.where(np.isfinite(v), add, 0.0)
    return append_history(out, f"injected {len(windows)} synthetic precursors ({shape}, "
                               f"max RMS {float(env.max()) if env.size else 0.0:.3g}) into "
                               f"{component}")


def run_power_unit(spec: dict) -> dict:
    """One injection: inject, run the detector over every test year, test; write JSON."""
    from geoanom.stats.protocol import Protocol
    from geoanom.stats.test import run_test
    from geoanom.study.units import run_detector_unit

    t0 = time.perf_counter()
    rec = spec["record"]
    comp = spec["component"]
    rng = np.random.default_rng(spec["injection_seed"])
    w = injection_windows(rec, spec["catalog"], spec["station"], strength=spec["strength"],
                          spread=spec["spread"], lead_days=spec["lead_days"],
                          m_min=spec["m_min"], max_depth_km=spec["max_depth_km"],
                          taper_days=spec["taper_days"], random_time=spec["random_time"],
                          rng=rng)
    rec_i = inject(rec, w, component=comp, shape=spec["shape"],
                   taper_days=spec["taper_days"], rng=rng)
    work = Path(spec["work"])
    paths = []
    for y, seed, mdir in spec["years"]:
        u = dict(spec["unit_template"], record=rec_i, year=y, seed=seed,
                 out=str(work / f"{y}.nc"), unit_hash="power",
                 model_dir=str(mdir if not spec["retrain"] else work / f"model_{y}"),
                 reuse_model=not spec["retrain"])
        run_detector_unit(u)
        paths.append(work / f"{y}.nc")
    from geoanom.study.runner import concat_unit_scores

    ds = concat_unit_scores(spec["study_cfg"], rec_i, paths, spec["detector"])
    out = {"station": spec["station"].code, "detector": spec["detector"],
           "strength": spec["strength"], "random_time": spec["random_time"],
           "k": spec["k"], "n_injected": int(len(w))}
    if ds is None:
        out.update(p_value=None, auc=None, n_events=0, status="no scores")
    else:
        p = Protocol.from_dict(spec["protocol"])
        r = run_test(ds, spec["catalog"], p, seed=spec["injection_seed"], keep_series=False)
        out.update(p_value=r.primary.get("p_value"), auc=r.primary.get("auc"),
                   n_events=r.primary.get("n_independent_events"), status="done")
    shutil.rmtree(work, ignore_errors=True)
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["unit_hash"] = spec["unit_hash"]
    atomic_write_text(spec["out"], json.dumps(out, default=float) + "\n")
    return out


def _done(path: Path, h: str) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if d.get("unit_hash") == h else None


def run_power(cfg, out: Path, *, records, catalog, activity, scheduler=None, workers=2,
              say=print) -> dict:
    """The power study of the ``[power]`` table; writes ``power/`` and returns its summary
    (detection rate per station, detector and strength; false-alarm rate at random times)."""
    from geoanom.stats.protocol import Protocol
    from geoanom.study.runner import record_digest, unit_seed

    pw = dict(DEFAULT_POWER)
    pw.update(cfg.table("power"))
    wcfg = cfg.table("windows")
    comp = (wcfg.get("components") or [None])[0]
    proto = cfg.protocol()
    alpha = proto.alpha
    pdict = Protocol.from_dict(proto.to_dict()).replace(
        surrogates_n=int(pw["surrogates"]), surrogates_n_secondary=0,
        surrogates_n_bootstrap=99, surrogates_n_legacy=0,
        surrogates_n_fake_catalogs=0).to_dict()
    lead = wcfg.get("lead_days", list(proto.target.lead_days))
    specs = []
    codes = [c for c in pw["stations"] if c in records]
    for code in codes:
        rec = records[code]
        si = [s.code for s in cfg.stations].index(code)
        st = cfg.station(code)
        c = comp or [v for v in rec.data_vars if not str(v).endswith("_flag")][0]
        spread = robust_spread(rec, c)
        levels = [(float(s), False) for s in pw["strengths"]]
        if pw["random_time_check"]:
            levels.append((float(max(pw["strengths"])), True))
        for det in pw["detectors"]:
            years = [(y, unit_seed(cfg.seed, si, y),
                      str(out / "units" / code / det / f"model_{y}")) for y in cfg.test_years]
            for li, (s, rt) in enumerate(levels):
                for k in range(int(pw["n_injections"])):
                    iseed = int(cfg.seed) * 7_919 + si * 104_729 + li * 1_009 + k
                    key = {"geoanom": __version__, "station": code, "detector": det,
                           "strength": s, "random": rt,
                           "k": k, "power": pw, "windows": wcfg, "train": cfg.table("train"),
                           "record": record_digest(rec), "protocol": pdict,
                           "seed": iseed}
                    h = config_hash(key)
                    name = f"{'random' if rt else 's'}{s:g}_{k:03d}"
                    specs.append({
                        "record": rec, "catalog": catalog, "station": st, "component": c,
                        "spread": spread, "strength": s, "random_time": rt, "k": k,
                        "shape": pw["shape"], "taper_days": float(pw["taper_days"]),
                        "lead_days": lead, "m_min": proto.target.m_min,
                        "max_depth_km": proto.target.max_depth_km, "injection_seed": iseed,
                        "years": years, "retrain": bool(pw["retrain"]), "detector": det,
                        "unit_template": {"kind": "detector", "catalog": catalog,
                                          "window_config": wcfg,
                                          "train_config": cfg.table("train"),
                                          "preprocess": cfg.table("preprocess") or None,
                                          "detector": det, "lam": TRAINED_DETECTORS[det],
                                          "normalisation": cfg.study["score_normalisation"],
                                          "min_train_days": cfg.min_train_days,
                                          "threads": 1},
                        "study_cfg": cfg, "protocol": pdict,
                        "work": str(out / "power" / "work" / code / det / name),
                        "out": str(out / "power" / code / det / f"{name}.json"),
                        "unit_hash": h})
    results = []
    todo = []
    for s in specs:
        d = _done(Path(s["out"]), s["unit_hash"])
        (results.append(d) if d is not None else todo.append(s))
    say(f"power: {len(specs)} injections ({len(specs) - len(todo)} already done)")
    t = time.perf_counter()
    if todo and scheduler:
        from distributed import as_completed

        from geoanom.detector.distributed import get_client

        client = get_client(scheduler, workers=workers, threads_per_worker=1)
        try:
            futs = client.map(run_power_unit, todo, pure=False)
            for i, f in enumerate(as_completed(futs), 1):
                results.append(f.result())
                if i % 10 == 0 or i == len(todo):
                    say(f"power: {i}/{len(todo)} injections")
        finally:
            cl = getattr(client, "cluster", None)
            client.close()
            if scheduler == "local" and cl is not None:
                cl.close()
    else:
        for i, s in enumerate(todo, 1):
            r = run_power_unit(s)
            results.append(r)
            say(f"power {i}/{len(todo)}: {r['station']} {r['detector']} "
                f"{'random' if r['random_time'] else 'strength'} {r['strength']:g} "
                f"#{r['k']}: p = {r['p_value']} ({r['seconds']:.1f} s)")
    how = ("retrained on" if pw["retrain"] else
           "frozen (trained on the real record), scoring")
    note = (f"{pw['n_injections']} injections per strength; shape '{pw['shape']}'; strengths "
            f"in units of each station's robust spread (1.4826 MAD) at M = m_min and zero "
            f"distance; detectors {how} the injected record; detection = primary p <= "
            f"{alpha:g} with {pw['surrogates']} surrogates. Random-time rows move the same "
            "precursors to random times: their rate is the false-alarm rate and should sit "
            "near alpha.")
    summary: dict = {"design": pw, "alpha": alpha, "stations": {},
                     "seconds": round(time.perf_counter() - t, 2), "design_note": note}
    for r in results:
        summary["stations"].setdefault(r["station"], {}).setdefault(r["detector"], []).append(r)
    for dets in summary["stations"].values():
        for det, rows in list(dets.items()):
            def agg(sel, strength):
                p = np.array([x["p_value"] if x["p_value"] is not None else np.nan
                              for x in sel], float)
                return {"strength": strength, "n": len(sel),
                        "detection_rate": float(np.mean(p <= alpha)) if len(sel) else None,
                        "median_p": float(np.nanmedian(p)) if np.isfinite(p).any() else None,
                        "median_auc": float(np.nanmedian([x["auc"] if x["auc"] is not None
                                                          else np.nan for x in sel])),
                        "n_events": int(np.nanmedian([x["n_events"] or 0 for x in sel]))}
            real = [x for x in rows if not x["random_time"]]
            rand = [x for x in rows if x["random_time"]]
            ss = sorted({x["strength"] for x in real})
            dd = {"strengths": [agg([x for x in real if x["strength"] == s], s) for s in ss]}
            if rand:
                a = agg(rand, rand[0]["strength"])
                dd["random_time"] = {"strength": a["strength"], "n": a["n"],
                                     "rate": a["detection_rate"], "median_p": a["median_p"]}
            dets[det] = dd
    atomic_write_text(out / "power" / "power.json", json.dumps(summary, indent=1,
                                                               default=float) + "\n")
    return summary
