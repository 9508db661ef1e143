"""Studies over scores the user brings (``[study] kind = "scores"``).

No detector is trained: each named score column (e.g. one weekly feature of the AETA
area-weekly tables, :func:`geoanom.study.inputs.read_weekly_area_scores`) is tested as it
is, by the assessment every study shares (:mod:`geoanom.study.assess`: per area, and
pooled over areas with the catalog shifted jointly), with Kp as the activity baseline and
the activity index itself as one more score (``"activity"`` in ``detectors``). The base
rates (accuracy of a constant "no event" or "event" forecast) are reported beside the
tests: the number a weekly accuracy claim has to beat.

Specific to these studies, and so here: the areas' score datasets
(:func:`write_area_scores`) and Benjamini-Yekutieli over the grid of scores
(:func:`grid_multiplicity`: the features are a grid of tries).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.detector.baselines import activity_scores
from geoanom.detector.score import write_scores
from geoanom.provenance import provenance
from geoanom.record import make_record
from geoanom.study.assess import Assessment, StationScores, by_q_values, primary_p_values
from geoanom.study.config import ACTIVITY_DETECTOR, SCORE_VAR, StudyConfig


def _activity_weekly(ds: xr.Dataset, kp: pd.DataFrame) -> np.ndarray:
    """Kp max over each window of ``ds`` (the activity-only score), through
    :func:`geoanom.detector.baselines.activity_scores` on a daily grid."""
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


def write_area_scores(cfg: StudyConfig, out: Path, scores: dict, rates: dict,
                      activity: dict) -> StationScores:
    """Each area's SCORES dataset of each named score column (and of ``"activity"``, the
    Kp max over each window, when Kp is given), written to
    ``stations/<AREA>/scores_<score>.nc``; ``scores``: area -> the area's weekly table
    (:func:`geoanom.study.inputs.read_weekly_area_scores`), ``rates``: area -> base rates."""
    stations: dict = {}
    by_det: dict = {d: {} for d in cfg.detectors}
    for st in cfg.stations:
        ds0 = scores[st.code]
        stations[st.code] = st.result_entry()
        stations[st.code]["base_rate"] = rates[st.code]
        for det in cfg.detectors:
            if det == ACTIVITY_DETECTOR:
                if "kp" not in activity:
                    continue
                v = _activity_weekly(ds0, activity["kp"])
            else:
                v = ds0[det].values.astype(float)
            ds = xr.Dataset({"start": ds0["start"], "end": ds0["end"],
                             SCORE_VAR: ("window", v), "label": ds0["label"],
                             "split": ("window", np.full(v.size, "test", dtype=object))},
                            coords={"window": ds0["window"]})
            ds.attrs = dict(ds0.attrs)
            ds.attrs["geoanom_provenance"] = json.dumps(provenance(
                config={"study": cfg.name, "study_config_hash": cfg.hash(), "area": st.code,
                        "score": det}, seeds={"seed": cfg.seed}))
            sp = write_scores(ds, out / "stations" / st.code / f"scores_{det}.nc")
            stations[st.code]["detectors"][det] = {"scores": str(sp.relative_to(out))}
            by_det[det][st.code] = ds
    return StationScores(stations=stations, by_detector=by_det)


def grid_multiplicity(cfg: StudyConfig, assessment: Assessment) -> list[dict]:
    """Benjamini-Yekutieli over the grid of tries: over the pooled p-values of the scores
    (``q_value_by_over_scores`` in each score's pooled test; the activity score is not a
    try) and over every (area, score) test (returned: one row per test)."""
    across = assessment.across
    dets = [d for d in cfg.detectors if d != ACTIVITY_DETECTOR]
    pq = by_q_values([float("nan") if across[d]["pooled"].get("p_value") is None
                      else float(across[d]["pooled"]["p_value"]) for d in dets])
    for d, qq in zip(dets, pq, strict=True):
        across[d]["pooled"]["q_value_by_over_scores"] = qq
    cells = [(c, det, p) for det in cfg.detectors
             for c, p in zip(across[det]["stations"],
                             primary_p_values(assessment.stations, across[det]["stations"], det),
                             strict=True)]
    qa = by_q_values([p for _, _, p in cells])
    return [{"area": c, "score": d, "p_value": p, "q_value_by": qq}
            for (c, d, p), qq in zip(cells, qa, strict=True)]
