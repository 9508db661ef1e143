"""Defaults that fit the record: detector and protocol settings chosen from the record's span,
cadence and gaps and from the catalog's events the station sees.

``geoanom config suggest`` and ``geoanom synth`` write the two TOML files this module fits
(:func:`suggest_configs`, :func:`write_configs`); ``geoanom train`` and ``geoanom test`` call
:func:`check_windows_fit` and :func:`protocol_fit_error` so that a setting the record cannot
satisfy is refused before anything runs, with the numbers to change and values that would
work for this record.

Every choice is made by the package's own rules: windows by
:func:`geoanom.detector.windows.make_windows`, labels by :func:`geoanom.detector.windows.label_windows` (THE label
rule of :mod:`geoanom.labels`), splits by :func:`geoanom.detector.windows.split_windows`. The fitter
only tries a few candidate settings (leads, the label rules of :data:`LABEL_RULES`, split
layouts) and keeps the first that leaves every split usable, else one that leaves both classes
in training; the written file says which label rule it chose and why, with the window counts
each rule leaves and the target events the seismic windows belong to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import DAYS_PER_YEAR
from geoanom._toml import toml_value
from geoanom.detector.config import read_detector_tables
from geoanom.detector.windows import WindowConfig, label_windows, make_windows, split_windows
from geoanom.errors import ConfigError, GeoanomError
from geoanom.labels import LabelRule
from geoanom.record import FLAG_VALID, component_names

_DAY_S = 86_400.0

def split_candidates() -> list[tuple[float, float, float]]:
    """Split layouts (train, val, test) the fitter tries: train 0.30-0.70 and val 0.10-0.35
    in steps of 0.05, test at least 0.20; the package default (0.6, 0.1, 0.3) first."""
    out = [(0.6, 0.1, 0.3)]
    for tr in range(30, 75, 5):
        for va in range(10, 40, 5):
            te = 100 - tr - va
            if te >= 20 and (tr, va) != (60, 10):
                out.append((tr / 100, va / 100, te / 100))
    return out


@dataclass
class RecordFacts:
    """What :func:`record_facts` finds in a record (times UTC)."""

    station: str
    latitude_deg: float
    longitude_deg: float
    sampling_period_s: float
    start: pd.Timestamp
    end: pd.Timestamp
    n_samples: int
    components: list[str]
    valid_fraction: dict[str, float]

    @property
    def span_days(self) -> float:
        """First sample to last sample plus one period, in days."""
        return ((self.end - self.start).total_seconds() + self.sampling_period_s) / _DAY_S

    def describe(self) -> str:
        """One line: station, span, cadence, valid shares."""
        vf = ", ".join(f"{c} {100 * v:.0f} %" for c, v in self.valid_fraction.items())
        return (f"{self.station or 'station'}: {self.start:%Y-%m-%d %H:%M} .. "
                f"{self.end:%Y-%m-%d %H:%M} ({self.span_days:.1f} days), cadence "
                f"{_fmt_s(self.sampling_period_s)}, valid {vf}")


def _fmt_s(s: float) -> str:
    if s >= _DAY_S and s % _DAY_S == 0:
        return f"{s / _DAY_S:g} d"
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def record_facts(record: xr.Dataset) -> RecordFacts:
    """Span, cadence, components and valid share of a record.

    Parameters
    ----------
    record
        Station record (:mod:`geoanom.record`).
    """
    t = record["time"].values.astype("datetime64[ns]")
    comps = component_names(record)
    vf = {}
    for c in comps:
        ok = (record[f"{c}_flag"].values == FLAG_VALID) & np.isfinite(record[c].values)
        vf[c] = float(ok.mean()) if ok.size else 0.0
    a = record.attrs
    return RecordFacts(station=str(a.get("iaga_code", "")),
                       latitude_deg=float(a.get("latitude_deg", np.nan)),
                       longitude_deg=float(a.get("longitude_deg", np.nan)),
                       sampling_period_s=float(a.get("sampling_period_s", np.nan)),
                       start=pd.Timestamp(t[0]), end=pd.Timestamp(t[-1]), n_samples=int(t.size),
                       components=comps, valid_fraction=vf)


# --------------------------------------------------------------------------------------------
# windows


@dataclass
class Suggestion:
    """Fitted detector and protocol settings with a comment on each choice."""

    facts: RecordFacts
    windows: object  # WindowConfig
    train: dict
    protocol: dict
    comments: dict[str, str] = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    counts_by_rule: dict = field(default_factory=dict)
    targets: list[dict] = field(default_factory=list)


def _window_length(facts: RecordFacts) -> tuple[float, float, float, str]:
    """Window length, stride (s) and max missing fraction, with the reason."""
    p = facts.sampling_period_s
    if p < 3600:
        n = 60
        length = n * p
        stride = length / 2
        why = (f"{n} samples of {_fmt_s(p)} = {_fmt_s(length)}: long enough for Pc5 "
               f"pulsations and daily-scale changes to shape a window, short enough for a "
               f"BiLSTM; half-overlapping windows")
        return length, stride, 0.1, why
    if p < _DAY_S:
        n = max(8, int(round(2 * _DAY_S / p)))
        length = n * p
        return length, p * max(1, n // 4), 0.1, (f"{n} samples = {_fmt_s(length)} (two days "
                                                 "of an hourly-type record), stride a quarter")
    # daily or coarser: a few weeks per window, one window per sample
    n = 16
    vf = min(facts.valid_fraction.values()) if facts.valid_fraction else 1.0
    mmf = 0.1 if vf > 0.9 else 0.25
    return n * p, p, mmf, (f"{n} samples = {_fmt_s(n * p)} of a daily record, stride one "
                           f"sample; up to {100 * mmf:g} % missing per window because the "
                           f"record has {100 * (1 - vf):.0f} % missing days")


def _lead_candidates(span_days: float, window_days: float
                     ) -> list[tuple[tuple[float, float], float, float, str]]:
    """Lead windows to try, longest first: ((lead_min, lead_max), buffer, post-event
    exclusion, reason), all in days."""
    out = []
    if span_days >= 365:
        out.append(((1.0, 30.0), 5.0, 30.0, "METHODS.md defaults: seismic windows end 1-30 "
                    "days before a seen target, 5-day buffer, 30 days after an event excluded"))
        for lmax in (10.0, 5.0):
            out.append(((1.0, lmax), float(_nice(lmax / 4)), lmax,
                        f"seismic windows end 1-{lmax:g} days before a seen target, "
                        f"{_nice(lmax / 4):g}-day buffer, {lmax:g} days excluded after an "
                        "event: the catalog's events are too dense for the 1-30 day default"))
        return out
    # keep about 30 lead windows in the record so that splits and surrogates fit
    lmax = max(span_days / 30.0, 2 * window_days)
    lmax = float(_nice(min(lmax, 30.0)))
    lmin = float(_nice(lmax / 4))
    out.append(((lmin, lmax), float(_nice(lmax / 2)), lmax, (
        f"the record spans {span_days:.1f} days, too short for the 1-30 day default (30 days "
        f"of lead plus 30 of exclusion per event would fill it): lead {lmin:g}-{lmax:g} days "
        f"(about 1/30 of the span), buffer {_nice(lmax / 2):g} d, {lmax:g} d excluded after "
        "an event")))
    return out


def _nice(x: float) -> float:
    """Round to 1, 2 or 5 times a power of ten (or quarters of a day below 1)."""
    if x <= 0:
        return 0.0
    if x < 1:
        return max(0.25, round(x * 4) / 4)
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if x <= m * e * 1.25:
            return float(m * e)
    return float(10 * e)


def _counts(ws: xr.Dataset) -> dict[str, dict[str, int]]:
    sp = ws["split"].values.astype(str)
    lab = ws["label"].values
    return {s: {"normal": int(np.sum((sp == s) & (lab == 0))),
                "seismic": int(np.sum((sp == s) & (lab == 1)))} for s in ("train", "val", "test")}


def _usable(c: dict) -> tuple[bool, int]:
    # negative learning needs both classes in train; model selection and the held-out
    # numbers need both in val and test
    ok = all(c[s]["normal"] > 0 and c[s]["seismic"] > 0 for s in ("train", "val", "test"))
    return ok, min(v for s in c.values() for v in s.values())


def suggest_configs(record: xr.Dataset, catalog: pd.DataFrame, *,
                    m_min: float = 5.0) -> Suggestion:
    """Fit detector ([windows], [train]) and protocol settings to ``record`` and ``catalog``.

    Parameters
    ----------
    record
        Station record (already preprocessed, if a ``[preprocess]`` chain will run).
    catalog
        Catalog frame (:mod:`geoanom.catalog_frame`).
    m_min
        Target magnitude threshold.

    Returns
    -------
    Suggestion
        The settings, a comment per choice, and the window counts per split they give.
    """
    f = record_facts(record)
    length, stride, mmf, why_len = _window_length(f)
    leads = _lead_candidates(f.span_days, length / _DAY_S)
    comments = {"window_length_s": why_len}
    ws0 = make_windows(record, length_s=length, stride_s=stride, max_missing_fraction=mmf)
    n_windows = int(ws0.sizes["window"])
    warnings: list[str] = []
    if n_windows == 0:
        raise ConfigError("the record has no window with enough valid samples",
                          expected=f"{_fmt_s(length)} windows with at most {100 * mmf:g} % "
                                   "missing", found=f.describe())
    lat, lon = f.latitude_deg, f.longitude_deg
    if len(catalog):
        c0, c1 = (pd.Timestamp(catalog["time"].min()), pd.Timestamp(catalog["time"].max()))
        c0, c1 = (x.tz_convert(None) if x.tzinfo else x for x in (c0, c1))
        outside = (max(0.0, (c0 - f.start).total_seconds()) +
                   max(0.0, (f.end - c1).total_seconds())) / _DAY_S
        if outside > 0.1 * f.span_days:
            warnings.append(
                f"the catalog covers {c0:%Y-%m-%d} .. {c1:%Y-%m-%d} only: {outside:.0f} of the "
                f"record's {f.span_days:.0f} days lie outside it, where no window can be "
                "labelled normal (require_catalog_coverage)")
    best, tried = None, []
    for k, (lead, buffer, post, why_lead) in enumerate(leads):
        rule = LabelRule(m_min=m_min, lead_days=lead, buffer_days=buffer,
                         post_event_exclusion_days=post)
        base = WindowConfig(window_length_s=length, stride_s=stride, max_missing_fraction=mmf,
                            label_rule=rule)
        for j, (name, change, _) in enumerate(LABEL_RULES):
            cfg_r = replace(base, label_rule=replace(rule, **change))
            try:
                lab = label_windows(ws0, catalog, station_lat=lat, station_lon=lon,
                                    config=cfg_r)
            except GeoanomError as exc:
                warnings.append(f"labelling with the label rule {name} failed: {exc}")
                continue
            for fr in split_candidates():
                cfg = replace(cfg_r, split_fractions=fr)
                sw = split_windows(lab, config=cfg)
                c = _counts(sw)
                ok, score = _usable(c)
                trains = c["train"]["normal"] > 0 and c["train"]["seismic"] > 0
                # usable first, then both classes in train, then the longest lead tried
                # first, then the earliest label rule, then the most windows in the rarest
                # class, then the layout closest to the default
                dist = -sum(abs(a - b) for a, b in zip(fr, (0.6, 0.1, 0.3), strict=True))
                key = (ok, trains, -k, -j, score, dist)
                if best is None or key > best[0]:
                    best = (key, cfg, c, why_lead, j, _seismic_events(sw, catalog), base)
            if best is not None and best[0][0]:
                break
        if best is not None and best[0][0]:
            break
        tried.append(f"{lead[0]:g}-{lead[1]:g} d")
    if best is None:
        raise ConfigError("cannot label windows of this record with this catalog",
                          expected="a record with station coordinates and a catalog",
                          found="; ".join(warnings) or f.describe())
    (ok, trains, _, _, _, _), cfg, counts, why_lead, j, targets, base = best
    if tried and ok:
        why_lead += (" (longer leads tried first: " + ", ".join(tried) + " leave no normal "
                     "window or no target in some split)")
    comments["lead_days"] = why_lead
    comments["split_fractions"] = (
        f"chronological train/val/test shares {list(cfg.split_fractions)}: of the layouts "
        "tried (train 0.3-0.7, val 0.1-0.35, test >= 0.2), the one with both classes in "
        "train, val and test and the most windows in the rarest of them"
        if ok else
        f"no layout tried leaves both classes in val and test; {list(cfg.split_fractions)} "
        "leaves the most: training or held-out numbers rest on very few windows")
    comments["stride_s"] = f"{_fmt_s(cfg.stride_s)}: gives {n_windows} windows with enough data"
    comments["embargo_days"] = (f"default: window + lead max + buffer = "
                                f"{cfg.embargo_resolved_days:g} days between splits")
    by_rule = _counts_by_rule(ws0, catalog, lat, lon,
                              replace(base, split_fractions=cfg.split_fractions))
    comments.update(_rule_comments(j, ok, trains))
    comments["components"] = "every component of the record"
    if not ok:
        warnings.append("no split layout leaves both classes in train, val and test: " +
                        ", ".join(f"{s} {v['normal']} normal / {v['seismic']} seismic"
                                  for s, v in counts.items()))
    tdict = {"seed": 0}
    proto = suggest_protocol(f, cfg)
    comments.update(proto.pop("_comments"))
    return Suggestion(facts=f, windows=cfg, train=tdict, protocol=proto, comments=comments,
                      counts=counts, warnings=warnings, counts_by_rule=by_rule,
                      targets=targets)


#: The label rules the fitter tries, in order (name, the fields changed, why it is tried):
#: the package's rule first; then normal windows free of detectable events only, for
#: stations that see many smaller events; then the field's detectability rules; then no
#: declustering (flagged).
LABEL_RULES: tuple[tuple[str, dict, str], ...] = (
    ("default", {}, "the package's label rule (Dobrovolsky radius; normal windows free of "
     "seen events of M >= m_min - 0.5; Gardner-Knopoff sequences from the past only)"),
    ("normal_rule=detectable", {"normal_rule": "detectable"},
     "normal windows need only be free of the events the rule detects (seen, M >= m_min), "
     "not of every seen event of M >= m_min - 0.5"),
    ("detectability=group", {"detectability": "group"},
     "the precursor group's detectability rule (M >= 5, R <= 180 km, depth <= 200 km; "
     "0.025 R < M - 4.5 or M >= 6.5 or R <= 30 km)"),
    ("detectability=ks", {"detectability": "ks"},
     "the local seismicity index Ks = 10^(0.75 M) / (R + 100) >= ks_threshold"),
    ("decluster=none", {"decluster": "none"},
     "no declustering (FLAGGED): every event is its own sequence, aftershocks count as "
     "targets"),
)


def _seismic_events(ws: xr.Dataset, catalog: pd.DataFrame) -> list[dict]:
    """Per target event that labels seismic windows: id, time, magnitude, distance and the
    number of its seismic windows in each split."""
    lab = ws["label"].values
    ev = ws["event_id"].values.astype(str)
    sp = ws["split"].values.astype(str)
    when = dict(zip(catalog["event_id"].astype(str), catalog["time"], strict=True))
    out = []
    for e in dict.fromkeys(ev[lab == 1]):
        m = (lab == 1) & (ev == e)
        i = int(np.flatnonzero(m)[0])
        out.append({"event_id": e, "time": str(when.get(e, "")),
                    "magnitude": float(ws["magnitude"].values[i]),
                    "distance_km": float(ws["distance_km"].values[i]),
                    "windows": {s: int(np.sum(m & (sp == s))) for s in ("train", "val", "test")}})
    return out


def _counts_by_rule(ws0: xr.Dataset, catalog: pd.DataFrame, lat: float, lon: float,
                    base) -> dict[str, dict]:
    """The window counts per split that each label rule of :data:`LABEL_RULES` leaves with
    the window config ``base`` (the chosen lead and split layout, the default label rule)."""
    out = {}
    for name, change, _ in LABEL_RULES:
        cfg = replace(base, label_rule=replace(base.label_rule, **change))
        try:
            lab = label_windows(ws0, catalog, station_lat=lat, station_lon=lon, config=cfg)
        except GeoanomError:
            continue
        out[name] = _counts(split_windows(lab, config=cfg))
    return out


def _rule_comments(j: int, ok: bool, trains: bool) -> dict[str, str]:
    """Why the label rule ``LABEL_RULES[j]`` was chosen, under the keys it sets."""
    name, change, why = LABEL_RULES[j]
    if j == 0:
        reason = why
    else:
        before = ", ".join(n for n, _, _ in LABEL_RULES[:j])
        lack = ("a split without both classes" if ok else
                "no seismic or no normal training window")
        reason = f"label rule {name}: {why}; the rules tried before it ({before}) leave {lack}"
    past = ("Gardner-Knopoff from the past only: targets are mainshocks, and no later event "
            "turns an earlier one into a foreshock")
    return {"decluster": reason if "decluster" in change else past,
            "detectability": reason if "detectability" in change else
            "Dobrovolsky radius (the default rule)",
            "normal_rule": reason if "normal_rule" in change else
            "normal windows free of every seen event of M >= m_min - normal_margin_magnitude"}


def suggest_protocol(facts: RecordFacts, wcfg) -> dict:
    """Protocol tables matching the detector's windows (lead, exclusion, test share) and
    the record's span (bins, surrogate method). Key ``_comments`` holds the reasons."""
    lmin, lmax = wcfg.label_rule.lead_days
    stride_d = wcfg.stride_s / _DAY_S
    bin_days = float(max(min(1.0, lmin), min(1.0, stride_d)))
    n_bins = facts.span_days / bin_days
    years = facts.span_days / DAYS_PER_YEAR
    season = years >= 21  # 1/alpha whole-year offsets, alpha = 0.05
    method = "season_keeping" if season else "uniform"
    comments = {
        "binning.bin_days": (f"{bin_days:g} d bins: {n_bins:.0f} bins over the record, at "
                             f"most the lead minimum ({lmin:g} d)"),
        "surrogates.method": (
            f"season-keeping whole-year shifts: the record spans {years:.1f} years (>= 21)"
            if season else f"uniform circular shifts: {years:.1f} years give fewer than the "
                           "20 whole-year offsets the season-keeping null needs at alpha 0.05"),
        "lead": "the detector's lead window and post-event exclusion",
        "split.test_fraction": "the detector's test share",
        "target.declustering": "the detector's declustering",
        "target.detectability": "the detector's detectability rule",
    }
    return {
        "alpha": 0.05,
        "target": {"min_magnitude": float(wcfg.label_rule.m_min),
                   "max_depth_km": float(wcfg.label_rule.max_depth_km),
                   "radius": wcfg.label_rule.radius,
                   "detectability": wcfg.label_rule.detectability,
                   "ks_threshold": float(wcfg.label_rule.ks_threshold),
                   "declustering": wcfg.label_rule.decluster,
                   "declustering_foreshocks": wcfg.label_rule.decluster_foreshocks},
        "lead": {"min_days": float(lmin), "max_days": float(lmax),
                 "post_event_exclusion_days":
                     float(wcfg.label_rule.post_event_exclusion_days)},
        "binning": {"bin_days": bin_days, "score_variable": "rmse"},
        "split": {"test_fraction": float(wcfg.split_fractions[2]), "gap_days": "auto"},
        "surrogates": {"method": method},
        "baselines": {"seismicity_days": float(lmax)},
        "grid": {"lead_windows": [[float(lmin), float(lmax)]]},
        "_comments": comments,
    }


