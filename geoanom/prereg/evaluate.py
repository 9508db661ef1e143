"""The evaluation of a prospective test: the issued alarms against a later catalog, with the
frozen protocol only, and the verdict against the registered criteria (:class:`PreregResult`).

:func:`evaluate` checks the registration and the whole alarm log first
(:func:`geoanom.prereg.alarms.check_chain`), then runs the primary event-level test of
PROTOCOL.md (:func:`~geoanom.stats.protocol.run_test`) on the issued bins, every one of them
a test bin (:func:`issued_scores`), and reports:

* the primary p-value, ASS (= AUC) with its Molchan curve, the number of independent target
  events;
* per registered alarm threshold: the fraction of time alarmed ``tau``, hits, the
  probability gain ``(hits / n) / tau`` against the no-skill (Poisson) reference with the
  binomial chance of as many hits, and against the activity-only alarm (the activity index
  at the same ``tau``) when an activity index is given;
* the verdict: PASS when the primary ``p <= max_p_value`` with at least ``min_events``
  independent events and ``ASS > min_ass``; otherwise FAIL with each reason (too few events
  or alarms not issued up to the registered test end make it inconclusive, and it says so);
* the timing: whether the registration was frozen before the test start and whether every
  bin was issued before the period its alarm forecasts (else the test is pseudo-prospective).

Another protocol or other thresholds than the registered ones are allowed only as an
exploratory analysis (``exploratory=True``), and every output then says so.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from geoanom._jsonfile import json_safe, read_json, to_json_text, write_json
from geoanom.errors import ConfigError, FormatError, GeoanomError
from geoanom.prereg.alarms import bin_entries, check_chain
from geoanom.prereg.protocol import (
    Protocol,
    bin_length_ns,
    iso,
    lead_alarm,
    lead_bins,
    protocol_hash,
    run_test,
)
from geoanom.prereg.registration import Registration
from geoanom.stats.molchan import hits_at, molchan_curve

RESULT_TYPE = "geoanom.PreregResult"
SCHEMA_VERSION = 1
#: The settings that decide the issued bins: an analysis cannot change them afterwards.
BIN_SETTINGS = ("binning_bin_days", "binning_score_variable", "binning_local_night",
                "binning_night_hours")


def issued_scores(registration: Registration, entries: list[dict],
                  variable: str = "rmse") -> xr.Dataset:
    """The issued bins as a scores dataset for ``run_test``: one window per bin (the window
    that decided its alarm value; a window with a NaN score at the bin start for a bin
    without a valid one), plus one NaN-score window ending at the test start so that the
    test's bins start there, every window in the ``test`` split."""
    bins = bin_entries(entries)
    t0 = registration.test_start
    start = [t0] + [np.datetime64(e["window_start"] if e["valid"] else e["bin_start"], "ns")
                    for e in bins]
    end = [t0] + [np.datetime64(e["window_end"] if e["valid"] else e["bin_start"], "ns")
                  for e in bins]
    score = [math.nan] + [e["score"] if e["valid"] else math.nan for e in bins]
    st = registration.station
    return xr.Dataset(
        {"start": ("window", np.array(start, "datetime64[ns]")),
         "end": ("window", np.array(end, "datetime64[ns]")),
         variable: ("window", np.array(score, float)),
         "split": ("window", np.array(["test"] * len(score), dtype=object))},
        coords={"window": np.arange(len(score))},
        attrs={"iaga_code": st["iaga_code"], "latitude_deg": float(st["latitude_deg"]),
               "longitude_deg": float(st["longitude_deg"]),
               "source": "geoanom prereg alarm log (issued bins)"})


