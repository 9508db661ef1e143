"""The candidate targets of one test, and why each was used or not (PROTOCOL.md, "Targets").

Candidates are the events of ``M >= m_min`` with their origin in the record's bins that the
target rule or one of the sensitivity's rules (:mod:`geoanom.stats.sensitivity`) would see,
depth aside. Every candidate is *used* (an independent target event on an eligible test bin:
it counts in the primary statistic) or not used, for each reason of :data:`REASONS` that
applies, checked in this order:

* ``outside_radius``: beyond the target rule's detection radius (it is a candidate because a
  sensitivity rule sees it);
* ``too_deep``: deeper than ``max_depth_km`` (or the group rule's 200 km);
* ``declustered``: not a mainshock; the sequence head (id, time, magnitude) is named;
* ``outside_test_period``: before the test period;
* ``data_gap``: no alarm in force at its bin (no valid window score over its lead window);
* ``post_event_exclusion``: within the post-event exclusion of an earlier seen event (named).

The counts by reason count each candidate once, under its first reason. The events of
``M >= m_min`` in the record's bins that no rule sees are counted, not listed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.labels import target_reasons
from geoanom.stats.alarm import StationSetup, to_bins
from geoanom.stats.protocol import Protocol

#: The reasons a candidate is not used, in the order they are checked.
REASONS = ("outside_radius", "too_deep", "declustered", "outside_test_period", "data_gap",
           "post_event_exclusion")
#: How each reason reads in a sentence.
REASON_TEXT = {"outside_radius": "outside the radius", "too_deep": "too deep",
               "declustered": "declustered", "outside_test_period": "outside the test period",
               "data_gap": "in a data gap", "post_event_exclusion": "post-event exclusion"}


def _event(catalog: pd.DataFrame, i: int) -> dict:
    return {"event_id": str(catalog["event_id"].iloc[i]), "time": str(catalog["time"].iloc[i]),
            "magnitude": float(catalog["magnitude"].iloc[i])}


def _excluding_event(st: StationSetup, cbins: np.ndarray, b: int, length: int) -> int:
    """The latest seen event whose post-event exclusion covers bin ``b`` (-1: none)."""
    e = st.seen_idx[(cbins[st.seen_idx] >= b - length) & (cbins[st.seen_idx] <= b - 1)]
    return int(e[-1]) if e.size else -1


def target_listing(st: StationSetup, catalog: pd.DataFrame, protocol: Protocol,
                   zone: np.ndarray) -> dict:
    """The ``primary["targets"]`` block: every candidate target, used or not and why.

    Parameters
    ----------
    st
        The station's setup under the target rule.
    catalog
        The declustered catalog (``mainshock``, ``sequence_id``:
        :meth:`geoanom.labels.LabelRule.declustered`), the one ``st`` was built from.
    protocol
        The protocol (its target rule and post-event exclusion).
    zone
        Over the catalog's rows: the events some rule of the test would see (the union of
        their seen masks without the depth cut).

    Returns
    -------
    dict
        ``rule`` (the target definition), ``declustering``, ``depends_on_later_data`` (why the
        target set depends on later events, or ``None``), ``n_candidates``, ``n_used``,
        ``not_used`` (counts by first reason), ``n_beyond_every_rule`` and ``events`` (one
        entry per candidate, in time order: ``event_id``, ``time``, ``magnitude``,
        ``depth_km``, ``distance_km``, ``radius_km``, ``used``, ``reason``, ``reasons``, and
        ``sequence_head`` or ``excluded_after`` where those reasons apply).
    """
    rule = protocol.target
    n = st.binned.n
    why = target_reasons(catalog, st.lat, st.lon, rule)
    cbins = st.binned.bin_of(catalog["time"].to_numpy())
    in_record = (cbins >= 0) & (cbins < n)
    big = catalog["magnitude"].to_numpy(float) >= rule.m_min
    cand = np.flatnonzero(big & in_record & zone)
    length = to_bins(rule.post_event_exclusion_days, protocol.binning_bin_days)
    depth = catalog["depth_km"].to_numpy(float)
    events, counts = [], dict.fromkeys(REASONS, 0)
    for i in cand:
        b = int(cbins[i])
        excl = _excluding_event(st, cbins, b, length)
        has = {"outside_radius": bool(why["outside_radius"].iloc[i]),
               "too_deep": bool(why["too_deep"].iloc[i]),
               "declustered": bool(why["declustered"].iloc[i]),
               "outside_test_period": b < st.test_start_bin,
               "data_gap": not np.isfinite(st.L[b]), "post_event_exclusion": excl >= 0}
        reasons = [r for r in REASONS if has[r]]
        ev = {**_event(catalog, i), "depth_km": float(depth[i]),
              "distance_km": float(why["distance_km"].iloc[i]),
              "radius_km": float(why["radius_km"].iloc[i]), "used": not reasons,
              "reason": reasons[0] if reasons else None, "reasons": reasons}
        head = int(why["head"].iloc[i])
        if has["declustered"] and head >= 0:
            ev["sequence_head"] = {**_event(catalog, head),
                                   "distance_km": float(why["distance_km"].iloc[head])}
        if excl >= 0:
            ev["excluded_after"] = _event(catalog, excl)
        if reasons:
            counts[reasons[0]] += 1
        events.append(ev)
    later = str(catalog.attrs.get("depends_on_later_data", "")) or None
    return {"rule": rule.describe(), "declustering": str(catalog.attrs.get("declustering", "")),
            "depends_on_later_data": later, "n_candidates": len(events),
            "n_used": sum(e["used"] for e in events), "not_used": counts,
            "n_beyond_every_rule": int(np.sum(big & in_record & ~zone)), "events": events}


def listing_text(targets: dict) -> str:
    """One line: used of candidates, and the not-used counts by reason."""
    parts = [f"{k} {REASON_TEXT[r]}" for r, k in targets["not_used"].items() if k]
    return (f"{targets['n_used']} used of {targets['n_candidates']} candidates"
            + (f"; not used: {', '.join(parts)}" if parts else "")
            + f"; {targets['n_beyond_every_rule']} more beyond every rule")
