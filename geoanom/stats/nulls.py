"""Every null the protocol draws, in one place: the primary circular shifts (and when the
season-keeping shifts fall back to uniform ones), and the secondary nulls (sequence shuffle,
stationary block bootstrap of the per-bin alarm). The generators themselves are in
:mod:`geoanom.stats.surrogate`; a change of "the surrogate method" starts here.
"""

from __future__ import annotations

import math

import numpy as np

from geoanom._progress import Progress
from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import StationSetup, lead_max
from geoanom.stats.protocol import Protocol
from geoanom.stats.ranks import normalized_ranks


def primary_shifts(setup: StationSetup, protocol: Protocol, n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The primary null's ``n`` circular shifts (bins) and a description of the method.

    Season-keeping shifts (whole years +- jitter) when the record allows at least
    ``1 / alpha - 1`` distinct year offsets, else uniform shifts (and the description says
    why); every shift keeps events at least the lead window plus one bin from their own bin.
    """
    min_shift = setup.lmax + 1
    bpd = 1.0 / protocol.binning_bin_days
    if protocol.surrogates_method == "season_keeping":
        # Whole-year shifts of an N-year record give only about N - 1 distinct offsets; the
        # jitter moves each by less than the lead window, so the null holds about N - 1
        # near-copies of itself and an observed value above all of them gets p ~ 1/B
        # instead of ~1/N (null calibration measured 9.5 % at alpha 0.05 on 10-year worlds).
        # Below 1/alpha offsets the season-keeping null cannot resolve alpha: fall back.
        n_offsets = int(setup.binned.n // (sg.DAYS_PER_YEAR * bpd)) - 1
        need = int(math.ceil(1.0 / protocol.alpha)) - 1
        s = sg.season_keeping_shifts(setup.binned.n, bpd, n, rng,
                                     jitter_days=protocol.surrogates_jitter_days,
                                     min_shift=min_shift) if n_offsets >= need else None
        if s is not None:
            return s, (f"circular shift by whole years +- {protocol.surrogates_jitter_days:g} "
                       f"days ({n_offsets} distinct year offsets)")
        method = (f"uniform circular shift (season not kept: the record allows "
                  f"{max(n_offsets, 0)} distinct whole-year offsets, fewer than the {need} "
                  f"that alpha = {protocol.alpha:g} needs)")
    else:
        method = "uniform circular shift"
    return sg.uniform_shifts(setup.binned.n, n, rng, min_shift=min_shift), method


def _block_bootstrap_null(st: StationSetup, ev_bins: np.ndarray, n_sur: int,
                          mean_block_bins: float, rng: np.random.Generator
                          ) -> tuple[np.ndarray, np.ndarray]:
    """AUC and standardised AUC of the observed events on block-bootstrapped alarms."""
    n = st.binned.n
    elig_idx = np.flatnonzero(st.eligible)
    nulb = np.full(n_sur, np.nan)
    nulbz = np.full(n_sur, np.nan)
    bar = Progress(n_sur, "block bootstrap")
    for c0 in range(0, n_sur, 64):  # chunks keep memory at 64 x n bins
        bar.update(min(64, n_sur - c0))
        idx = sg.stationary_bootstrap_indices(n, min(64, n_sur - c0), mean_block_bins, rng)
        a_star = st.binned.a[idx]
        for r in range(a_star.shape[0]):
            Ls = lead_max(a_star[r], st.lmin, st.lmax)
            rs = np.sort(Ls[elig_idx][np.isfinite(Ls[elig_idx])])
            ev = Ls[ev_bins]
            ev = ev[np.isfinite(ev)]
            if rs.size and ev.size:
                nulb[c0 + r] = normalized_ranks(ev, rs).mean()
                nulbz[c0 + r] = sg.standardised_auc(nulb[c0 + r], ev.size)
    bar.close()
    return nulb, nulbz


def secondary_nulls(st: StationSetup, prim: dict, protocol: Protocol,
                    rng: np.random.Generator) -> dict:
    """p-values of the observed standardised AUC under the sequence shuffle and the
    stationary block bootstrap (``{}`` without events or with ``n_secondary = 0``)."""
    p = protocol
    B2 = p.surrogates_n_secondary
    n_ev = prim["n_events"]
    if not n_ev or B2 <= 0:
        return {}
    n = st.binned.n
    ref = st.ref_sorted
    sb = sg.sequence_shuffle_bins(n, st.target_bins, B2, rng, min_shift=st.lmax + 1)
    vals = np.where(st.event_mask(sb), st.L[np.clip(sb, 0, n - 1)], np.nan)
    nul = sg.null_auc(vals, ref)
    nulz = sg.standardised_auc(nul, sg.event_counts(vals))
    z_obs = float(sg.standardised_auc(prim["auc"], n_ev))
    sec = {"sequence_shuffle": {"p_value": sg.p_value(z_obs, nulz), "n_surrogates": B2,
                                "null_mean": float(np.nanmean(nul))}}
    mb = max(1.0, p.surrogates_block_mean_days / p.binning_bin_days)
    nulb, nulbz = _block_bootstrap_null(st, prim["event_bins"], B2, mb, rng)
    sec["block_bootstrap"] = {"p_value": sg.p_value(z_obs, nulbz), "n_surrogates": B2,
                              "mean_block_days": p.surrogates_block_mean_days,
                              "null_mean": float(np.nanmean(nulb))}
    return sec
