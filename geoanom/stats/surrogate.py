"""Surrogate nulls and bootstrap intervals for event-level tests, vectorised with numpy.

Construction (used by the steps of :func:`geoanom.stats.test.run_test`). Time is cut into
``n_bins`` bins. The alarm in force at bin ``j`` is ``L[j]`` (for ``geoanom test``: the maximum
of the per-bin alarm over the lead window before ``j``). An event in bin ``b`` has value
``L[b]``; the test statistic is the AUC of the event values against the values of a *fixed*
reference set of eligible bins (the Molchan area skill score). A surrogate moves the events and
reads the values where they land; events landing on ineligible bins are dropped from that
surrogate.

* **circular shift** (primary null): every event is moved by the same shift ``s`` (mod
  ``n_bins``), which keeps the catalog's clustering and the score's autocorrelation.
  The season-keeping default shifts by whole years plus or minus up to 30 days.
* **sequence shuffle**: every independent event (a whole declustered sequence) goes to its
  own uniformly random bin.
* **stationary block bootstrap** (Politis and Romano 1994) of the per-bin score: random
  blocks with geometric lengths, wrapped circularly.

"The tested event never enters its own null" means here: in every surrogate, every event
lands at circular distance ``>= min_shift`` bins from its own bin, where ``min_shift`` is
chosen by the caller as the lead-window span plus one, so that the bins a surrogate reads for
an event never include any bin that made up the event's observed value. This holds for the
two nulls that move events (circular shift, sequence shuffle); the block bootstrap moves the
score instead, and a resampled block may (with probability about 1/n_bins per block) come
from the event's own lead window.
"""

from __future__ import annotations

import numpy as np

from geoanom._time import DAYS_PER_YEAR
from geoanom.errors import ValidationError
from geoanom.stats.ranks import normalized_ranks


def _check_n(n_bins: int, min_shift: int) -> None:
    if n_bins - 2 * min_shift + 1 < 1:
        raise ValidationError("record too short for surrogates that keep events away from "
                              "their own lead window",
                              expected=f"more than {2 * min_shift - 1} bins", found=str(n_bins))


def uniform_shifts(n_bins: int, n: int, rng: np.random.Generator, min_shift: int = 1
                   ) -> np.ndarray:
    """``n`` circular shifts drawn uniformly from ``min_shift .. n_bins - min_shift`` bins."""
    _check_n(n_bins, min_shift)
    return rng.integers(min_shift, n_bins - min_shift + 1, size=n)


def season_keeping_shifts(n_bins: int, bins_per_day: float, n: int,
                          rng: np.random.Generator, *, jitter_days: float = 30.0,
                          min_shift: int = 1) -> np.ndarray | None:
    """``n`` circular shifts of a whole number of years plus or minus up to ``jitter_days``.

    The number of years ``k`` is drawn uniformly among the nonzero ``|k| <= K`` for which
    ``|k| year + jitter`` fits in the record; shifts are returned modulo ``n_bins`` and all lie
    at circular distance ``>= min_shift`` from 0. Returns ``None`` when the record is shorter
    than a year plus the jitter plus ``min_shift`` (the caller then falls back to
    :func:`uniform_shifts` and says so).
    """
    year = DAYS_PER_YEAR * bins_per_day
    jit = int(round(jitter_days * bins_per_day))
    kmax = int(np.floor((n_bins - min_shift - jit) / year))
    if kmax < 1:
        return None
    ks = np.concatenate([np.arange(1, kmax + 1), -np.arange(1, kmax + 1)])
    k = ks[rng.integers(0, ks.size, size=n)]
    d = rng.integers(-jit, jit + 1, size=n)
    s = np.round(k * year).astype(np.int64) + d
    return np.mod(s, n_bins)


def shifted_values(alarm, event_bins, shifts, eligible=None) -> np.ndarray:
    """Values ``alarm[(b + s) mod n]`` for every shift ``s`` (rows) and event bin ``b``
    (columns); NaN where the landing bin is not ``eligible``. Shape ``(len(shifts), n_ev)``."""
    a = np.asarray(alarm, dtype=float)
    if eligible is not None:
        a = np.where(eligible, a, np.nan)
    idx = np.mod(np.asarray(event_bins, np.int64)[None, :]
                 + np.asarray(shifts, np.int64)[:, None], a.size)
    return a[idx]


def sequence_shuffle_bins(n_bins: int, event_bins, n: int, rng: np.random.Generator,
                          min_shift: int = 1) -> np.ndarray:
    """Independent uniform new bins for every event in each of ``n`` surrogates, each at
    circular distance ``>= min_shift`` from the event's own bin. Shape ``(n, n_ev)``."""
    _check_n(n_bins, min_shift)
    b = np.asarray(event_bins, np.int64)
    off = rng.integers(min_shift, n_bins - min_shift + 1, size=(n, b.size))
    return np.mod(b[None, :] + off, n_bins)


def stationary_bootstrap_indices(n_bins: int, n: int, mean_block: float,
                                 rng: np.random.Generator) -> np.ndarray:
    """Index arrays of ``n`` stationary-bootstrap resamples (Politis and Romano 1994).

    Each resample is a concatenation of circular blocks with random starts and geometric
    lengths of mean ``mean_block`` bins. Shape ``(n, n_bins)``.
    """
    if mean_block < 1:
        raise ValidationError("mean block length must be at least one bin", found=str(mean_block))
    j = np.arange(n_bins)
    new = rng.random((n, n_bins)) < 1.0 / mean_block
    new[:, 0] = True
    start_pos = np.maximum.accumulate(np.where(new, j[None, :], 0), axis=1)
    starts = rng.integers(0, n_bins, size=(n, n_bins))
    first = np.take_along_axis(starts, start_pos, axis=1)
    return np.mod(first + (j[None, :] - start_pos), n_bins)