# --------------------------------------------------------------------------------------------
# writing TOML with comments


def _table(name: str, d: dict, comments: dict[str, str], prefix: str = "") -> list[str]:
    lines = [f"[{name}]"]
    for k, v in d.items():
        if v is None:
            continue
        c = comments.get(f"{prefix}{k}")
        if c:
            lines.append(f"# {k}: {c}")
        lines.append(f"{k} = {toml_value(v)}")
    return lines + [""]


def detector_toml(s: Suggestion, *, preprocess: dict | None = None, header: str = "") -> str:
    """The detector TOML text ([windows], [train], optional [preprocess]) with comments."""
    w = s.windows.to_dict()
    lines = [f"# Detector config fitted to {s.facts.describe()}"]
    if header:
        lines += [f"# {h}" for h in header.splitlines()]
    lines += ["# Window counts per split with these settings: " + "; ".join(
        f"{k} {v['normal']} normal / {v['seismic']} seismic" for k, v in s.counts.items())]
    if s.counts_by_rule:
        lines.append("# Window counts by label rule (normal / seismic in train, val, test) "
                     "with this lead and split layout:")
        lines += [f"#   {n}: " + ", ".join(f"{v['normal']}/{v['seismic']}" for v in c.values())
                  for n, c in s.counts_by_rule.items()]
    lines.append("# Seismic windows by target event (train, val, test):" if s.targets else
                 "# No target event labels a seismic window")
    lines += [f"#   {t['event_id']} ({t['time'][:10]}, M{t['magnitude']:g}, "
              f"{t['distance_km']:.0f} km): " + ", ".join(map(str, t["windows"].values()))
              for t in s.targets]
    lines += [f"# WARNING: {x}" for x in s.warnings]
    lines.append("")
    lines += _table("windows", w, s.comments)
    lines += _table("train", s.train, s.comments)
    if preprocess:
        lines += ["# steps run in the order despike, gaps, filter, resample, night, "
                  "regression, scale"]
        lines += _table("preprocess", {k: v for k, v in preprocess.items()
                                       if not isinstance(v, dict)}, {})
        lines.pop()
        for k, v in preprocess.items():
            if isinstance(v, dict):
                lines.append(f"{k} = {toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


def protocol_toml(s: Suggestion) -> str:
    """The protocol TOML text with comments (fields absent keep the packaged defaults)."""
    p = dict(s.protocol)
    lines = [f"# geoanom test protocol fitted to {s.facts.describe()}",
             "# Fields not written here keep the packaged defaults "
             "(geoanom docs protocol).", "", f"alpha = {toml_value(p.pop('alpha'))}", ""]
    for name, d in p.items():
        lines += _table(name, d, s.comments, prefix=f"{name}.")
        if name in ("lead",):
            lines.insert(len(lines) - len(d) - 1, f"# {s.comments.get('lead', '')}")
    return "\n".join(lines)


def write_configs(s: Suggestion, folder: str | Path, *, preprocess: dict | None = None,
                  header: str = "") -> tuple[Path, Path]:
    """Write ``detector.toml`` and ``protocol.toml`` into ``folder`` (atomically).

    Both files are read back with the package's own readers before they are renamed into
    place, so a file written here always loads.
    """
    from geoanom._atomic import atomic_write_text
    from geoanom.stats.protocol import load_protocol

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    det, pro = d / "detector.toml", d / "protocol.toml"
    det_text = detector_toml(s, preprocess=preprocess, header=header)
    pro_text = protocol_toml(s)
    # check before writing: the readers must accept what we write
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pt = Path(tmp) / "protocol.toml"
        pt.write_text(pro_text, encoding="utf-8")
        load_protocol(pt)
        dt = Path(tmp) / "detector.toml"
        dt.write_text(det_text, encoding="utf-8")
        read_detector_tables(dt)
    atomic_write_text(det, det_text)
    atomic_write_text(pro, pro_text)
    return det, pro


# --------------------------------------------------------------------------------------------
# refusing settings the record cannot satisfy


def _suggest_hint(record: xr.Dataset, catalog: pd.DataFrame | None, keys: list[str]) -> str:
    if catalog is None:
        return ""
    try:
        s = suggest_configs(record, catalog)
    except GeoanomError:
        return ""
    w = s.windows.to_dict()
    parts = [f"{k} = {toml_value(w[k])}" for k in keys if k in w]
    return ("; values that fit this record: [windows] " + ", ".join(parts) +
            " (geoanom config suggest writes them all)")


def check_windows_fit(record: xr.Dataset, catalog: pd.DataFrame, wcfg, *, path=None) -> None:
    """Refuse window settings this record cannot satisfy, before anything is built.

    Checks, from the span alone: the embargo between consecutive splits must fit in the
    record with room for windows on both sides. The error names the settings and gives
    values fitted to the record (:func:`suggest_configs`).
    """
    f = record_facts(record)
    span = f.span_days
    fr = wcfg.split_fractions
    emb = wcfg.embargo_resolved_days
    length_d = wcfg.window_length_s / _DAY_S
    gaps = sum(1 for x in fr[1:] if x > 0)
    need = gaps * emb + (1 + gaps) * length_d
    train_span = fr[0] * span
    if span < need or train_span < emb + length_d:
        keys = ["window_length_s", "stride_s", "lead_days", "buffer_days",
                "post_event_exclusion_days", "split_fractions", "decluster"]
        raise ConfigError(
            f"the record spans {span:.1f} days, too short for these window settings: the "
            f"embargo between splits (window {length_d:g} d + lead max "
            f"{wcfg.label_rule.lead_days[1]:g} d + buffer {wcfg.label_rule.buffer_days:g} d = "
            f"{emb:g} d) leaves the {fr[0]:g} training share "
            f"({train_span:.1f} d) without a whole window" +
            _suggest_hint(record, catalog, keys), path=path,
            expected=f"a record longer than about {need + length_d:.0f} days, or shorter "
                     "lead_days, buffer_days and window_length_s",
            found=f.describe())


def explain_window_counts(ws: xr.Dataset, record: xr.Dataset, catalog: pd.DataFrame, wcfg,
                          *, path=None, need_seismic: bool = False) -> None:
    """Refuse a window set without normal training windows (or, with ``need_seismic``, as
    negative learning needs, without seismic ones), naming what to change."""
    c = _counts(ws)
    if need_seismic and c["train"]["normal"] > 0 and c["train"]["seismic"] == 0:
        keys = ["lead_days", "split_fractions", "decluster", "m_min"]
        raise ConfigError(
            "the window set has no seismic training windows, which negative learning needs "
            f"(no window of the training split ends {wcfg.label_rule.lead_days[0]:g}-"
            f"{wcfg.label_rule.lead_days[1]:g} d before a seen target of M >= "
            f"{wcfg.label_rule.m_min:g}; [train] "
            "lam = 0 trains the plain autoencoder instead)" +
            _suggest_hint(record, catalog, keys), path=path,
            expected="seismic training windows",
            found="; ".join(f"{k} {v['normal']} normal / {v['seismic']} seismic"
                            for k, v in c.items()))
    if c["train"]["normal"] > 0:
        return
    keys = ["lead_days", "buffer_days", "post_event_exclusion_days", "normal_margin_magnitude",
            "split_fractions", "decluster"]
    raise ConfigError(
        "the window set has no normal training windows: every training window lies within "
        f"lead max + buffer ({wcfg.label_rule.lead_days[1]:g} + "
        f"{wcfg.label_rule.buffer_days:g} d) before, or "
        f"{wcfg.label_rule.post_event_exclusion_days:g} d after, an event of M >= "
        f"{wcfg.label_rule.m_min - wcfg.label_rule.normal_margin_magnitude:g} the station sees" +
        _suggest_hint(record, catalog, keys), path=path,
        expected="normal training windows",
        found="; ".join(f"{k} {v['normal']} normal / {v['seismic']} seismic"
                        for k, v in c.items()))


def protocol_fit_error(scores: xr.Dataset, protocol, *, path=None,
                       force: bool = False) -> ConfigError | None:
    """A ConfigError when the scores span too few bins for the protocol's surrogates, else
    None. The circular-shift null needs more than ``2 * (lead max in bins + 1) - 1`` bins.
    ``force``: always return the error (the surrogates found the record too short)."""
    s = (scores["start"].values.astype("datetime64[ns]") if "start" in scores else
        scores["end"].values.astype("datetime64[ns]"))
    e = scores["end"].values.astype("datetime64[ns]")
    span = (e.max() - s.min()) / np.timedelta64(1, "s") / _DAY_S
    bd = float(protocol.binning_bin_days)
    lmax = float(protocol.target.lead_days[1])
    n_bins = int(math.ceil(span / bd))
    lmax_bins = int(math.ceil(lmax / bd))
    need = 2 * (lmax_bins + 1)
    if n_bins >= need and not force:
        return None
    good_lmax = float(_nice(max(span / 30.0, bd)))
    good_bin = float(min(bd, max(0.25, _nice(good_lmax / 4))))
    return ConfigError(
        f"the scores span {span:.1f} days = {n_bins} bins of {bd:g} d: too short for "
        f"surrogates with [lead] max_days = {lmax:g} (needs at least {need} bins); values "
        f"that fit: [lead] min_days = {_nice(good_lmax / 4):g}, max_days = {good_lmax:g}, "
        f"post_event_exclusion_days = {good_lmax:g}; [binning] bin_days = {good_bin:g}; "
        "[surrogates] method = \"uniform\" (geoanom config suggest writes a fitted "
        "protocol.toml)", path=path,
        expected=f"at least {need} bins", found=f"{n_bins} bins")


def find_config(name: str, explicit, near: list[str] | tuple[str, ...] = ()) -> Path | None:
    """The config file to use, in one order of precedence: ``explicit`` if given, else
    ``<name>`` beside the first of ``near`` (the record or scores the command reads), else
    ``./<name>`` in the current folder, else None.

    The file beside the data wins over one in the current folder, so a config left behind
    by an earlier run elsewhere never overrides the one written with the data.
    """
    if explicit is not None:
        return Path(explicit)
    for p in near[:1]:
        cand = Path(p).parent / name
        if cand.is_file():
            return cand
    here = Path.cwd() / name
    if here.is_file():
        return Path(name)
    return None
