"""The seed paper's window-level Mann-Whitney test, kept beside the primary test, with a
calibrated p-value.

Labels: the scores' own ``label`` variable when present; otherwise THE label rule
(:func:`geoanom.labels.window_labels`) with the scores' window config when they carry one,
else with the protocol's target definition (and the window-config defaults for buffer,
normal margin and catalog coverage). The result says which and where it differs from the
protocol.

Calibration: the naive test treats overlapping, autocorrelated windows and clustered events
as independent, so its p-value is not a significance level. The calibrated p compares the
observed test statistic with the same statistic on catalogs moved by the primary null's
circular shifts. The comparison is on the standardised statistic ``z`` (continuity-corrected
normal approximation with tie correction), not on the naive p-value: ``p = 1 - Phi(z)``
underflows to exactly 0 for ``z`` above about 8.3, and every such surrogate then tied with
an observed 0, which kept the calibrated p above the share of underflowing surrogates (an
outside calibration never saw it below 0.186, and it rejected none of 48 strong-precursor
worlds). Labels of the observed and of the shifted catalogs are built alike, at bin
resolution (a bin whose windows carry mixed labels counts as excluded).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from geoanom._progress import Progress
from geoanom.labels import LabelRule, window_labels
from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import StationSetup
from geoanom.stats.protocol import Protocol
from geoanom.stats.ranks import mann_whitney

LEGACY_NOTE = ("window-level Mann-Whitney U as in the seed paper: it treats overlapping, "
               "autocorrelated windows and clustered events as independent, which they are "
               "not, so its p-value is not a valid significance level; see calibrated_p_value")

CALIBRATION_STATISTIC = ("z of the naive one-sided Mann-Whitney test (normal approximation "
                         "with tie and continuity correction), labels at bin resolution for "
                         "the observed and the shifted catalogs alike")

_RULE_WHY = ("the legacy test labels windows as the detector's training did (the scores' "
             "window config); the primary test keeps the pre-registered protocol's target "
             "definition, whose hash is in the result")


def tie_groups(sorted_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted values: start and end index of each value's tie group, and the indices
    of the starts of groups with more than one member."""
    n = sorted_vals.size
    new = np.concatenate([[True], sorted_vals[1:] != sorted_vals[:-1]])
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    gs, ge = starts[gid], ends[gid]
    tied = np.flatnonzero(new & (ends[gid] - starts[gid] > 1))
    return gs, ge, tied


