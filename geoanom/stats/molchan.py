"""The time-series Molchan diagram, its area skill score, probability gain and hits.

An alarm function ``a`` is evaluated on time bins. For a threshold ``t`` the alarm is "on"
in every bin with ``a >= t``; ``tau(t)`` is the fraction of (eligible) bins alarmed and
``nu(t)`` the fraction of target events whose own alarm value is below ``t`` (missed).
Sweeping ``t`` over every distinct value from the top gives the curve from ``(0, 1)`` to
``(1, 0)``. Consecutive points are joined by straight lines, which is what a random choice
among tied bins achieves on average; with that convention the area skill score
``ASS = 1 - integral nu d tau`` equals the AUC of the event values against all bins' values
(ties one half), see :func:`area_skill_score`.

Event values and bin values are given separately so that an event's value can be the
alarm in force at its time (for ``geoanom test``: the maximum over its lead window, the
same transform applied to every bin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoanom.errors import ValidationError

DEFAULT_TAUS = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class MolchanCurve:
    """Points of a Molchan diagram: ``tau`` (fraction of time alarmed), ``nu`` (miss rate),
    both from ``(0, 1)`` to ``(1, 0)``; ``thresholds[k]`` is the alarm threshold of point
    ``k`` (``+inf`` for the first point); ``n_events`` and ``n_bins`` the sample sizes."""

    tau: np.ndarray
    nu: np.ndarray
    thresholds: np.ndarray
    n_events: int
    n_bins: int

    def to_dict(self, max_points: int = 201) -> dict:
        """JSON-safe dict, thinned to at most ``max_points`` points (end points kept)."""
        k = np.arange(self.tau.size)
        if k.size > max_points:
            k = np.unique(np.round(np.linspace(0, k.size - 1, max_points)).astype(int))
        return {"tau": self.tau[k].tolist(), "nu": self.nu[k].tolist(),
                "n_events": self.n_events, "n_bins": self.n_bins}


def molchan_curve(bin_values, event_values) -> MolchanCurve:
    """Molchan diagram of an alarm function.

    Parameters
    ----------
    bin_values
        Alarm value of every eligible time bin (NaN bins are dropped).
    event_values
        Alarm value in force at each target event (NaN events are dropped).

    Returns
    -------
    MolchanCurve
    """
    b = np.asarray(bin_values, dtype=float).ravel()
    e = np.asarray(event_values, dtype=float).ravel()
    b = b[np.isfinite(b)]
    e = e[np.isfinite(e)]
    if b.size == 0 or e.size == 0:
        raise ValidationError("a Molchan diagram needs at least one bin and one event",
                              found=f"{b.size} bins, {e.size} events")
    thr = np.unique(np.concatenate([b, e]))[::-1]          # descending distinct thresholds
    bs = np.sort(b)
    es = np.sort(e)
    # alarmed bins at threshold t: #{b >= t}; missed events: #{e < t}
    n_on = bs.size - np.searchsorted(bs, thr, side="left")
    n_miss = np.searchsorted(es, thr, side="left")
    tau = np.concatenate([[0.0], n_on / bs.size])
    nu = np.concatenate([[1.0], n_miss / es.size])
    if tau[-1] < 1.0:  # events below every bin value: alarm everything at the end
        tau = np.append(tau, 1.0)
        nu = np.append(nu, 0.0)
        thr = np.append(thr, -np.inf)
    return MolchanCurve(tau=tau, nu=nu, thresholds=np.concatenate([[np.inf], thr]),
                        n_events=int(es.size), n_bins=int(bs.size))


def area_skill_score(curve: MolchanCurve) -> float:
    """Area skill score ``ASS = 1 - area under nu(tau)`` (trapezoids between points).

    0.5 for a random alarm, 1 for a perfect one. Equals the AUC of the event values against
    the bin values with ties counted one half.
    """
    area = float(np.sum(np.diff(curve.tau) * (curve.nu[1:] + curve.nu[:-1]) / 2.0))
    return 1.0 - area


def hits_at(curve: MolchanCurve, tau0: float) -> int:
    """Number of events hit by the strictest threshold whose alarm covers at most ``tau0``
    of the bins (no interpolation: a tie that would push the alarmed fraction above ``tau0``
    is not switched on)."""
    ok = curve.tau <= tau0 + 1e-12
    nu = curve.nu[ok].min()
    return int(round((1.0 - nu) * curve.n_events))


def probability_gain(curve: MolchanCurve, tau0: float) -> float:
    """Probability gain ``(1 - nu) / tau0`` at fraction of time alarmed ``tau0``, with the
    conservative hit count of :func:`hits_at` (1 means no better than random)."""
    if not 0.0 < tau0 <= 1.0:
        raise ValidationError("tau must be in (0, 1]", found=str(tau0))
    return hits_at(curve, tau0) / curve.n_events / tau0


def molchan_summary(curve: MolchanCurve, taus=DEFAULT_TAUS) -> dict:
    """ASS and, per ``tau`` in ``taus``, the hits, hit rate and probability gain (JSON-safe)."""
    out = {"ass": area_skill_score(curve), "n_events": curve.n_events, "n_bins": curve.n_bins,
           "at_tau": {}}
    for t in taus:
        h = hits_at(curve, t)
        out["at_tau"][f"{t:g}"] = {"tau": float(t), "hits": h,
                                    "hit_rate": h / curve.n_events,
                                    "probability_gain": probability_gain(curve, t)}
    return out


def nu_on_grid(bin_sorted: np.ndarray, event_values: np.ndarray, tau_grid: np.ndarray
               ) -> np.ndarray:
    """Miss rate at each ``tau`` of ``tau_grid`` with the conservative rule of
    :func:`hits_at`, for many event sets at once.

    ``event_values`` has shape ``(..., n_events)`` (NaN = absent event); returns
    ``(..., len(tau_grid))``. Used for the surrogate envelope of the Molchan diagram.
    """
    ev = np.asarray(event_values, dtype=float)
    # tau needed to catch an event: fraction of bins with value >= its value
    need = (bin_sorted.size - np.searchsorted(bin_sorted, ev, side="left")) / bin_sorted.size
    need = np.where(np.isfinite(ev), need, np.inf)
    n = np.isfinite(ev).sum(axis=-1, keepdims=True)
    hit = (need[..., None, :] <= np.asarray(tau_grid)[:, None] + 1e-12).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - hit / n
