"""The pooled event-level test across stations, with the catalog shifted jointly.

Stations share events (DAV and CEB see the same earthquakes), so per-station tests are not
independent and their p-values cannot be multiplied or Fisher-combined. The pooled
statistic is the mean, over every (station, seen independent event) pair on an eligible
test bin, of the event's normalised rank among that station's eligible bins (each station's
alarm is ranked against its own bins: scores of different stations need not be
comparable). Its null moves the catalog by the SAME circular shift at every station: all
station series are put on one common daily grid, so a shift is one offset of the catalog's
time axis, which keeps the events' sharing between stations, their clustering and each
score's autocorrelation. Everything station-specific (binning, lead window, eligibility,
which events a station sees) comes from the single-station protocol's own setup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.catalog_frame import validate_catalog
from geoanom.labels import mainshock_flags
from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import station_setup
from geoanom.stats.nulls import primary_shifts
from geoanom.stats.ranks import normalized_ranks


def pooled_test(scores: dict, catalog: pd.DataFrame, protocol, *, seed: int = 0,
                n_surrogates: int | None = None) -> dict:
    """Pooled event-level AUC over stations with joint catalog shifts.

    Parameters
    ----------
    scores
        Station code -> SCORES dataset (each with a ``split`` or the protocol's test share).
    catalog
        The study catalog (with ``mainshock``, as every station's test used it).
    protocol
        :class:`geoanom.stats.protocol.Protocol`.
    seed
        Seed of the shifts.
    n_surrogates
        Number of joint shifts (default ``protocol.surrogates_n``).

    Returns
    -------
    dict
        ``auc`` (pooled), ``p_value`` and its basis, ``n_pairs`` (station-event pairs),
        ``n_independent_events`` (distinct events), per-station pair counts, the null
        method, and a verdict that is withheld below 10 distinct events.
    """
    catalog = validate_catalog(catalog)
    mainshock = mainshock_flags(catalog, protocol.target.decluster, protocol.target.m_min,
                                foreshocks=protocol.target.decluster_foreshocks)
    codes = [c for c in scores if scores[c] is not None and scores[c].sizes.get("window", 0) > 1]
    if not codes:
        return {"status": "no station with scores", "n_independent_events": 0}
    t0 = min(np.asarray(scores[c]["end"].values, "datetime64[ns]").min() for c in codes)
    t0 = np.datetime64(t0, "D").astype("datetime64[ns]")
    setups = {c: station_setup(scores[c], catalog, protocol, mainshock, t0=t0) for c in codes}
    N = max(s.binned.n for s in setups.values())
    B = int(protocol.surrogates_n if n_surrogates is None else n_surrogates)
    rng = np.random.default_rng(seed)

    class _Grid:  # what the shift rule reads: the grid length and the lead maximum
        binned = type("B", (), {"n": N})()
        lmax = max(s.lmax for s in setups.values())

    shifts, method = primary_shifts(_Grid, protocol, B, rng)
    sh = np.concatenate([[0], shifts])
    sums = np.zeros(sh.size)
    counts = np.zeros(sh.size)
    per_station, event_ids = {}, set()
    for c, s in setups.items():
        L = np.full(N, np.nan)
        L[:s.binned.n] = s.L
        elig = np.zeros(N, bool)
        elig[:s.binned.n] = s.eligible
        ref = np.sort(L[elig])
        if ref.size == 0:
            per_station[c] = {"n_events": 0}
            continue
        vals = sg.shifted_values(L, s.target_bins, sh, elig)
        r = normalized_ranks(vals, ref)
        r = np.where(np.isfinite(vals), r, np.nan)
        sums += np.nansum(r, axis=1)
        counts += np.isfinite(r).sum(axis=1)
        on = np.isfinite(vals[0])
        per_station[c] = {"n_events": int(on.sum()),
                          "auc": float(np.nanmean(r[0])) if on.any() else float("nan")}
        event_ids |= {str(catalog["event_id"].iloc[i]) for i in s.target_idx[on]}
    with np.errstate(invalid="ignore", divide="ignore"):
        auc_all = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    a_obs, k_obs = float(auc_all[0]), int(counts[0])
    out = {"statistic": "mean normalised rank of each (station, event) pair among the "
                        "station's eligible bins (pooled event-level AUC)",
           "null": f"joint circular shift of the catalog at every station ({method})",
           "n_surrogates": B, "stations": codes, "per_station": per_station,
           "n_pairs": k_obs, "n_independent_events": len(event_ids),
           "common_grid_start": str(pd.Timestamp(t0)), "n_bins": int(N), "alpha": protocol.alpha}
    if k_obs == 0:
        out.update(auc=float("nan"), p_value=float("nan"), verdict="no event on an eligible "
                   "test bin", significant=None)
        return out
    p, basis = sg.count_aware_p_value(a_obs, k_obs, auc_all[1:], counts[1:])
    few = len(event_ids) < 10
    sig = (not few) and np.isfinite(p) and p <= protocol.alpha
    out.update(auc=a_obs, p_value=float(p), p_value_basis=basis,
               null_mean=float(np.nanmean(auc_all[1:])),
               null_q95=float(np.nanpercentile(auc_all[1:], 95)),
               significant=None if few else bool(sig),
               verdict=("not assessable (fewer than 10 independent events)" if few else
                        (f"significant at alpha = {protocol.alpha:g}" if sig else
                         f"not significant at alpha = {protocol.alpha:g}")))
    return out
