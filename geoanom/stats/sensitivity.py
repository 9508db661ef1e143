"""Target-rule sensitivity of the primary verdict (PROTOCOL.md, "Sensitivity").

The primary statistic (AUC and its p-value, with the same circular shifts) recomputed with
the target set of each rule of :func:`sensitivity_rules`, and with the single most
influential event left out:

* ``published_radius``: distance ``<= 10 ** (0.43 M)`` km (Dobrovolsky et al. 1979);
* ``capped_radius``: the same radius, at most ``sensitivity.radius_cap_km`` (1,000 km);
* ``group_rule``: the precursor group's detectability rule (:mod:`geoanom.labels`);
* ``leave_one_out``: the primary targets without the event whose removal moves the AUC most
  (the rank furthest from the AUC; the earliest if tied).

Each variant gets a verdict by the protocol's rule (:func:`geoanom.stats.guards.
verdict_class`). The verdict *flips* under a variant when one of the two is significant and
the other is not (not significant, or not assessable with fewer than 10 events): a
significant verdict that does not survive another target rule, or one that appears only
under it. The result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from geoanom.labels import LabelRule
from geoanom.stats.alarm import StationSetup, station_setup
from geoanom.stats.guards import verdict_class
from geoanom.stats.primary import event_test
from geoanom.stats.protocol import Protocol


@dataclass(frozen=True)
class TargetRule:
    """A target rule of the sensitivity: a label rule and an optional radius cap (km)."""

    name: str
    rule: LabelRule
    max_radius_km: float | None = None

    def seen(self, catalog: pd.DataFrame, lat: float, lon: float, *,
             depth_cut: bool = True) -> np.ndarray:
        """The events of ``M >= m_min`` this rule sees (with or without the depth cut)."""
        r = self.rule
        return r.seen(catalog, lat, lon, min_magnitude=r.m_min,
                      max_depth_km=r.max_depth_km if depth_cut else None,
                      max_radius_km=self.max_radius_km)

    def describe(self) -> str:
        return self.rule.describe(self.max_radius_km)


def sensitivity_rules(protocol: Protocol) -> list[TargetRule]:
    """The target rules the verdict is recomputed under: the protocol's target with the
    published radius, with it capped at ``sensitivity_radius_cap_km``, and with the group's
    detectability rule (magnitude, depth cut and declustering as the protocol's)."""
    published = replace(protocol.target, detectability="dobrovolsky", radius="dobrovolsky")
    return [TargetRule("published_radius", published),
            TargetRule("capped_radius", published, protocol.sensitivity_radius_cap_km),
            TargetRule("group_rule", replace(published, detectability="group"))]


def _used_ids(st: StationSetup, catalog: pd.DataFrame) -> list[str]:
    rows = st.target_idx[st.eligible[st.target_bins]]
    return catalog["event_id"].astype(str).to_numpy()[rows].tolist()


def _variant(name: str, description: str, res: dict, used: list[str], primary_ids: list[str],
             alpha: float, base: str) -> dict:
    verdict = verdict_class(res["n_events"], res["p_value"], alpha)
    return {"name": name, "rule": description, "n_independent_events": int(res["n_events"]),
            "auc": res["auc"], "p_value": res["p_value"],
            "p_value_basis": res.get("p_value_basis"), "verdict": verdict,
            "flips": (verdict == "significant") != (base == "significant"),
            "events_added": sorted(set(used) - set(primary_ids)),
            "events_dropped": sorted(set(primary_ids) - set(used))}


def _most_influential(prim: dict) -> int:
    """Index (among the primary's events) whose removal moves the AUC most; -1 if none."""
    ranks = prim["ranks"]
    if ranks.size == 0:
        return -1
    return int(np.argmax(np.abs(ranks - prim["auc"])))


def sensitivity(st: StationSetup, scores, catalog: pd.DataFrame, mainshock: np.ndarray,
                protocol: Protocol, shifts: np.ndarray, prim: dict, primary: dict,
                rules: list[TargetRule]) -> dict:
    """The ``primary["sensitivity"]`` block.

    Parameters
    ----------
    st, prim, primary
        The primary test's setup, :func:`geoanom.stats.primary.event_test` output and the
        ``primary`` block with its verdict (:func:`geoanom.stats.guards.guardrails`).
    scores, catalog, mainshock
        The scores, the catalog and its mainshock flags the primary test used.
    protocol, shifts
        The protocol and the primary null's circular shifts (reused: same null).
    rules
        :func:`sensitivity_rules`.

    Returns
    -------
    dict
        ``variants`` (per rule and for the left-out event: ``name``, ``rule``,
        ``n_independent_events``, ``auc``, ``p_value``, ``verdict``, ``flips``,
        ``events_added``, ``events_dropped``), ``primary_verdict``, ``flips`` (names of the
        variants whose verdict differs) and ``statement``.
    """
    p = protocol
    base = verdict_class(primary["n_independent_events"], primary["p_value"], p.alpha)
    ids = _used_ids(st, catalog)
    variants = []
    for tr in rules:
        sv = station_setup(scores, catalog, p, mainshock, seen=tr.seen(catalog, st.lat, st.lon))
        res = event_test(sv.L, sv.eligible, sv.target_bins, shifts)
        variants.append(_variant(tr.name, tr.describe(), res, _used_ids(sv, catalog), ids,
                                 p.alpha, base))
    k = _most_influential(prim)
    if k >= 0:
        left = ids[k]
        keep = catalog["event_id"].astype(str).to_numpy()[st.target_idx] != left
        res = event_test(st.L, st.eligible, st.target_bins[keep], shifts)
        rank = float(prim["ranks"][k])
        v = _variant("leave_one_out", f"the target rule without {left} (normalized rank "
                     f"{rank:.3f}: the event that moves the AUC most)", res,
                     [i for i in ids if i != left], ids, p.alpha, base)
        v["left_out"] = {"event_id": left, "normalized_rank": rank}
        variants.append(v)
    flips = [v["name"] for v in variants if v["flips"]]
    if flips:
        statement = (f"the verdict ({base}) flips under " + "; ".join(
            f"{v['name']} ({v['verdict']}, {_events(v['n_independent_events'])}, p = "
            f"{_fmt(v['p_value'])})" for v in variants if v["flips"]))
    else:
        statement = f"the verdict ({base}) holds under every target rule tested"
    return {"variants": variants, "primary_verdict": base, "flips": flips,
            "statement": statement}


def _fmt(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.4f}"


def _events(n: int) -> str:
    return f"{n} event{'' if n == 1 else 's'}"


def sensitivity_lines(sens: dict) -> list[str]:
    """The sensitivity as lines of text: one per variant, then the statement."""
    lines = []
    for v in sens["variants"]:
        auc = "n/a" if v["auc"] is None or not np.isfinite(v["auc"]) else f"{v['auc']:.3f}"
        lines.append(f"{v['name']:<17} {_events(v['n_independent_events']):>10}, AUC {auc}, "
                     f"p = {_fmt(v['p_value'])} -> {v['verdict']}"
                     + (" (FLIPS)" if v["flips"] else ""))
    return lines + [sens["statement"]]
