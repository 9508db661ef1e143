"""Reference alarms the score must beat (the ``baselines`` block of a test result): the
random alarm (the Molchan diagonal), a seismicity-only alarm, an activity-only alarm (Kp or
Dst) and a remote station's score, each scored with the primary test's machinery.

Not to be confused with :mod:`geoanom.detector.baselines` (model-free *window scorers*).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.errors import ValidationError
from geoanom.stats.alarm import (
    StationSetup,
    bin_scores,
    bin_series,
    check_scores,
    lead_max,
    seen_mask,
    to_bins,
)
from geoanom.stats.molchan import molchan_curve, molchan_summary
from geoanom.stats.primary import event_test
from geoanom.stats.protocol import Protocol


def activity_frame(activity: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """(times, values, name) from a DataFrame with a time column (or index) and one value
    column; Dst-like columns (name contains 'dst') are negated so that higher = more active."""
    df = activity
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("activity must be a DataFrame", found=type(df).__name__)
    if "time" in df.columns:
        t = pd.to_datetime(df["time"]).to_numpy("datetime64[ns]")
        cols = [c for c in df.columns if c != "time"]
    else:
        t = pd.to_datetime(df.index).to_numpy("datetime64[ns]")
        cols = list(df.columns)
    cols = [c for c in cols if np.issubdtype(df[c].dtype, np.number)]
    if not cols:
        raise ValidationError("activity table has no numeric column", expected="time, kp (or dst)")
    name = str(cols[0])
    v = df[cols[0]].to_numpy(float)
    if "dst" in name.lower():
        v = -v
    return t, v, name


def _reference(st: StationSetup, n_ev: int, Lb: np.ndarray, name: str, shifts: np.ndarray,
               thresholds, with_p: bool = True) -> dict:
    """ASS (and p) of one reference alarm ``Lb`` against the station's target events."""
    elig = st.eligible & np.isfinite(Lb)
    if not n_ev or not elig.any():
        return {"name": name, "ass": float("nan")}
    r = event_test(Lb, elig, st.target_bins, shifts if with_p else shifts[:0])
    d = {"name": name, "ass": r["auc"], "n_events": r["n_events"], "n_bins": r["n_bins"]}
    if with_p:
        d["p_value"] = r["p_value"]
    if r["n_events"]:
        c = molchan_curve(Lb[elig], Lb[r["event_bins"]])
        d["molchan"] = c.to_dict()
        d["at_tau"] = molchan_summary(c, thresholds)["at_tau"]
    return d


def seismicity_alarm(st: StationSetup, catalog: pd.DataFrame, protocol: Protocol
                     ) -> np.ndarray:
    """Per-bin count of seen events of ``M >= baselines.seismicity_min_magnitude`` in the
    ``seismicity_days`` up to and including the bin (the alarm "after recent seismicity")."""
    p = protocol
    n = st.binned.n
    sm = seen_mask(catalog, st.lat, st.lon, p, min_magnitude=p.baselines_seismicity_min_magnitude)
    cb = st.binned.bin_of(catalog["time"].to_numpy())
    Tb = max(1, to_bins(p.baselines_seismicity_days, p.binning_bin_days))
    ev_count = np.bincount(cb[sm & (cb >= 0) & (cb < n)], minlength=n).astype(float)
    return np.convolve(ev_count, np.ones(Tb))[:n]


def alarm_baselines(st: StationSetup, n_ev: int, catalog: pd.DataFrame, protocol: Protocol,
                    shifts: np.ndarray, activity: pd.DataFrame | None = None,
                    remote_scores=None) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """The ``baselines`` block, and the per-bin activity and remote-station alarms (or
    ``None``) that the placebos and guard-rails reuse."""
    p = protocol
    n = st.binned.n
    th = p.grid_thresholds
    base: dict = {"random": {"name": "random alarm (diagonal)", "ass": 0.5}}
    m0 = p.baselines_seismicity_min_magnitude
    # the lead transform applies to the seismicity alarm as to the score
    seis = seismicity_alarm(st, catalog, p)
    base["seismicity"] = {**_reference(st, n_ev, lead_max(seis, st.lmin, st.lmax),
                                       f"seismicity only: events M>={m0:g} within R(M) in the "
                                       f"last {p.baselines_seismicity_days:g} days", shifts, th,
                                       with_p=False),
                          "min_magnitude": m0, "days": p.baselines_seismicity_days}
    act_bins = None
    base["activity"] = None
    if activity is not None:
        t_a, v_a, nm = activity_frame(activity)
        act_bins = bin_series(t_a, v_a, st.binned, "max")
        base["activity"] = _reference(st, n_ev, lead_max(act_bins, st.lmin, st.lmax),
                                      f"activity only: {nm} (max per bin)", shifts, th)
    remote = None
    base["remote_station"] = None
    if remote_scores is not None:
        check_scores(remote_scores, p.binning_score_variable)
        rb = bin_scores(remote_scores, p, t0=st.binned.t0)
        remote = np.full(n, np.nan)
        m = min(n, rb.n)
        remote[:m] = rb.a[:m]
        code = str(remote_scores.attrs.get("iaga_code", "?"))
        base["remote_station"] = {**_reference(st, n_ev, lead_max(remote, st.lmin, st.lmax),
                                               "remote station score " + code, shifts, th),
                                  "station": code}
    return base, act_bins, remote