def mann_whitney_z_batch(groups, m1: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """Standardised one-sided Mann-Whitney statistic for many labelings at once.

    ``z = (U - n1 n2 / 2 - 1/2) / sd`` with the tie-corrected ``sd`` (the normal
    approximation scipy's ``mannwhitneyu(x, y, alternative="greater", method="asymptotic")``
    uses, whose p-value is ``1 - Phi(z)``). ``m1``, ``m0``: (B, n) masks of seismic / normal
    windows in the order of sorted scores; ``groups``: :func:`tie_groups` of the sorted
    scores. NaN where a labeling has no seismic or no normal window.
    """
    gs, ge, tied = groups
    m1 = np.asarray(m1, bool)
    m0 = np.asarray(m0, bool)
    c0 = np.concatenate([np.zeros((m0.shape[0], 1)), np.cumsum(m0, axis=1)], axis=1)
    below = np.take(c0, gs, axis=1)
    eq = np.take(c0, ge, axis=1) - below
    u = np.sum(m1 * (below + 0.5 * eq), axis=1)
    n1 = m1.sum(axis=1).astype(float)
    n2 = m0.sum(axis=1).astype(float)
    nn = n1 + n2
    tie = np.zeros(m1.shape[0])
    if tied.size:
        call = np.concatenate([np.zeros((m0.shape[0], 1)), np.cumsum(m0 | m1, axis=1)], axis=1)
        t = np.take(call, ge[tied], axis=1) - np.take(call, gs[tied], axis=1)
        tie = (t ** 3 - t).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(n1 * n2 / 12.0 * ((nn + 1) - tie / (nn * (nn - 1))))
        z = (u - n1 * n2 / 2.0 - 0.5) / sd
    return np.where((n1 > 0) & (n2 > 0), z, np.nan)


def naive_p_from_z(z) -> np.ndarray:
    """``1 - Phi(z)`` computed as ``Phi(-z)`` (no cancellation; still 0 below ~1e-308)."""
    from scipy.special import ndtr

    return ndtr(-np.asarray(z, float))


def carried_window_config(scores) -> dict | None:
    """The window config the scores carry (attrs ``window_config`` or ``config``, or the
    provenance's ``config.windows.config``), or ``None``."""
    cands = [scores.attrs.get("window_config"), scores.attrs.get("config")]
    try:
        prov = json.loads(scores.attrs.get("geoanom_provenance") or "{}")
        cands.append(((prov.get("config") or {}).get("windows") or {}).get("config"))
    except (TypeError, ValueError, AttributeError):
        pass
    for c in cands:
        if isinstance(c, str):
            try:
                c = json.loads(c)
            except ValueError:
                continue
        if isinstance(c, dict) and "m_min" in c and "lead_days" in c:
            return c
    return None


def label_rule_for(scores, protocol: Protocol) -> tuple[LabelRule, dict]:
    """The label rule of the legacy test and a statement of its source and of every field
    where it differs from the protocol's target definition (and why)."""
    proto_rule = protocol.target
    cfg = carried_window_config(scores)
    if cfg is None:
        return proto_rule, {"source": "the protocol's target definition (the scores carry no "
                                      "window config) with the window-config defaults for "
                                      "buffer, normal margin and catalog coverage",
                            "rule": proto_rule.to_dict(), "differs_from_protocol": []}
    rule = LabelRule.from_dict(cfg)
    a, b = rule.to_dict(), proto_rule.to_dict()
    diff = [{"field": k, "labels": a[k], "protocol": b[k]} for k in a
            if k in ("m_min", "max_depth_km", "radius", "detectability", "ks_threshold",
                     "lead_days", "post_event_exclusion_days", "decluster",
                     "decluster_foreshocks") and a[k] != b[k]]
    info = {"source": "the scores' window config", "rule": a, "differs_from_protocol": diff}
    if diff:
        info["why"] = _RULE_WHY
    return rule, info


def bin_labels(window_label: np.ndarray, window_bin: np.ndarray, n: int) -> np.ndarray:
    """Per-bin labels from window labels: the common label of the windows ending in the
    bin; -1 where they are mixed or none is labelled."""
    lb = np.full(n, -2, np.int64)
    for val in (0, 1):
        mk = np.zeros(n, bool)
        mk[window_bin[window_label == val]] = True
        lb = np.where(mk & (lb == -2), val, np.where(mk, -1, lb))
    return np.where(lb == -2, -1, lb).astype(np.int8)


def legacy_window_labels(scores, catalog: pd.DataFrame, st: StationSetup, protocol: Protocol
                         ) -> tuple[np.ndarray, str, dict | None]:
    """Window labels for the legacy test, where they came from, and the rule statement."""
    if "label" in scores.variables:
        return np.asarray(scores["label"].values).astype(np.int64), "scores", None
    rule, info = label_rule_for(scores, protocol)
    lab = window_labels(scores["start"].values, scores["end"].values, catalog, st.lat, st.lon,
                        rule)
    return (lab.label.astype(np.int64), "catalog (geoanom.labels.window_labels, METHODS.md "
            "section 1)", info)


def _calibration_z(w_sc, wb_keep, lab_bin, shifts, n) -> np.ndarray:
    """``z`` for the observed bin labels (row 0) and each shifted catalog (rows 1..)."""
    order = np.argsort(w_sc, kind="mergesort")
    groups = tie_groups(w_sc[order])
    wb = wb_keep[order]
    sh = np.concatenate([[0], shifts])
    z = np.empty(sh.size)
    bar = Progress(sh.size, "legacy calibration")
    for c0 in range(0, sh.size, 32):
        ss = sh[c0:c0 + 32]
        bar.update(ss.size)
        labs = lab_bin[np.mod(wb[None, :] - ss[:, None], n)]
        z[c0:c0 + ss.size] = mann_whitney_z_batch(groups, labs == 1, labs == 0)
    bar.close()
    return z


def _period_checks(scores, w_sc, s1, s0, leg: dict, warn: list[str]) -> None:
    """Test-windows-only variant, training-window warning and period overlap."""
    if "split" in scores.variables:
        spl = np.asarray(scores["split"].values).astype(str)
        t1, t0m = s1 & (spl == "test"), s0 & (spl == "test")
        if t1.any() and t0m.any():
            leg["test_windows_only"] = mann_whitney(w_sc[t1], w_sc[t0m]).to_dict()
        if ((spl != "test") & s1).any():
            warn.append("the legacy test includes training windows: a model trained to "
                        "raise the error of seismic windows raises it on those windows")
    # different periods for seismic and normal windows: overlap of their time
    # histograms (10 equal bins over the span of the labelled windows)
    te = scores["end"].values.astype("datetime64[ns]").astype(np.int64).astype(float)
    edges = np.linspace(te[s1 | s0].min(), te[s1 | s0].max() + 1.0, 11)
    h1 = np.histogram(te[s1], edges)[0] / s1.sum()
    h0 = np.histogram(te[s0], edges)[0] / s0.sum()
    ovl = float(np.minimum(h1, h0).sum())
    leg["period_overlap"] = ovl
    if ovl < 0.5:
        warn.append(f"normal windows come from a different period than seismic ones "
                    f"(overlap of their time histograms {ovl:.2f} < 0.5)")


def legacy_test(scores, catalog: pd.DataFrame, st: StationSetup, protocol: Protocol,
                shifts: np.ndarray, warn: list[str]) -> dict:
    """The ``legacy`` block: the naive window-level test and its calibrated p-value."""
    n = st.binned.n
    w_bin, w_sc, keep = st.binned.window_bin, st.binned.window_score, st.binned.keep
    wl, labels_from, rule_info = legacy_window_labels(scores, catalog, st, protocol)
    leg: dict = {"note": LEGACY_NOTE, "labels_from": labels_from, "level": "window"}
    if rule_info is not None:
        leg["label_rule"] = rule_info
        if rule_info["differs_from_protocol"]:
            fields_ = ", ".join(d["field"] for d in rule_info["differs_from_protocol"])
            warn.append(f"the legacy labels follow the scores' window config, which differs "
                        f"from the protocol in {fields_}: {_RULE_WHY}")
    s1 = keep & (wl == 1)
    s0 = keep & (wl == 0)
    if not (s1.any() and s0.any()):
        leg.update(u=float("nan"), p_value=float("nan"), auc=float("nan"),
                   rank_biserial=float("nan"), n_seismic=int(s1.sum()), n_normal=int(s0.sum()),
                   calibrated_p_value=float("nan"))
        warn.append("legacy test not computed: no seismic or no normal windows")
        return leg
    mw = mann_whitney(w_sc[s1], w_sc[s0])
    leg.update(u=mw.u, p_value=mw.p_value, auc=mw.auc, rank_biserial=mw.rank_biserial,
               n_seismic=mw.n1, n_normal=mw.n2)
    # the seed paper's labels exactly (window level): the batch z must reproduce scipy's p
    o = np.argsort(w_sc[keep], kind="mergesort")
    wk = wl[keep][o][None, :]
    z_exact = mann_whitney_z_batch(tie_groups(w_sc[keep][o]), wk == 1, wk == 0)
    leg["naive_z"] = float(z_exact[0])
    leg["naive_p_value_recomputed"] = float(naive_p_from_z(z_exact[0]))
    BL = min(protocol.surrogates_n_legacy, len(shifts))
    lab_bin = bin_labels(wl, w_bin, n)
    z = _calibration_z(w_sc[keep], w_bin[keep], lab_bin, shifts[:BL], n)
    leg["calibration_z_observed"] = float(z[0])
    leg["calibrated_p_value"] = sg.p_value(z[0], z[1:]) if BL else float("nan")
    leg["n_calibration_surrogates"] = int(np.isfinite(z[1:]).sum())
    leg["calibration_null"] = "catalog circular shifts of the primary null"
    leg["calibration_statistic"] = CALIBRATION_STATISTIC
    _period_checks(scores, w_sc, s1, s0, leg, warn)
    return leg
