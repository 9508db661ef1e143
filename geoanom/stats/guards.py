"""Guard-rails of the protocol and the verdict: too few independent events (and why there
are none), correlation of the alarm with geomagnetic activity, the gap between training and
test, and the honest-scope statement every result carries."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.stats.alarm import StationSetup
from geoanom.stats.protocol import Protocol

#: fewer independent events than this: no verdict is given (PROTOCOL.md)
MIN_EVENTS = 10
#: The three verdicts a test can give (:func:`verdict_class`).
VERDICTS = ("significant", "not significant", "not assessable")


def verdict_class(n_events: int, p_value: float, alpha: float) -> str:
    """THE verdict rule: ``"not assessable"`` below :data:`MIN_EVENTS` independent events,
    else ``"significant"`` when ``p_value <= alpha``, else ``"not significant"``."""
    if n_events < MIN_EVENTS:
        return "not assessable"
    return "significant" if np.isfinite(p_value) and p_value <= alpha else "not significant"


def correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman correlation over the pairs where both are finite (NaN if fewer
    than 3 pairs or a constant series)."""
    from scipy import stats as st

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan"), float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1]), float(st.spearmanr(x[ok], y[ok])[0])


def gap_days(scores, protocol: Protocol) -> float:
    """The required gap (days) between training and test: ``split.gap_days`` or, for
    ``"auto"``, the window length plus the lead maximum."""
    if protocol.split_gap_days != "auto":
        return float(protocol.split_gap_days)
    wl = scores.attrs.get("window_length_s")
    if wl is None:
        wl = float(np.median((scores["end"].values - scores["start"].values)
                             / np.timedelta64(1, "s")))
    return float(wl) / 86400.0 + protocol.target.lead_days[1]


def why_no_events(st: StationSetup, catalog: pd.DataFrame, mainshock: np.ndarray,
                  declustering: str) -> str:
    """Why no independent target event landed on an eligible test-period bin."""
    n = st.binned.n
    test_start = pd.Timestamp(st.binned.bin_start(st.test_start_bin))
    times = catalog["time"].to_numpy()
    if len(catalog) == 0 or pd.Timestamp(times.max()) < test_start:
        last = "it has no event" if len(catalog) == 0 else f"its last event is {times.max()}"
        return f"the catalog ends before the test period starts ({test_start}; {last})"
    cb = st.binned.bin_of(times[st.seen_idx])
    in_test = st.seen_idx[(cb >= st.test_start_bin) & (cb < n)]
    if in_test.size == 0:
        return ("no event the station sees (target magnitude, depth and radius) lies in the "
                "test period")
    mains = in_test[mainshock[in_test]]
    if mains.size == 0:
        return (f"all {in_test.size} seen events in the test period are aftershocks or "
                f"foreshocks after declustering ({declustering})")
    return (f"the {mains.size} independent events in the test period fall on ineligible bins "
            f"(no alarm in force over their lead window, or within the post-event exclusion "
            f"of an earlier seen event)")


def _corr_check(st: StationSetup, act_bins, remote, warn: list[str]) -> dict:
    corr = {"pearson": None, "spearman": None}
    for nm, arr in (("activity", act_bins), ("remote_station", remote)):
        if arr is None:
            continue
        pr, sp = correlation(st.binned.a[st.test], arr[st.test])
        corr = {"pearson": pr, "spearman": sp, "against": nm}
        if max(abs(pr), abs(sp)) > 0.3:
            warn.append(f"the score correlates with the {nm} series (Pearson r = {pr:.2f}, "
                        f"Spearman = {sp:.2f}; |r| > 0.3): an alarm may be geomagnetic activity")
        break
    return corr


def _split_checks(st: StationSetup, scores, p: Protocol, warn: list[str]) -> None:
    if st.split_info.get("last_train_end"):
        gap = gap_days(scores, p)
        got = (np.datetime64(st.binned.bin_start(st.test_start_bin))
               - np.datetime64(st.split_info["last_train_end"])) / np.timedelta64(1, "D")
        if got < gap:
            warn.append(f"gap between the last training window and the test period is "
                        f"{got:.1f} days < window + lead max = {gap:.1f} days")
    if st.split_info["source"] == "protocol":
        warn.append(f"the scores carry no 'split': the test period is the last "
                    f"{p.split_test_fraction:.0%} of the record by protocol; the detector must "
                    f"not have been trained on it (gap >= window + lead max = "
                    f"{gap_days(scores, p):.1f} days)")


def guardrails(st: StationSetup, scores, catalog: pd.DataFrame, mainshock: np.ndarray,
               protocol: Protocol, primary: dict, act_bins, remote, declustering: str,
               warn: list[str]) -> dict:
    """The ``guardrails`` block; also sets ``primary["significant"]``, ``["verdict"]`` and
    ``["scope"]`` (the honest-scope statement)."""
    p = protocol
    n_ev = int(primary["n_independent_events"])
    crit = primary["critical_auc"]
    few = n_ev < MIN_EVENTS
    reason = why_no_events(st, catalog, mainshock, declustering) if n_ev == 0 else None
    if n_ev == 0:
        warn.append(f"no independent target event: {reason}; no verdict is given")
    elif few:
        warn.append(f"only {n_ev} independent events (< {MIN_EVENTS}): no verdict is given; the "
                    f"smallest AUC this test could have detected is "
                    f"{f'{crit:.3f}' if np.isfinite(crit) and crit <= 1 else 'none (above 1)'}")
    corr = _corr_check(st, act_bins, remote, warn)
    _split_checks(st, scores, p, warn)
    significant = verdict_class(n_ev, primary["p_value"], p.alpha) == "significant"
    primary["significant"] = None if few else significant
    if n_ev == 0:
        primary["verdict"] = f"not assessable (no independent target event: {reason})"
    elif few:
        primary["verdict"] = f"not assessable (fewer than {MIN_EVENTS} independent events)"
    else:
        primary["verdict"] = (f"significant at alpha = {p.alpha:g}" if significant else
                              f"not significant at alpha = {p.alpha:g}")
    scope = (f"the verdict rests on {n_ev} independent target event{'s' if n_ev != 1 else ''} "
             f"at one station ({st.code}) in {primary['n_bins']} test-period bins; the protocol "
             f"gives no verdict below {MIN_EVENTS} events"
             + (" (not assessable here)" if few else ""))
    primary["scope"] = scope
    return {"warnings": warn, "few_events": few, "min_events": MIN_EVENTS,
            "no_events_reason": reason, "scope": scope,
            "smallest_detectable_auc": crit if (np.isfinite(crit) and crit <= 1) else None,
            "activity_correlation": corr, "declustering": declustering}
