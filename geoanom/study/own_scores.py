"""Studies over scores the user brings (``[study] kind = "scores"``).

No detector is trained: each named score column (e.g. one weekly feature of the AETA
area-weekly tables, :func:`geoanom.study.inputs.read_weekly_area_scores`) is tested as it
is, per area and pooled over areas with the catalog shifted jointly, with Kp as the
activity baseline and the activity index itself as one more score (``"activity"`` in
``detectors``). The base rates (accuracy of a constant "no event" or "event" forecast)
are reported beside the tests: the number a weekly accuracy claim has to beat.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.study.config import ACTIVITY_DETECTOR


def _activity_weekly(ds: xr.Dataset, kp: pd.DataFrame) -> np.ndarray:
    """Kp max over each window of ``ds`` (the activity-only score), through
    :func:`geoanom.detector.baselines.activity_scores` on a daily grid."""
    from geoanom.detector.baselines import activity_scores
    from geoanom.record import make_record

    start = ds["start"].values.astype("datetime64[ns]")
    end = ds["end"].values.astype("datetime64[ns]")
    t0 = start.min()   # the grid starts where the windows do (16:00 UTC for Beijing days)
    days = np.arange(t0, end.max() + np.timedelta64(1, "D"), np.timedelta64(1, "D"))
    grid = make_record(days, {"G": np.zeros(days.size)}, attrs=dict(ds.attrs))
    series = pd.Series(kp["kp"].to_numpy(float), index=pd.to_datetime(kp["time"]))
    out = np.full(start.size, np.nan)
    for length in np.unique((end - start) // np.timedelta64(1, "D")):
        sc = activity_scores(grid, series, window_length_s=float(length) * 86400.0,
                             stride_s=86400.0, variable="kp", how="max")
        e = sc["end"].values.astype("datetime64[ns]")
        pos = {int(x): i for i, x in enumerate(e.astype(np.int64))}
        for i, ee in enumerate(end):
            j = pos.get(int(ee.astype(np.int64)))
            if j is not None and (end[i] - start[i]) // np.timedelta64(1, "D") == length:
                out[i] = sc["score"].values[j]
    return out


def run_scores_study(cfg, out: Path, *, sums: dict, say, figures: bool = True) -> dict:
    """Run a ``kind = "scores"`` study and write its report (see the module docstring)."""
    from geoanom.detector.score import write_scores
    from geoanom.provenance import provenance
    from geoanom.study import inputs
    from geoanom.study.pooled import pooled_test
    from geoanom.study.runner import (
        PAIRED_MIN_EVENTS,
        RESULT_TYPE,
        SCHEMA,
        _by,
        _by_over_stations,
        _test_summary,
        paired_aucs,
        paired_difference,
        seal_report,
        test_station,
    )

    t_all = time.perf_counter()
    timings: dict = {}
    t = time.perf_counter()
    scores, catalog, rates = inputs.read_weekly_area_scores(cfg)
    activity = inputs.load_activity(cfg)
    timings["read_inputs"] = round(time.perf_counter() - t, 2)
    say(f"read {len(scores)} areas, {len(catalog)} label events")
    base = activity.get(cfg.table("activity").get("baseline", "kp"))
    proto = cfg.protocol()
    stations_out: dict = {}
    by_det: dict = {d: {} for d in cfg.detectors}
    tests: dict = {}
    t = time.perf_counter()
    for si, st in enumerate(cfg.stations):
        ds0 = scores[st.code]
        stations_out[st.code] = {"role": st.role, "latitude_deg": st.latitude_deg,
                                 "longitude_deg": st.longitude_deg, "detectors": {},
                                 "base_rate": rates[st.code]}
        for det in cfg.detectors:
            if det == ACTIVITY_DETECTOR:
                if "kp" not in activity:
                    continue
                v = _activity_weekly(ds0, activity["kp"])
            else:
                v = ds0[det].values.astype(float)
            ds = xr.Dataset({"start": ds0["start"], "end": ds0["end"],
                             "score": ("window", v), "label": ds0["label"],
                             "split": ("window", np.full(v.size, "test", dtype=object))},
                            coords={"window": ds0["window"]})
            ds.attrs = dict(ds0.attrs)
            ds.attrs["geoanom_provenance"] = json.dumps(provenance(
                config={"study": cfg.name, "study_config_hash": cfg.hash(), "area": st.code,
                        "score": det}, seeds={"seed": cfg.seed}))
            sd = out / "stations" / st.code
            sp = write_scores(ds, sd / f"scores_{det}.nc")
            say(f"testing {st.code} {det}")
            r = test_station(cfg, ds, catalog, base, sd / f"test_{det}.json",
                             seed=cfg.seed + si)
            stations_out[st.code]["detectors"][det] = {
                "scores": str(sp.relative_to(out)), "test": _test_summary(r),
                "test_file": str((sd / f"test_{det}.json").relative_to(out))}
            by_det[det][st.code] = ds
            tests[(st.code, det)] = r
    timings["tests"] = round(time.perf_counter() - t, 2)
    across: dict = {}
    all_cells = []
    for det in cfg.detectors:
        codes = [c for c in by_det[det]]
        pv, q = _by_over_stations(stations_out, codes, det, proto.alpha)
        all_cells += [(c, det, p) for c, p in zip(codes, pv, strict=True)]
        say(f"pooled test {det} over {len(codes)} areas (joint catalog shifts)")
        across[det] = {"stations": codes, "by_q_values": dict(zip(codes, q, strict=True)),
                       "multiplicity": "Benjamini-Yekutieli over the areas' primary p-values",
                       "pooled": pooled_test({c: by_det[det][c] for c in codes}, catalog, proto,
                                             seed=cfg.seed + 7919)}
    # the features are a grid of tries: BY over the pooled p-values of the scores too
    dets = [d for d in cfg.detectors if d != ACTIVITY_DETECTOR]
    pq = _by([float("nan") if across[d]["pooled"].get("p_value") is None
              else float(across[d]["pooled"]["p_value"]) for d in dets])
    for d, qq in zip(dets, pq, strict=True):
        across[d]["pooled"]["q_value_by_over_scores"] = qq
    qa = _by([p for _, _, p in all_cells])
    grid = [{"area": c, "score": d, "p_value": p, "q_value_by": qq}
            for (c, d, p), qq in zip(all_cells, qa, strict=True)]
    paired = {}
    if ACTIVITY_DETECTOR in cfg.detectors:
        for det in cfg.detectors:
            if det != ACTIVITY_DETECTOR:
                paired[f"{det}_minus_activity"] = dict(
                    paired_difference(paired_aucs(stations_out, list(stations_out), det),
                                      paired_aucs(stations_out, list(stations_out),
                                                  ACTIVITY_DETECTOR), seed=cfg.seed),
                    min_events=PAIRED_MIN_EVENTS)
    result = {"type": RESULT_TYPE, "schema": SCHEMA, "study": cfg.name, "kind": cfg.kind,
              "config": cfg.raw, "config_hash": cfg.hash(), "stations": stations_out,
              "across_stations": across, "grid_multiplicity": grid, "paired": paired,
              "base_rates": rates, "power": None,
              "catalog": {"n_events": int(len(catalog)),
                          "declustering": str(catalog.attrs.get("declustering", ""))},
              "files": {}, "timings_s": timings, "provenance": {}}
    if figures:
        from geoanom.study.report import study_figures

        t = time.perf_counter()
        result["files"]["figures"] = study_figures(result, out, {}, tests, activity, catalog)
        timings["figures"] = round(time.perf_counter() - t, 2)
    return seal_report(result, cfg, out, say, sums=sums, t_all=t_all)