def _event_bins(events: list[dict], t0: np.datetime64, bin_days: float) -> np.ndarray:
    t = np.array([np.datetime64(pd.Timestamp(e["time"]).to_datetime64(), "ns")
                  for e in events], "datetime64[ns]")
    return ((t - t0) / np.timedelta64(1, "ns") // bin_length_ns(bin_days)).astype(np.int64)


def alarm_performance(result, thresholds: list[float], protocol: Protocol,
                      t0: np.datetime64) -> list[dict]:
    """Per alarm threshold: ``tau``, hits, probability gains against the no-skill
    (Poisson) reference and against the activity-only alarm at the same ``tau``."""
    s = result.series
    L, elig = np.asarray(s["lead_alarm"], float), np.asarray(s["eligible"], bool)
    events = result.primary["events"]
    n = len(events)
    ev = np.array([e["alarm"] for e in events], float)
    act = s.get("activity")
    act_curve = None
    if act is not None and n:
        la = lead_alarm(np.asarray(act, float), protocol)
        kb = _event_bins(events, t0, protocol.binning_bin_days)
        ok = elig & np.isfinite(la)
        if ok.any():
            act_curve = molchan_curve(la[ok], la[kb])
    out = []
    for level, thr in enumerate(thresholds, 1):
        tau = float(np.mean(L[elig] >= thr)) if elig.any() else math.nan
        hits = int(np.sum(ev >= thr))
        row = {"level": level, "threshold": float(thr), "tau": tau, "n_events": n,
               "hits": hits, "hit_rate": hits / n if n else math.nan}
        ok = n > 0 and tau > 0
        row["probability_gain"] = row["hit_rate"] / tau if ok else math.nan
        row["poisson"] = {"expected_hits": n * tau if ok else math.nan,
                          "p_at_least_hits": float(stats.binom.sf(hits - 1, n, tau))
                          if ok else math.nan}
        if act_curve is not None and ok:
            ha = hits_at(act_curve, tau)
            gain_a = ha / n / tau
            row["activity_only"] = {"hits": int(ha), "probability_gain": gain_a,
                                    "gain_ratio": row["probability_gain"] / gain_a
                                    if gain_a > 0 else math.nan}
        else:
            row["activity_only"] = None
        out.append(row)
    return out


def timing(registration: Registration, entries: list[dict], protocol: Protocol) -> dict:
    """Whether the test was prospective: frozen before the test start, and each bin issued
    before the period its alarm is in force for."""
    frozen = np.datetime64(registration.created_utc.rstrip("Z"), "ns")
    lmin, _ = lead_bins(protocol)
    step = np.timedelta64(bin_length_ns(protocol.binning_bin_days), "ns")
    late, issued = 0, None
    for e in entries:
        if e["kind"] == "issue":
            issued = np.datetime64(e["issued_utc"].rstrip("Z"), "ns")
        elif issued is not None and issued > registration.test_start + (e["bin"] + lmin) * step:
            late += 1
    before = bool(frozen < registration.test_start)
    return {"frozen_utc": registration.created_utc, "test_start": iso(registration.test_start),
            "frozen_before_test_start": before, "n_bins_issued_late": late,
            "prospective": before and late == 0,
            "note": None if before and late == 0 else
            "pseudo-prospective: frozen or issued after the period it forecasts (a "
            "replay of archived data as if it were arriving)"}


def verdict(primary: dict, criteria, coverage: dict) -> tuple[str, list[str]]:
    """PASS or FAIL against the criteria, with every reason for a FAIL."""
    n, p, ass = primary["n_independent_events"], primary["p_value"], primary["ass"]
    reasons = []
    if n < criteria.min_events:
        reasons.append(f"too few independent target events: {n} < {criteria.min_events} "
                       "(inconclusive)")
    if p is None or not math.isfinite(p):
        reasons.append("no primary p-value (no independent target event on an eligible bin)")
    elif p > criteria.max_p_value:
        reasons.append(f"primary p = {p:.4g} > {criteria.max_p_value:g}")
    if ass is None or not math.isfinite(ass) or ass <= criteria.min_ass:
        reasons.append(f"ASS = {_f(ass)} is not above {criteria.min_ass:g}")
    if not coverage["complete"]:
        reasons.append(f"alarms issued up to {coverage['last_bin_end']} only; the registered "
                       f"test period ends {coverage['test_end']} (inconclusive)")
    return ("FAIL" if reasons else "PASS"), reasons


def _f(x, fmt=".3f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


@dataclass
class PreregResult:
    """The evaluation of a prospective test (module docstring); ``test_result`` is the
    complete :class:`~geoanom.stats.result.TestResult` of the primary test as a dict."""

    registration_hash: str
    log_head: str
    exploratory: bool
    changes: list
    verdict: str
    reasons: list
    criteria: dict
    primary: dict
    alarms: list
    timing: dict
    coverage: dict
    test_result: dict = field(repr=False)

    type = RESULT_TYPE

    def to_dict(self) -> dict:
        """JSON-safe dict (NaN -> null), with ``type`` and ``schema``."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return json_safe({"type": RESULT_TYPE, "schema": SCHEMA_VERSION, **d})

    @classmethod
    def from_dict(cls, d: dict) -> PreregResult:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(d, dict) or d.get("type") != RESULT_TYPE:
            raise FormatError("not a geoanom prereg result", expected=RESULT_TYPE,
                              found=str(d.get("type")) if isinstance(d, dict) else type(d).__name__)
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return to_json_text(self.to_dict())

    def write(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> PreregResult:
        return cls.from_dict(read_json(path, "prereg result file"))


def analysis(registration: Registration, protocol: Protocol | None,
             thresholds: list[float] | None, exploratory: bool
             ) -> tuple[Protocol, list[float], list[str]]:
    """The protocol and thresholds to evaluate with, and how they differ from the
    registered ones (ConfigError: a difference without ``exploratory``, or a protocol with
    other binning settings, which the issued bins cannot follow)."""
    frozen = registration.frozen_protocol
    changes = []
    proto = frozen
    if protocol is not None and protocol_hash(protocol) != registration.protocol["hash"]:
        moved = [k for k in BIN_SETTINGS if getattr(protocol, k) != getattr(frozen, k)]
        if moved:
            raise ConfigError("the alarm log holds the registered bins: a protocol with other "
                              "binning settings cannot be evaluated on it",
                              expected=", ".join(f"{k} = {getattr(frozen, k)!r}" for k in moved),
                              found=", ".join(f"{k} = {getattr(protocol, k)!r}" for k in moved))
        changes.append(f"protocol {protocol_hash(protocol)} instead of the registered "
                       f"{registration.protocol['hash']}")
        proto = protocol
    thr = registration.threshold_scores
    if thresholds is not None and [float(t) for t in thresholds] != thr:
        changes.append(f"alarm thresholds {list(thresholds)} instead of the registered {thr}")
        thr = sorted(float(t) for t in thresholds)
    if changes and not exploratory:
        raise ConfigError("only the registered analysis is allowed without --exploratory: "
                          + "; ".join(changes), expected="the registered protocol and "
                          "thresholds, or --exploratory")
    return proto, thr, changes


def evaluate(registration: Registration, entries: list[dict], catalog: pd.DataFrame, *,
             activity: pd.DataFrame | None = None, protocol: Protocol | None = None,
             thresholds: list[float] | None = None, exploratory: bool = False,
             log_path=None, inputs=()) -> PreregResult:
    """Evaluate the issued alarms against ``catalog`` (module docstring).

    Parameters
    ----------
    registration, entries
        The registration and the alarm log's entries (:func:`~geoanom.prereg.alarms.read_log`).
    catalog
        The catalog of the test period (a later one than the registration saw).
    activity
        Optional activity index (``time`` and a value column) for the activity-only
        reference.
    protocol, thresholds
        Another protocol / other alarm thresholds (absolute scores) than the registered ones:
        only with ``exploratory=True``. The bins are the issued ones, so a protocol with
        other binning settings cannot be applied.
    log_path
        The log file, named in errors.
    inputs
        Files to checksum into the test result's provenance.

    Raises
    ------
    GeoanomError
        A broken chain (naming the first broken link), an empty log, or changes without
        ``exploratory``.
    """
    check_chain(entries, registration.hash, path=log_path)
    bins = bin_entries(entries)
    if not bins:
        raise GeoanomError("the alarm log holds no issued bin", path=log_path)
    proto, thr, changes = analysis(registration, protocol, thresholds, exploratory)
    crit = registration.frozen_criteria
    scores = issued_scores(registration, entries, proto.binning_score_variable)
    result = run_test(scores, catalog, proto, activity=activity, seed=crit.seed, inputs=inputs)
    pr = result.primary
    last_end = bins[-1]["bin_end"]
    test_end = registration.test_period.get("end")
    coverage = {"first_bin_start": bins[0]["bin_start"], "last_bin_end": last_end,
                "n_bins": len(bins), "n_valid_bins": int(sum(e["valid"] for e in bins)),
                "test_end": test_end,
                "complete": test_end is None or np.datetime64(last_end, "ns")
                >= np.datetime64(test_end, "ns")}
    primary = {"p_value": pr["p_value"], "ass": pr["ass"],
               "n_independent_events": pr["n_independent_events"], "n_bins": pr["n_bins"],
               "n_surrogates": pr["n_surrogates"], "null": pr["null"],
               "molchan": pr.get("molchan"), "events": pr["events"],
               "activity_only_ass": (result.baselines.get("activity") or {}).get("ass"),
               "test_verdict": pr["verdict"]}
    v, reasons = verdict(primary, crit, coverage)
    return PreregResult(
        registration_hash=registration.hash, log_head=entries[-1]["hash"],
        exploratory=bool(changes), changes=changes,
        verdict=f"exploratory: {v}" if changes else v, reasons=reasons,
        criteria=crit.to_dict(), primary=primary,
        alarms=alarm_performance(result, thr, proto, registration.test_start),
        timing=timing(registration, entries, proto), coverage=coverage,
        test_result=result.to_dict())


def summary_text(res: PreregResult) -> str:
    """The human summary of a :class:`PreregResult` (the CLI's stdout)."""
    tag = "EXPLORATORY " if res.exploratory else ""
    pr, c = res.primary, res.criteria["primary"]
    lines = []
    if res.exploratory:
        lines.append("EXPLORATORY analysis, not the registered test: " + "; ".join(res.changes))
    lines += [
        f"{tag}registration {res.registration_hash[:16]}, log head {res.log_head[:16]}: "
        f"{res.coverage['n_bins']} bins issued ({res.coverage['first_bin_start'][:10]} .. "
        f"{res.coverage['last_bin_end'][:10]})",
        f"{tag}primary: p = {_f(pr['p_value'], '.4f')}, ASS = AUC = {_f(pr['ass'])}, "
        f"{pr['n_independent_events']} independent target events",
        f"{tag}criteria: p <= {c['max_p_value']:g}, at least {c['min_independent_events']} "
        f"events, ASS above {c['min_ass']:g}",
    ]
    for a in res.alarms:
        act = a["activity_only"]
        lines.append(
            f"{tag}alarm level {a['level']} (score >= {a['threshold']:.4g}): tau = "
            f"{_f(a['tau'])}, hits {a['hits']}/{a['n_events']}, probability gain "
            f"{_f(a['probability_gain'], '.2f')} (Poisson: P(>= hits) = "
            f"{_f(a['poisson']['p_at_least_hits'], '.3g')})"
            + (f", activity-only gain {_f(act['probability_gain'], '.2f')}" if act else ""))
    if res.timing["note"]:
        lines.append(f"{tag}timing: {res.timing['note']}")
    lines.append(f"{tag}verdict: {res.verdict.split(': ')[-1]}"
                 + ("" if not res.reasons else " (" + "; ".join(res.reasons) + ")"))
    return "\n".join(lines)
