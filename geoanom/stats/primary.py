"""The primary test of PROTOCOL.md: the event-level AUC (= Molchan area skill score) of the
lead-window alarm over the eligible test-period bins, its circular-shift p-value, the
Molchan diagram with its surrogate envelope, the critical AUC, and the superposed epoch.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import StationSetup, to_bins
from geoanom.stats.molchan import molchan_curve, molchan_summary, nu_on_grid
from geoanom.stats.protocol import Protocol
from geoanom.stats.ranks import normalized_ranks

STATISTIC = "event-level AUC of the lead-window alarm over test-period bins (ASS = AUC)"


def event_test(L: np.ndarray, eligible: np.ndarray, event_bins, shifts: np.ndarray,
               ref_sorted: np.ndarray | None = None) -> dict:
    """Observed AUC of the events on eligible bins and its circular-shift null.

    Returns a dict with ``auc``, ``p_value``, ``p_value_basis``, ``n_events``, ``n_bins``,
    ``null``, ``null_z``, ``null_n_events`` (one entry per shift, NaN / 0 where undefined),
    ``ranks`` and ``event_bins`` (the events on eligible bins). With no event on an
    eligible bin (or no eligible bin) the statistics are NaN and the arrays keep their
    shapes, so that every later step can run.
    """
    ref = np.sort(L[eligible]) if ref_sorted is None else ref_sorted
    b = np.asarray(event_bins, np.int64)
    b = b[(b >= 0) & (b < L.size)]
    obs_b = b[eligible[b]]
    B = len(shifts)
    out = {"n_events": int(obs_b.size), "n_bins": int(ref.size)}
    if obs_b.size == 0 or ref.size == 0:
        out.update(auc=float("nan"), p_value=float("nan"), p_value_basis=None,
                   null=np.full(B, np.nan), null_z=np.full(B, np.nan),
                   null_n_events=np.zeros(B, np.int64), ranks=np.empty(0),
                   event_bins=obs_b)
        return out
    ranks = normalized_ranks(L[obs_b], ref)
    sv = sg.shifted_values(L, b, shifts, eligible)
    null = sg.null_auc(sv, ref)
    null_k = sg.event_counts(sv)
    a = float(ranks.mean())
    # surrogates carry different event counts: p conditional on the observed count where
    # enough surrogates share it, else on the standardised AUC (surrogate.count_aware_p_value)
    null_z = sg.standardised_auc(null, null_k)
    pv, basis = sg.count_aware_p_value(a, obs_b.size, null, null_k)
    out.update(auc=a, p_value=pv, p_value_basis=basis, null=null, null_z=null_z,
               null_n_events=null_k, ranks=ranks, event_bins=obs_b)
    return out


def critical_auc(prim: dict, alpha: float) -> float:
    """The smallest AUC the observed number of events could have reached significance with
    (NaN without events; ``inf`` when even AUC = 1 could not), by the p-value's own rule."""
    n_ev = prim["n_events"]
    if not n_ev:
        return float("nan")
    null, nk = prim["null"], prim["null_n_events"]
    if str(prim.get("p_value_basis") or "").startswith("conditional"):
        # the same rule as the p-value: the null of AUCs of exactly n_ev events
        fs = null[np.isfinite(null) & (nk == n_ev)]
        k = int(math.floor(alpha * (fs.size + 1)))
        return float(np.sort(fs)[::-1][k - 1]) if k >= 1 else float("inf")
    finz = prim["null_z"][np.isfinite(prim["null_z"])]
    if not finz.size:
        return float("nan")
    k = int(math.floor(alpha * (finz.size + 1)))
    zc = float(np.sort(finz)[::-1][k - 1]) if k >= 1 else float("inf")
    # the AUC that the observed number of events needed to reach the critical value
    return 0.5 + zc / math.sqrt(12.0 * n_ev)


def _events_list(st: StationSetup, catalog: pd.DataFrame) -> list[dict]:
    ref = st.ref_sorted
    return [{"event_id": str(catalog["event_id"].iloc[i]), "time": str(catalog["time"].iloc[i]),
             "magnitude": float(catalog["magnitude"].iloc[i]), "alarm": float(st.L[b]),
             "normalized_rank": float(normalized_ranks(st.L[b], ref)) if ref.size else None}
            for i, b in zip(st.target_idx, st.target_bins, strict=False) if st.eligible[b]]


