"""Multiplicity over the declared grid (stations x lead windows x statistics): a
Westfall-Young max-statistic p-value over the cells, with the same circular shifts for every
cell, and Benjamini-Yekutieli q-values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import StationSetup, station_setup
from geoanom.stats.protocol import Protocol


def benjamini_yekutieli(p) -> np.ndarray:
    """Benjamini-Yekutieli q-values (FDR under arbitrary dependence) for p-values ``p``."""
    p = np.asarray(p, float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    c = np.sum(1.0 / np.arange(1, m + 1))
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m * c / np.arange(1, m + 1)
    qq = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(qq, 1.0)
    q[ok] = res
    return q


def column_p(null: np.ndarray) -> np.ndarray:
    """For each surrogate (row) and cell (column), the fraction of the column's surrogates at
    or above it (NaN counts as the least extreme, p = 1): the Westfall-Young step."""
    B = null.shape[0]
    x = np.where(np.isfinite(null), null, -np.inf)
    s = np.sort(x, axis=0)
    out = np.empty_like(x, dtype=float)
    for c in range(x.shape[1]):
        out[:, c] = (B - np.searchsorted(s[:, c], x[:, c], side="left")) / B
    out[~np.isfinite(null)] = 1.0
    return out


def hit_stat(values: np.ndarray, ref_sorted: np.ndarray, tau: float) -> np.ndarray:
    """Hit rate at fraction of time ``tau`` (conservative ties) for rows of event values."""
    need = (ref_sorted.size - np.searchsorted(ref_sorted, values, side="left")) / ref_sorted.size
    fin = np.isfinite(values)
    hit = (need <= tau + 1e-12) & fin
    cnt = fin.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, hit.sum(axis=-1) / np.maximum(cnt, 1), np.nan)


def _cells_of(s2: StationSetup, code: str, lw, shifts: np.ndarray, thresholds
              ) -> tuple[list[dict], list[np.ndarray]]:
    """The grid cells of one station and lead window, with their standardised nulls."""
    B = len(shifts)
    refc = s2.ref_sorted
    vals = sg.shifted_values(s2.L, s2.target_bins, np.concatenate([[0], shifts]), s2.eligible)
    kk = sg.event_counts(vals)
    nan = np.full(B + 1, np.nan)
    a_raw = sg.null_auc(vals, refc) if refc.size else nan
    stats = {"auc": (a_raw, sg.standardised_auc(a_raw, kk))}
    for tt in thresholds:
        h = hit_stat(vals, refc, tt) if refc.size else nan
        stats[f"hit_rate@tau={tt:g}"] = (h, sg.standardised_rate(h, kk, tt))
    cells, nulls = [], []
    # p-values on the standardised statistics: surrogates differ in event count
    for nm, (arr, zarr) in stats.items():
        cells.append({"station": code, "lead_days": list(lw), "statistic": nm,
                      "observed": float(arr[0]), "p_value": sg.p_value(zarr[0], zarr[1:])})
        nulls.append(zarr[1:])
    return cells, nulls


def multiplicity(st: StationSetup, scores, extra_scores, catalog: pd.DataFrame,
                 mainshock: np.ndarray, protocol: Protocol, shifts: np.ndarray) -> dict:
    """The ``multiplicity`` block over the protocol's declared grid."""
    p = protocol
    B = len(shifts)
    stations = [scores, *(extra_scores or [])]
    want = set(p.grid_stations)
    missing = sorted(want - {"*"} - {str(s.attrs.get("iaga_code", "?")) for s in stations})
    cells, nulls = [], []
    for ds in stations:
        code = str(ds.attrs.get("iaga_code", "?"))
        if "*" not in want and code not in want:
            continue
        for lw in p.grid_lead_windows:
            s2 = (st if (ds is scores and lw == p.target.lead_days) else
                station_setup(ds, catalog, p, mainshock, lead=lw))
            c, nl = _cells_of(s2, code, lw, shifts, p.grid_thresholds)
            cells += c
            nulls += nl
    mult: dict = {"n_cells": len(cells), "missing_stations": missing,
                  "note": "cells outside the declared grid are exploratory",
                  "max_statistic_p_value": float("nan")}
    if cells:
        pobs = np.array([c["p_value"] for c in cells], float)
        pstar = column_p(np.stack(nulls, axis=1)).min(axis=1)
        minp = np.nanmin(pobs) if np.isfinite(pobs).any() else np.nan
        mult["max_statistic_p_value"] = float((1 + np.count_nonzero(pstar <= minp + 1e-12))
                                              / (B + 1)) if np.isfinite(minp) else float("nan")
        for c, qq in zip(cells, benjamini_yekutieli(pobs), strict=False):
            c["q_value_by"] = float(qq)
    mult["cells"] = cells
    return mult