def null_auc(values, reference_sorted: np.ndarray) -> np.ndarray:
    """AUC of each row of ``values`` (NaN = absent event) against the sorted reference.
    NaN for a row without events."""
    r = normalized_ranks(values, reference_sorted)
    r = np.where(np.isfinite(values), r, np.nan)
    with np.errstate(invalid="ignore"):
        cnt = np.isfinite(r).sum(axis=-1)
        s = np.nansum(r, axis=-1)
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def event_counts(values) -> np.ndarray:
    """Number of events (finite entries) in each row of ``values``."""
    return np.isfinite(np.asarray(values, dtype=float)).sum(axis=-1)


def standardised_auc(auc, n_events) -> np.ndarray:
    """``(AUC - 1/2) sqrt(12 k)``: the event-level AUC on the scale of its spread under no
    relation (the mean of ``k`` independent uniform ranks has variance ``1 / (12 k)``).

    Surrogate catalogs put different numbers ``k`` of events on eligible bins, and the AUC
    of one event spreads far wider than the AUC of ten; comparing raw AUCs across them gives
    a p-value that is far too small when few events are observed. For a fixed ``k`` this is
    a monotone map of the AUC, so it changes nothing where the counts agree.
    """
    a = np.asarray(auc, dtype=float)
    k = np.asarray(n_events, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, (a - 0.5) * np.sqrt(12.0 * np.maximum(k, 1)), np.nan)


def standardised_rate(rate, n_events, tau: float) -> np.ndarray:
    """``(h - tau) / sqrt(tau (1 - tau) / k)``: a hit rate on ``k`` events on the scale of
    its binomial spread at fraction of time ``tau`` (see :func:`standardised_auc`)."""
    h = np.asarray(rate, dtype=float)
    k = np.asarray(n_events, dtype=float)
    sd = np.sqrt(max(tau * (1 - tau), 1e-12) / np.maximum(k, 1))
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, (h - tau) / sd, np.nan)


def count_aware_p_value(observed: float, n_events: int, null, null_n_events,
                        min_conditional: int = 99) -> tuple[float, str]:
    """Monte Carlo p-value of an event-level AUC whose surrogates carry varying event counts.

    Conditional on the count where possible: among surrogates that put exactly the observed
    number of events on eligible bins, if there are at least ``min_conditional`` of them
    (the AUC of ``k`` events is compared only with AUCs of ``k`` events, which also keeps
    the events' mutual dependence). Otherwise on the standardised AUC over all surrogates
    (:func:`standardised_auc`). Returns ``(p, basis)``.
    """
    null = np.asarray(null, dtype=float)
    nk = np.asarray(null_n_events)
    same = np.isfinite(null) & (nk == n_events)
    if np.count_nonzero(same) >= min_conditional:
        return p_value(observed, null[same]), f"conditional on {n_events} events"
    z = float(standardised_auc(observed, n_events))
    return p_value(z, standardised_auc(null, nk)), "standardised AUC"


def p_value(observed: float, null) -> float:
    """Monte Carlo p-value ``(1 + #{T* >= T}) / (B + 1)`` over the finite surrogates.

    Never below ``1 / (B + 1)``; surrogates with an undefined statistic (NaN, e.g. no event
    landed on an eligible bin) are left out of ``B``. Values within 1e-12 of the observed one
    count as ties (``T* >= T``), so that equal AUCs summed in a different order are not
    split by rounding (conservative).
    """
    t = np.asarray(null, dtype=float)
    t = t[np.isfinite(t)]
    if not np.isfinite(observed):
        return float("nan")
    return float((1 + np.count_nonzero(t >= observed - 1e-12)) / (t.size + 1))


def bootstrap_ci_events(event_ranks, n_boot: int, rng: np.random.Generator,
                        level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the AUC from resampling *events* with replacement.

    ``event_ranks`` are the events' normalised ranks against the reference bins (their
    mean is the AUC). Returns ``(lo, hi)``; Cliff's delta's CI is ``2 lo - 1, 2 hi - 1``.
    """
    r = np.asarray(event_ranks, dtype=float)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return float("nan"), float("nan")
    idx = rng.integers(0, r.size, size=(n_boot, r.size))
    boot = r[idx].mean(axis=1)
    a = (1 - level) / 2
    lo, hi = np.quantile(boot, [a, 1 - a])
    return float(lo), float(hi)


def lag1_autocorrelation(x) -> float:
    """Lag-1 autocorrelation of a series over pairs of consecutive finite values."""
    x = np.asarray(x, dtype=float)
    a, b = x[:-1], x[1:]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    a, b = a[ok], b[ok]
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def effective_sample_size(n: int, rho1: float) -> float:
    """Effective sample size ``n (1 - rho) / (1 + rho)`` of an AR(1)-like series."""
    if not np.isfinite(rho1):
        return float(n)
    rho = min(max(rho1, -0.99), 0.99)
    return float(n * (1 - rho) / (1 + rho))