def primary_part(st: StationSetup, prim: dict, catalog: pd.DataFrame, protocol: Protocol,
                 shifts: np.ndarray, null_method: str, score_var: str, warn: list[str]
                 ) -> dict:
    """The ``primary`` block of the result (without verdict, secondary nulls and the
    superposed epoch, which later steps add)."""
    p = protocol
    B = len(shifts)
    n_ev = prim["n_events"]
    ref = st.ref_sorted
    primary: dict = {
        "statistic": STATISTIC, "auc": prim["auc"], "p_value": prim["p_value"],
        "n_surrogates": int(B), "n_surrogates_valid": int(np.isfinite(prim["null"]).sum()),
        "null": null_method, "n_independent_events": n_ev, "n_bins": prim["n_bins"],
        "alpha": p.alpha, "station": st.code, "score_variable": score_var,
        "test_period": {"start": st.split_info["test_start"], "end": st.split_info["test_end"],
                        "split_source": st.split_info["source"]},
        "events": _events_list(st, catalog),
    }
    if n_ev and ref.size:
        curve = molchan_curve(st.L[st.eligible], st.L[prim["event_bins"]])
        primary["ass"] = molchan_summary(curve, p.grid_thresholds)["ass"]
        tau_grid = np.linspace(0, 1, 101)
        nsub = min(B, 999)
        sv = sg.shifted_values(st.L, st.target_bins, shifts[:nsub], st.eligible)
        env = nu_on_grid(ref, sv, tau_grid)
        lo, hi = np.nanpercentile(env, [2.5, 97.5], axis=0)
        primary["molchan"] = {**curve.to_dict(),
                              "envelope": {"tau": tau_grid, "nu_lo": lo, "nu_hi": hi,
                                           "n_surrogates": nsub}}
    else:
        primary["ass"] = float("nan")
        warn.append("no independent target event falls on an eligible test-period bin")
    fin = prim["null"][np.isfinite(prim["null"])]
    if fin.size:
        cnt, edges = np.histogram(fin, bins=40)
        primary["null_histogram"] = {"counts": cnt, "edges": edges}
    primary["critical_auc"] = critical_auc(prim, p.alpha)
    primary["p_value_basis"] = prim.get("p_value_basis")
    okz = np.isfinite(prim["null_z"])
    if okz.any():
        nk = prim["null_n_events"][okz]
        primary["null_n_events"] = {"min": int(nk.min()), "median": float(np.median(nk)),
                                    "max": int(nk.max()),
                                    "fraction_equal_to_observed": float(np.mean(nk == n_ev))}
    return primary


def superposed_epoch(st: StationSetup, ev_bins: np.ndarray, shifts: np.ndarray,
                     bin_days: float) -> dict | None:
    """Mean alarm percentile from 60 days before to 30 days after the events, with 95 %
    Monte Carlo bands from the primary shifts (``None`` without events)."""
    from scipy.stats import rankdata

    n_ev = int(ev_bins.size)
    if not n_ev:
        return None
    n = st.binned.n
    offs = np.arange(-to_bins(60, bin_days), to_bins(30, bin_days) + 1)
    # percentile of each bin's alarm within the record: robust to storm outliers
    a = np.full(n, np.nan)
    okb = np.isfinite(st.binned.a)
    a[okb] = (rankdata(st.binned.a[okb]) - 0.5) / okb.sum()
    obs_idx = ev_bins[:, None] + offs[None, :]
    ok = (obs_idx >= 0) & (obs_idx < n)
    vals = np.where(ok, a[np.clip(obs_idx, 0, n - 1)], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(vals, axis=0)
        nsub = min(len(shifts), 999)
        sidx = np.mod(ev_bins[None, :, None] + shifts[:nsub, None, None] + offs, n)
        smean = np.nanmean(a[sidx], axis=1)
        lo, hi = np.nanpercentile(smean, [2.5, 97.5], axis=0)
    return {"offset_days": offs * bin_days, "mean": mean,
            "quantity": "percentile of the bin alarm in the record",
            "mc_lo": lo, "mc_hi": hi, "n_surrogates": nsub, "n_events": n_ev}
