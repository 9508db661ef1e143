"""``run_test``: the significance protocol of PROTOCOL.md, its steps of "What it computes" in
order. Each step is a function in a module of its own, returning its part of the result:

=====================================  ====================================================
step                                   module
=====================================  ====================================================
bins, alarm ``L``, targets, eligible   :mod:`geoanom.stats.alarm` (rules from
                                       :mod:`geoanom.labels`)
the nulls (primary shifts, secondary)  :mod:`geoanom.stats.nulls`
primary test, Molchan, superposed      :mod:`geoanom.stats.primary`
effect sizes                           :mod:`geoanom.stats.effects`
reference alarms ("baselines")         :mod:`geoanom.stats.alarm_baselines`
placebos                               :mod:`geoanom.stats.placebo`
multiplicity over the declared grid    :mod:`geoanom.stats.multiplicity`
legacy window-level test               :mod:`geoanom.stats.legacy`
guard-rails, verdict, honest scope     :mod:`geoanom.stats.guards`
candidate targets, used or not and why :mod:`geoanom.stats.targets`
target-rule sensitivity of the verdict :mod:`geoanom.stats.sensitivity`
=====================================  ====================================================

The settings are :class:`geoanom.stats.protocol.Protocol`; the result is
:class:`geoanom.stats.result.TestResult`. The primary statistic is the AUC of the eligible
events' lead-window alarm against all eligible test-period bins' values, which is the Molchan
area skill score (ASS = AUC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.catalog_frame import validate_catalog
from geoanom.provenance import provenance
from geoanom.stats.alarm import check_scores, score_variable, station_setup
from geoanom.stats.alarm_baselines import alarm_baselines
from geoanom.stats.effects import effect_sizes
from geoanom.stats.guards import guardrails
from geoanom.stats.legacy import legacy_test
from geoanom.stats.multiplicity import multiplicity
from geoanom.stats.nulls import primary_shifts, secondary_nulls
from geoanom.stats.placebo import placebos
from geoanom.stats.primary import event_test, primary_part, superposed_epoch
from geoanom.stats.protocol import Protocol, protocol_hash
from geoanom.stats.result import TestResult
from geoanom.stats.sensitivity import TargetRule, sensitivity, sensitivity_rules
from geoanom.stats.targets import target_listing


def _series(st, catalog: pd.DataFrame, mainshock, prim: dict, act_bins, score_var: str
            ) -> dict:
    """Per-bin arrays for the figures (kept in memory, not written to JSON)."""
    n = st.binned.n
    cbin = st.binned.bin_of(catalog["time"].to_numpy()[st.seen_idx])
    shown = st.seen_idx[(cbin >= 0) & (cbin < n)]   # seen events within the record
    return {"bin_start": st.binned.bin_start(np.arange(n)), "alarm": st.binned.a,
            "lead_alarm": st.L, "test_start": st.binned.bin_start(st.test_start_bin),
            "eligible": st.eligible, "null": prim["null"],
            "events_time": catalog["time"].to_numpy()[shown],
            "events_mag": catalog["magnitude"].to_numpy()[shown],
            "events_mainshock": mainshock[shown], "activity": act_bins, "station": st.code,
            "score_variable": score_var}


def run_test(scores, catalog: pd.DataFrame, protocol: Protocol | None = None, *,
             activity: pd.DataFrame | None = None, remote_scores=None,
             extra_scores=None, seed: int = 0, rng: np.random.Generator | None = None,
             inputs=(), keep_series: bool = True):
    """Run the significance protocol of PROTOCOL.md on one station's scores.

    Parameters
    ----------
    scores
        SCORES dataset (dim ``window``; ``start``, ``end``, the score variable; attrs
        ``latitude_deg``, ``longitude_deg``; optional ``label``, ``split``).
    catalog
        Catalog frame (:mod:`geoanom.catalog_frame`); a ``mainshock`` column, when present, is
        the declustering; otherwise ``protocol.target.decluster`` is applied to the events
        of ``M >= protocol.target.m_min`` (:meth:`geoanom.labels.LabelRule.declustered`).
    protocol
        The protocol (default: the packaged defaults).
    activity
        Optional activity index (columns ``time`` and e.g. ``kp`` or ``dst``).
    remote_scores
        Optional SCORES of a remote station: activity baseline and placebo.
    extra_scores
        Optional list of other stations' SCORES for the declared grid.
    seed, rng
        Randomness: ``rng`` if given, else ``numpy.random.default_rng(seed)``.
    inputs
        File paths to checksum into the provenance.
    keep_series
        Keep the per-bin arrays for the figures in ``TestResult.series``.

    Returns
    -------
    TestResult
        Complete also when no independent event lands on a test bin (verdict "not
        assessable" with the reason in ``guardrails["no_events_reason"]``).
    """
    p = Protocol() if protocol is None else protocol
    rng = np.random.default_rng(seed) if rng is None else rng
    check_scores(scores, p.binning_score_variable)
    catalog = validate_catalog(catalog)
    given = "mainshock" in catalog.columns
    sequences = p.target.declustered(catalog)
    mainshock = sequences["mainshock"].to_numpy(bool)
    declustering = "given by the catalog's mainshock column" if given else p.target.decluster
    warn: list[str] = []
    if p.target.decluster == "none" and not given:
        warn.append("declustering is 'none': aftershocks count as independent events")
    if sequences.attrs.get("depends_on_later_data"):
        warn.append("the target set depends on later data ("
                    f"{sequences.attrs['depends_on_later_data']}): it cannot be fixed in "
                    "advance and changes when later events arrive")
    score_var = score_variable(scores, p.binning_score_variable)

    # the order of the steps (and of the draws from rng) is part of the protocol
    st = station_setup(scores, catalog, p, mainshock)
    shifts, null_method = primary_shifts(st, p, p.surrogates_n, rng)
    prim = event_test(st.L, st.eligible, st.target_bins, shifts)
    primary = primary_part(st, prim, catalog, p, shifts, null_method, score_var, warn)
    primary["secondary_nulls"] = secondary_nulls(st, prim, p, rng)
    eff = effect_sizes(st, prim, p, rng)
    base, act_bins, remote = alarm_baselines(st, prim["n_events"], catalog, p, shifts,
                                             activity, remote_scores)
    pl = placebos(st, catalog, mainshock, p, shifts, remote, rng)
    mult = multiplicity(st, scores, extra_scores, catalog, mainshock, p, shifts)
    leg = legacy_test(scores, catalog, st, p, shifts, warn)
    guard = guardrails(st, scores, catalog, mainshock, p, primary, act_bins, remote,
                       declustering, warn)
    sep = superposed_epoch(st, prim["event_bins"], shifts, p.binning_bin_days)
    if sep is not None:
        primary["superposed_epoch"] = sep
    # the candidates: what the target rule or a rule of the sensitivity sees, depth aside
    rules = sensitivity_rules(p)
    zone = np.logical_or.reduce([r.seen(catalog, st.lat, st.lon, depth_cut=False)
                                 for r in [TargetRule("target", p.target), *rules]])
    primary["targets"] = target_listing(st, sequences, p, zone)
    primary["sensitivity"] = sensitivity(st, scores, sequences, mainshock, p, shifts, prim,
                                         primary, rules)
    if primary["sensitivity"]["flips"]:
        warn.append(primary["sensitivity"]["statement"])

    prov = provenance(config=p.to_dict(), inputs=inputs, seeds={"seed": int(seed)},
                      extra={"type": "geoanom.TestResult", "schema": 1,
                             "scores_provenance": scores.attrs.get("geoanom_provenance"),
                             "catalog_source": str(catalog.attrs.get("source", "")),
                             "station": st.code})
    series = _series(st, catalog, mainshock, prim, act_bins, score_var) if keep_series else {}
    return TestResult(protocol=p.to_dict(), protocol_hash=protocol_hash(p), legacy=leg,
                      primary=primary, effect_sizes=eff, baselines=base, placebos=pl,
                      multiplicity=mult, guardrails=guard, provenance=prov, series=series)
