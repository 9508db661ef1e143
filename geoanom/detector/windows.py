"""Windows, labels and leakage-safe splits: from a clean record and a catalog to a window set.

The window set (DESIGN.md, "data model") is an ``xarray.Dataset`` with dims
``(window, step, component)``:

* ``data`` (float32, window x step x component): the samples, robust-scaled with a
  :class:`~geoanom.detector.preprocess.RobustScaler` fitted on the *train* windows only; 0.0 where
  invalid. Before :func:`apply_window_scaler` (the output of :func:`make_windows`) ``data``
  is float64 in the record's units and ``attrs["scaler"]`` is absent.
* ``valid`` (bool, window x step x component): the sample was observed (flag valid, finite).
* coords ``component`` (names) and ``step`` (0..n-1).
* per window: ``start``, ``end`` (UTC ``datetime64[ns]``; ``end`` is the time of the last
  sample plus one sampling period, so a window covers ``[start, end)``), ``label`` (int8: 1
  seismic, 0 normal, -1 excluded), ``event_id`` and ``sequence_id`` (str, "" when none),
  ``distance_km``, ``magnitude``, ``lead_days`` (float64, NaN when none; ``lead_days`` is the
  event origin time minus the window end), ``split`` ("train", "val", "test", or "gap" for
  windows inside an embargo gap) and ``valid_fraction``.
* attrs ``iaga_code``, ``latitude_deg``, ``longitude_deg``, ``sampling_period_s``,
  ``window_length_s``, ``stride_s``, ``config`` (canonical JSON of :class:`WindowConfig`),
  ``scaler`` (JSON of ``RobustScaler.to_dict()``, ``fitted_on="train"``), ``history``.

Choices METHODS.md section 1 leaves open, made here (each one a :class:`WindowConfig` field):

* **Window grid.** Windows start at the record's first sample and every ``stride_s`` after;
  a window is kept only if *every* component has at most ``max_missing_fraction`` of its
  samples missing (others are dropped: nothing can be learnt from or scored on them).
  :func:`window_grid` and :func:`window_is_valid` are that grid and that rule; the scorer
  (:mod:`geoanom.detector.score`) and the baselines use the same two functions, so no window training
  refused is ever scored.
  ``valid_fraction`` is the share of valid samples over all steps and components.
* **Seismic** (label 1): the window end ``e`` satisfies ``lead_min <= t - e <= lead_max`` (days,
  both inclusive) for a *target* event at time ``t``: ``M >= m_min``, depth ``<= max_depth_km``
  (unknown depth passes: catalogs without depth, e.g. EarthquakeNPP, would otherwise have no
  targets), a mainshock after declustering (from the past only, unless
  ``decluster_foreshocks``), and seen (great-circle distance ``<= R(M)``, Dobrovolsky
  ``10 ** (0.43 M)`` km, or a fixed radius; or the rule of ``detectability``,
  :mod:`geoanom.labels`). When several target events qualify,
  the window carries the **nearest in time** (smallest lead; ties: larger magnitude, then
  smaller event id), because that is the event whose precursor, if any, is closest.
* **Normal** (label 0): no *blocking* event with origin time in
  ``[start - post_event_exclusion_days, end + lead_max + buffer_days]``. Blocking events are all
  seen events with ``M >= m_min - normal_margin_magnitude`` (default 4.5; with
  ``normal_rule = "detectable"``, ``M >= m_min``), with **no** depth cut
  and **no** declustering (aftershocks block too): a normal window must be clean, so the
  doubtful cases go to "excluded". The interval joins the two rules of METHODS.md: no such
  event within ``lead_max + buffer`` days after the window (or inside it), and the window
  does not overlap the ``post_event_exclusion_days`` after one. ``buffer_days`` defaults to 5:
  a window ending 30 to 35 days before an event is neither in the lead window nor clearly
  far from it. With ``require_catalog_coverage`` (default) a window is normal only if that
  interval lies inside the span of the catalog (first to last event time), since a catalog
  that ends cannot vouch for the quiet after its end.
* Everything else is **excluded** (-1).
* **Splits** are chronological by time. With ``T0`` the first window start and ``T1`` the last
  window end, the boundaries are ``b_val = T0 + f_train (T1 - T0)`` and
  ``b_test = T0 + (f_train + f_val) (T1 - T0)``. A window is *test* if it starts at or after
  ``b_test`` (so the test period is exactly the last ``f_test`` of the span, as PROTOCOL.md
  asks); *val* if it starts at or after ``b_val`` and ends at least the embargo before
  ``b_test``; *train* if it ends at least the embargo before ``b_val``; otherwise *gap*. The
  gap is taken from the end of the earlier split. The embargo (``embargo_days``; default
  window length + ``lead_max`` + ``buffer_days``, never less than window length + ``lead_max``)
  is measured from the end of the last window of one split to the start of the first window
  of the next, so no label of an earlier split depends on an event at a time the next split's
  windows cover.
* **Grouping by sequence.** If a sequence still sits in two splits (it cannot with a valid
  embargo, but a hand-made catalog can give two target events one ``sequence_id``), the
  sequence stays in the split of its latest window and its windows elsewhere become "gap".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.lib.stride_tricks import sliding_window_view

from geoanom._time import NS_PER_DAY, S_PER_DAY
from geoanom.catalog_frame import validate_catalog
from geoanom.decluster import METHODS as DECLUSTER_METHODS
from geoanom.detector.preprocess import RobustScaler
from geoanom.errors import ConfigError, LeakageError, NoValidWindowError, ValidationError
from geoanom.labels import DETECTABILITY, NORMAL_RULES, LabelRule, window_labels
from geoanom.provenance import canonical_json, config_hash
from geoanom.record import (
    FLAG_VALID,
    component_names,
    history_line,
    validate_record,
)

__all__ = [
    "WindowConfig",
    "SPLITS",
    "make_windows",
    "label_windows",
    "split_windows",
    "fit_window_scaler",
    "apply_window_scaler",
    "WindowGrid",
    "window_grid",
    "sample_valid",
    "window_is_valid",
    "valid_fraction",
    "scale_samples",
    "build_window_set",
    "labelled_windows",
    "finish_window_set",
    "check_no_leakage",
    "validate_window_set",
    "label_counts",
]

#: Split names, in chronological order; "gap" marks windows inside an embargo gap.
SPLITS = ("train", "val", "test")
SPLIT_VALUES = (*SPLITS, "gap", "")

_DAY_NS = NS_PER_DAY


def _days_ns(days: float) -> int:
    return int(round(float(days) * _DAY_NS))


def _s_ns(seconds: float) -> int:
    return int(round(float(seconds) * 1e9))


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class WindowConfig:
    """Everything that decides windows, labels and splits (METHODS.md section 1).

    Parameters
    ----------
    window_length_s, stride_s
        Window length and stride in seconds (multiples of the record's sampling period).
    max_missing_fraction
        A window is kept only if every component has at most this share of samples missing.
    components
        Components to window, in this order (``None``: all of the record's).
    label_rule
        THE label rule (:class:`geoanom.labels.LabelRule`: target magnitude, depth and
        radius, lead, buffer, normal margin, post-event exclusion, catalog coverage,
        declustering). In :meth:`to_dict`, :meth:`from_dict` and the ``[windows]`` table its
        fields stand flat beside the others (``m_min``, ``lead_days``, ..., ``decluster``).
    split_fractions
        ``(train, val, test)`` shares of the time span, chronological; they sum to 1.
    embargo_days
        Gap between consecutive splits (window end to next window start), in days; ``None``:
        window length + ``lead_max`` + ``buffer_days``. Must be at least window length +
        ``lead_max``; below the default, the normal labels of the last windows of a split
        look up to ``buffer_days`` into the time the next split covers.
    """

    window_length_s: float = 86_400.0
    stride_s: float = 21_600.0
    max_missing_fraction: float = 0.1
    components: tuple[str, ...] | None = None
    label_rule: LabelRule = field(default_factory=LabelRule)
    split_fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
    embargo_days: float | None = None

    def __post_init__(self) -> None:
        # normalise sequences to tuples so that equality, hashing and JSON are stable
        if self.components is not None:
            object.__setattr__(self, "components", tuple(str(c) for c in self.components))
        object.__setattr__(self, "split_fractions",
                           tuple(float(v) for v in self.split_fractions))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~geoanom.errors.ConfigError` if the configuration is unusable."""
        def bad(what: str, expected: str, found: object) -> ConfigError:
            return ConfigError(f"window config: {what}", expected=expected, found=str(found))

        if not (self.window_length_s > 0):
            raise bad("window_length_s", "> 0 seconds", self.window_length_s)
        if not (self.stride_s > 0):
            raise bad("stride_s", "> 0 seconds", self.stride_s)
        if not (0.0 <= self.max_missing_fraction < 1.0):
            raise bad("max_missing_fraction", "0 <= value < 1", self.max_missing_fraction)
        rule = self.label_rule
        if len(rule.lead_days) != 2 or not (0 <= rule.lead_days[0] <= rule.lead_days[1]):
            raise bad("lead_days", "(lead_min, lead_max) with 0 <= lead_min <= lead_max",
                      rule.lead_days)
        if isinstance(rule.radius, str):
            if rule.radius != "dobrovolsky":
                raise bad("radius", "'dobrovolsky' or a radius in km", rule.radius)
        elif not (rule.radius > 0):
            raise bad("radius", "a positive radius in km", rule.radius)
        if rule.detectability not in DETECTABILITY:
            raise bad("detectability", ", ".join(DETECTABILITY), rule.detectability)
        if rule.detectability != "dobrovolsky" and rule.radius != "dobrovolsky":
            raise bad("radius", f"'dobrovolsky' with detectability {rule.detectability!r} "
                      "(a fixed radius needs detectability 'dobrovolsky')", rule.radius)
        if not (rule.ks_threshold > 0):
            raise bad("ks_threshold", "> 0", rule.ks_threshold)
        if rule.normal_rule not in NORMAL_RULES:
            raise bad("normal_rule", ", ".join(NORMAL_RULES), rule.normal_rule)
        for name in ("buffer_days", "post_event_exclusion_days", "normal_margin_magnitude"):
            if not (getattr(rule, name) >= 0):
                raise bad(name, ">= 0", getattr(rule, name))
        fr = self.split_fractions
        if len(fr) != 3 or any(not (f >= 0) for f in fr) or abs(sum(fr) - 1.0) > 1e-9:
            raise bad("split_fractions", "(train, val, test) >= 0 summing to 1", fr)
        if fr[0] <= 0:
            raise bad("split_fractions", "a positive train share", fr)
        floor = self.window_length_s / S_PER_DAY + rule.lead_days[1]
        if self.embargo_days is not None and not (self.embargo_days >= floor - 1e-12):
            raise bad("embargo_days", f">= window length + lead_max = {floor:g} days",
                      self.embargo_days)
        if rule.decluster not in DECLUSTER_METHODS:
            raise bad("decluster", ", ".join(DECLUSTER_METHODS), rule.decluster)

    @property
    def embargo_resolved_days(self) -> float:
        """The embargo gap in days (the default filled in)."""
        if self.embargo_days is not None:
            return float(self.embargo_days)
        rule = self.label_rule
        return self.window_length_s / S_PER_DAY + rule.lead_days[1] + rule.buffer_days

    @classmethod
    def flat_keys(cls) -> tuple[str, ...]:
        """The flat keys of :meth:`to_dict` (and of the ``[windows]`` table), in order."""
        return tuple(cls().to_dict())

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict (tuples become lists; the label rule's fields inline);
        :meth:`from_dict` inverts it."""
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "label_rule":
                d.update(v.to_dict())
            else:
                d[f.name] = list(v) if isinstance(v, tuple) else v
        # the declustering keys stand last: the order of the [windows] tables written
        for k in ("decluster", "decluster_foreshocks"):
            d[k] = d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowConfig:
        """Rebuild from :meth:`to_dict` output (keys may be missing: defaults); unknown keys
        raise ConfigError."""
        names = set(cls.flat_keys())
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError("unknown window config keys", expected=", ".join(sorted(names)),
                              found=", ".join(unknown))
        own = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in own}
        for k in ("components", "split_fractions"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        return cls(**kw, label_rule=LabelRule.from_dict(d))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace) of :meth:`to_dict`."""
        return canonical_json(self.to_dict())


# --------------------------------------------------------------------------------------------
# window set helpers


def _ws_times(ws: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    s = ws["start"].values.astype("datetime64[ns]").astype(np.int64)
    e = ws["end"].values.astype("datetime64[ns]").astype(np.int64)
    return s, e


def _iso(t_ns: int) -> str:
    return str(np.array(t_ns, np.int64).astype("datetime64[ns]"))


def _add_history(ws: xr.Dataset, step: str) -> None:
    prev = ws.attrs.get("history", "")
    ws.attrs["history"] = (prev + "\n" if prev else "") + history_line(step)


def _config_of(ws: xr.Dataset) -> dict[str, Any]:
    raw = ws.attrs.get("config", "{}")
    try:
        return json.loads(raw) if isinstance(raw, str) else dict(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError("window set attr 'config' is not JSON", found=str(raw)) from exc


def validate_window_set(ws: xr.Dataset) -> xr.Dataset:
    """Check ``ws`` against the window-set contract; return it or raise ValidationError."""
    if not isinstance(ws, xr.Dataset):
        raise ValidationError("a window set must be an xarray.Dataset", found=type(ws).__name__)
    need = ("data", "valid", "start", "end", "label", "event_id", "sequence_id", "distance_km",
            "magnitude", "lead_days", "split", "valid_fraction")
    missing = [v for v in need if v not in ws.variables]
    if missing:
        raise ValidationError("window set lacks variables", expected=", ".join(need),
                              found="missing " + ", ".join(missing))
    if ws["data"].dims != ("window", "step", "component") or ws["valid"].dims != ws["data"].dims:
        raise ValidationError("window set data must have dims (window, step, component)",
                              found=str(ws["data"].dims))
    if ws["valid"].dtype != bool:
        raise ValidationError("window set 'valid' must be bool", found=str(ws["valid"].dtype))
    lab = ws["label"].values
    if lab.size and not np.isin(lab, (-1, 0, 1)).all():
        raise ValidationError("window labels must be -1, 0 or 1",
                              found=str(np.unique(lab).tolist()))
    sp = ws["split"].values.astype(str)
    bad = ~np.isin(sp, SPLIT_VALUES)
    if bad.any():
        raise ValidationError("unknown split name", expected=", ".join(SPLIT_VALUES[:-1]),
                              found=str(sp[bad][0]))
    s, e = _ws_times(ws)
    if s.size > 1 and np.any(np.diff(s) <= 0):
        raise ValidationError("window starts must be strictly increasing")
    if np.any(e <= s):
        raise ValidationError("every window must end after it starts")
    return ws


def label_counts(ws: xr.Dataset) -> dict[str, int]:
    """Counts of seismic, normal and excluded windows."""
    lab = ws["label"].values
    return {"seismic": int(np.sum(lab == 1)), "normal": int(np.sum(lab == 0)),
            "excluded": int(np.sum(lab == -1))}


# --------------------------------------------------------------------------------------------
# the window grid, the validity rule and the scaling (used by training and by scoring)


@dataclass(frozen=True)
class WindowGrid:
    """Where the windows of a record lie, in samples.

    Window ``i`` covers samples ``[i * stride, i * stride + length)``: windows start at the
    record's first sample and every ``stride`` samples after it, and must fit entirely in the
    record. ``period_s`` is the sampling period in seconds.
    """

    n_windows: int
    length: int
    stride: int
    period_s: float

    def first_samples(self) -> np.ndarray:
        """Index of the first sample of every window (int64, ``(n_windows,)``)."""
        return np.arange(self.n_windows, dtype=np.int64) * self.stride


def window_grid(n_samples: int, period_s: float, length_s: float,
                stride_s: float) -> WindowGrid:
    """THE window grid of a record of ``n_samples`` samples every ``period_s`` seconds.

    Parameters
    ----------
    n_samples
        Samples in the record.
    period_s
        Sampling period, seconds.
    length_s, stride_s
        Window length and stride, seconds; positive whole multiples of ``period_s``.

    Returns
    -------
    WindowGrid
        Window count, length and stride in samples.

    Raises
    ------
    ValidationError
        ``period_s`` is not a positive finite number.
    ConfigError
        The length or stride is not a positive whole number of samples.
    """
    period = float(period_s)
    if not np.isfinite(period) or period <= 0:
        raise ValidationError("record has no usable sampling_period_s", found=str(period_s))
    sizes = []
    for what, secs in (("length", float(length_s)), ("stride", float(stride_s))):
        n = secs / period
        if not np.isfinite(n) or abs(n - round(n)) > 1e-9 or round(n) < 1:
            raise ConfigError(f"window {what} must be a positive multiple of the sampling "
                              "period", expected=f"a multiple of {period:g} s",
                              found=f"{secs:g} s")
        sizes.append(int(round(n)))
    L, S = sizes
    n = int(n_samples)
    return WindowGrid(0 if n < L else (n - L) // S + 1, L, S, period)


def sample_valid(values: np.ndarray, flags: np.ndarray | None = None) -> np.ndarray:
    """THE per-sample validity rule: the value is finite and (when flags are given) its flag
    is :data:`~geoanom.record.FLAG_VALID`. Same shape as ``values``."""
    ok = np.isfinite(np.asarray(values, dtype=np.float64))
    if flags is not None:
        ok &= np.asarray(flags) == FLAG_VALID
    return ok


def window_is_valid(n_valid: np.ndarray, length: int,
                    max_missing_fraction: float | None) -> np.ndarray:
    """THE window validity rule: a window is usable only if *every* component has at most
    ``max_missing_fraction`` of its ``length`` samples missing.

    Training keeps only such windows (:func:`make_windows`) and scoring scores only such
    windows (:mod:`geoanom.detector.score`), so no window the model refused is scored or tested.

    Parameters
    ----------
    n_valid
        Valid samples per window and component, ``(n_windows, n_components)``.
    length
        Samples per window.
    max_missing_fraction
        Largest share of missing samples a component may have (``None``: every window is
        usable).

    Returns
    -------
    numpy.ndarray
        Boolean ``(n_windows,)``.
    """
    n_valid = np.asarray(n_valid)
    if max_missing_fraction is None:
        return np.ones(n_valid.shape[0], bool)
    miss = 1.0 - n_valid / float(length)
    return np.all(miss <= float(max_missing_fraction) + 1e-12, axis=1)


def valid_fraction(n_valid: np.ndarray, length: int) -> np.ndarray:
    """Share of valid samples over all steps and components of each window (float64)."""
    n_valid = np.asarray(n_valid)
    if n_valid.shape[0] == 0:
        return np.zeros(0, np.float64)
    return n_valid.sum(axis=1) / float(length * n_valid.shape[1])


def scale_samples(values: np.ndarray, valid: np.ndarray, scaler: RobustScaler) -> np.ndarray:
    """THE scaling of samples for the model: ``scaler.transform`` in float64, 0.0 where
    invalid, returned as float32 (what the network sees, in training and in scoring)."""
    return np.where(valid, scaler.transform(values), 0.0).astype(np.float32)


# --------------------------------------------------------------------------------------------
# windows


def make_windows(
    record: xr.Dataset,
    *,
    length_s: float,
    stride_s: float,
    max_missing_fraction: float,
    components: list[str] | tuple[str, ...] | None = None,
) -> xr.Dataset:
    """Cut a record into fixed-length windows (unscaled, unlabelled, unsplit).

    Parameters
    ----------
    record
        Station record (:mod:`geoanom.record`), regular cadence.
    length_s, stride_s
        Window length and stride in seconds; both multiples of ``sampling_period_s``.
    max_missing_fraction
        Windows where any component misses more than this share of samples are dropped.
    components
        Components to keep, in this order (default: all).

    Returns
    -------
    xarray.Dataset
        Window set with ``data`` float64 in the record's units (0.0 where invalid), labels -1,
        splits "", no ``scaler`` attr.
    """
    validate_record(record)
    period = float(record.attrs["sampling_period_s"])
    comps = component_names(record) if components is None else [str(c) for c in components]
    if not comps:
        raise ValidationError("no components to window", expected="at least one component")
    absent = [c for c in comps if c not in component_names(record)]
    if absent:
        raise ValidationError("record lacks components", expected=", ".join(comps),
                              found="components " + ", ".join(component_names(record)))
    if not (0.0 <= max_missing_fraction < 1.0):
        raise ConfigError("max_missing_fraction", expected="0 <= value < 1",
                          found=str(max_missing_fraction))
    t = record["time"].values.astype("datetime64[ns]").astype(np.int64)
    grid = window_grid(t.size, period, length_s, stride_s)
    L, S, n_all = grid.length, grid.stride, grid.n_windows
    first = grid.first_samples()

    # validity per sample and component; valid counts per window from cumulative sums,
    # so the boolean mask is never windowed before we know which windows survive
    valid = np.stack([sample_valid(record[c].values, record[f"{c}_flag"].values)
                      for c in comps], axis=-1)
    cs = np.concatenate([np.zeros((1, len(comps)), np.int64),
                         np.cumsum(valid, axis=0, dtype=np.int64)])
    n_valid = cs[first + L] - cs[first] if n_all else np.zeros((0, len(comps)), np.int64)
    keep = window_is_valid(n_valid, L, max_missing_fraction)
    first = first[keep]
    n_valid = n_valid[keep]
    W = first.size

    # strided views (no copy) indexed by the kept window starts: one copy per output array
    values = np.stack([np.where(valid[:, i], record[c].values, 0.0) for i, c in enumerate(comps)],
                      axis=-1)
    if W:
        v_view = sliding_window_view(values, L, axis=0)  # (n - L + 1, C, L)
        m_view = sliding_window_view(valid, L, axis=0)
        data = np.ascontiguousarray(v_view[first].transpose(0, 2, 1), dtype=np.float64)
        vmask = np.ascontiguousarray(m_view[first].transpose(0, 2, 1))
    else:
        data = np.zeros((0, L, len(comps)), np.float64)
        vmask = np.zeros((0, L, len(comps)), bool)
    period_ns = _s_ns(period)
    start = t[first]
    end = t[first + L - 1] + period_ns
    vf = valid_fraction(n_valid, L)

    ws = xr.Dataset(
        {
            "data": (("window", "step", "component"), data),
            "valid": (("window", "step", "component"), vmask),
            "start": ("window", start.astype("datetime64[ns]")),
            "end": ("window", end.astype("datetime64[ns]")),
            "label": ("window", np.full(W, -1, np.int8)),
            "event_id": ("window", np.full(W, "", dtype=object)),
            "sequence_id": ("window", np.full(W, "", dtype=object)),
            "distance_km": ("window", np.full(W, np.nan)),
            "magnitude": ("window", np.full(W, np.nan)),
            "lead_days": ("window", np.full(W, np.nan)),
            "split": ("window", np.full(W, "", dtype=object)),
            "valid_fraction": ("window", vf.astype(np.float64)),
        },
        coords={"component": ("component", np.array(comps, dtype=object)),
                "step": ("step", np.arange(L, dtype=np.int64))},
    )
    for k, u in (("start", "UTC, inclusive"), ("end", "UTC, exclusive")):
        ws[k].attrs["comment"] = u
    ws["label"].attrs.update(flag_values=np.array([-1, 0, 1], np.int8),
                             flag_meanings="excluded normal seismic")
    ws["distance_km"].attrs["units"] = "km"
    ws["lead_days"].attrs.update(units="days", comment="event origin time minus window end")
    ws["data"].attrs["units"] = ",".join(str(record[c].attrs.get("units", "")) for c in comps)
    ws.attrs = {
        "iaga_code": str(record.attrs.get("iaga_code", "UNK")),
        "latitude_deg": float(record.attrs.get("latitude_deg", np.nan)),
        "longitude_deg": float(record.attrs.get("longitude_deg", np.nan)),
        "sampling_period_s": period,
        "window_length_s": float(L * period),
        "stride_s": float(S * period),
        "config": canonical_json({"window_length_s": float(L * period),
                                  "stride_s": float(S * period),
                                  "max_missing_fraction": float(max_missing_fraction),
                                  "components": list(comps)}),
        "history": str(record.attrs.get("history", "")),
    }
    _add_history(ws, f"make_windows(length_s={L * period:g}, stride_s={S * period:g}, "
                     f"max_missing_fraction={max_missing_fraction:g}, components={comps}): "
                     f"{W} of {n_all} windows kept")
    return ws


# --------------------------------------------------------------------------------------------
# labels


def label_windows(
    ws: xr.Dataset,
    catalog: pd.DataFrame,
    *,
    station_lat: float,
    station_lon: float,
    config: WindowConfig,
) -> xr.Dataset:
    """Label windows seismic (1), normal (0) or excluded (-1) per METHODS.md section 1.

    Parameters
    ----------
    ws
        Window set from :func:`make_windows` (labels are recomputed from scratch).
    catalog
        Catalog frame (:mod:`geoanom.catalog_frame`); a ``mainshock`` column is used as
        given, else its events of ``M >= m_min`` are declustered with
        ``config.label_rule.decluster`` (the scope of :func:`geoanom.labels.declustered`, the
        same as ``geoanom test``'s).
    station_lat, station_lon
        Station geodetic coordinates, degrees.
    config
        Label rules (see the module docstring for the choices made).

    Returns
    -------
    xarray.Dataset
        A copy with ``label``, ``event_id``, ``sequence_id``, ``distance_km``, ``magnitude`` and
        ``lead_days`` filled in.
    """
    validate_window_set(ws)
    validate_catalog(catalog)
    if not (np.isfinite(station_lat) and np.isfinite(station_lon)):
        raise ValidationError("station coordinates are needed to label windows",
                              expected="finite latitude_deg and longitude_deg",
                              found=f"{station_lat}, {station_lon}")
    # THE label rule and its declustering scope live in geoanom.labels
    lab = window_labels(*_ws_times(ws), catalog, station_lat, station_lon,
                        config.label_rule)
    cat, declustering, target = lab.catalog, lab.declustering, lab.target
    mag, dist = cat["magnitude"].to_numpy(float), lab.distance_km
    ids = cat["event_id"].astype(str).to_numpy()
    seq = cat["sequence_id"].astype(str).to_numpy()
    W = lab.label.size
    seismic = lab.event >= 0
    label = lab.label
    k = lab.event[seismic]
    out = ws.copy()
    out.attrs = dict(ws.attrs)
    out["label"] = ("window", label, ws["label"].attrs)
    ev = np.full(W, "", dtype=object)
    sq = np.full(W, "", dtype=object)
    ev[seismic] = ids[k]
    sq[seismic] = seq[k]
    out["event_id"] = ("window", ev)
    out["sequence_id"] = ("window", sq)
    for name, src in (("distance_km", dist), ("magnitude", mag)):
        v = np.full(W, np.nan)
        v[seismic] = src[k]
        out[name] = ("window", v, ws[name].attrs)
    lead_d = np.full(W, np.nan)
    lead_d[seismic] = lab.lead_ns[seismic] / _DAY_NS
    out["lead_days"] = ("window", lead_d, ws["lead_days"].attrs)
    cfg = _config_of(ws)
    cfg.update(config.to_dict())
    out.attrs["config"] = canonical_json(cfg)
    out.attrs["declustering"] = declustering
    if declustering == "none":
        out.attrs["declustering_warning"] = "no declustering: aftershocks count as target events"
    out.attrs["catalog_source"] = str(catalog.attrs.get("source", "unknown"))
    # targets that label at least one window, and all seen targets in the catalog
    out.attrs["n_target_events"] = int(np.unique(k).size)
    out.attrs["n_target_events_in_catalog"] = int(target.sum())
    c = label_counts(out)
    _add_history(out, f"label_windows(config {config_hash(config.to_dict())}, declustering="
                      f"{declustering}, {int(np.unique(k).size)} target events label windows): "
                      f"{c['seismic']} seismic, {c['normal']} normal, {c['excluded']} excluded")
    return out


# --------------------------------------------------------------------------------------------
# splits


def split_windows(ws: xr.Dataset, *, config: WindowConfig) -> xr.Dataset:
    """Assign chronological train/val/test splits with embargo gaps, grouped by sequence.

    Parameters
    ----------
    ws
        Labelled window set.
    config
        ``split_fractions`` and ``embargo_days`` are used (see the module docstring).

    Returns
    -------
    xarray.Dataset
        A copy with ``split`` set to "train", "val", "test" or "gap".
    """
    validate_window_set(ws)
    s, e = _ws_times(ws)
    W = s.size
    split = np.full(W, "gap", dtype=object)
    if W:
        t0, t1 = int(s.min()), int(e.max())
        span = t1 - t0
        fr = config.split_fractions
        cum = np.cumsum(fr)
        b = [t0] + [t0 + int(round(c * span)) for c in cum[:-1]] + [t1]
        gap = _days_ns(config.embargo_resolved_days)
        for i, name in enumerate(SPLITS):
            if fr[i] <= 0:
                continue
            m = s >= b[i] if i > 0 else np.ones(W, bool)
            if any(f > 0 for f in fr[i + 1:]):
                # the embargo is taken from the end of this split, before the next boundary
                m &= e <= b[i + 1] - gap
            split[m & (split == "gap")] = name
        # grouping: a sequence stays in the split of its latest window
        sq = ws["sequence_id"].values.astype(str)
        moved = 0
        for q in np.unique(sq[(sq != "") & (split != "gap")]):
            idx = np.flatnonzero((sq == q) & (split != "gap"))
            home = split[idx[np.argmax(e[idx])]]
            off = idx[split[idx] != home]
            split[off] = "gap"
            moved += off.size
    else:
        moved = 0
    out = ws.copy()
    out.attrs = dict(ws.attrs)
    out["split"] = ("window", split)
    cfg = _config_of(ws)
    cfg.update(config.to_dict())
    out.attrs["config"] = canonical_json(cfg)
    out.attrs["embargo_days"] = config.embargo_resolved_days
    n = {k: int(np.sum(split == k)) for k in (*SPLITS, "gap")}
    _add_history(out, f"split_windows(fractions={list(config.split_fractions)}, embargo="
                      f"{config.embargo_resolved_days:g} d): " +
                      ", ".join(f"{k} {v}" for k, v in n.items()) +
                      f"; {moved} windows moved to gap to keep sequences in one split")
    return out


# --------------------------------------------------------------------------------------------
# scaling


def fit_window_scaler(ws: xr.Dataset) -> RobustScaler:
    """Fit a :class:`~geoanom.detector.preprocess.RobustScaler` on the valid samples of train windows.

    Samples covered by several overlapping train windows count once per window, exactly as
    the model sees them. Raises ValidationError if there is no valid training sample.
    """
    validate_window_set(ws)
    if ws.attrs.get("scaler"):
        raise ValidationError("window set is already scaled; fit on the unscaled windows",
                              found="attr 'scaler' present")
    train = np.flatnonzero(ws["split"].values.astype(str) == "train")
    comps = tuple(str(c) for c in ws["component"].values)
    if train.size == 0:
        raise ValidationError("no training windows to fit the scaler on (the record may be "
                              "too short for the split fractions and embargo)",
                              expected="windows with split 'train'", found="none")
    x = ws["data"].values[train].astype(np.float64)
    x = np.where(ws["valid"].values[train], x, np.nan)
    return RobustScaler.fit(x, components=comps, fitted_on="train")


def apply_window_scaler(ws: xr.Dataset, scaler: RobustScaler) -> xr.Dataset:
    """Scale ``data`` with ``scaler`` into float32 (0.0 where invalid); set attr ``scaler``."""
    validate_window_set(ws)
    if ws.attrs.get("scaler"):
        raise ValidationError("window set is already scaled", found="attr 'scaler' present")
    comps = tuple(str(c) for c in ws["component"].values)
    if tuple(scaler.components) != comps:
        raise ValidationError("scaler components do not match the window set",
                              expected=", ".join(comps), found=", ".join(scaler.components))
    valid = ws["valid"].values
    z = np.zeros(ws["data"].shape, np.float32)
    # scale in float64 one window block at a time; only the float32 result is kept whole
    block = 4096
    raw = ws["data"].values
    for i in range(0, raw.shape[0], block):
        z[i:i + block] = scale_samples(raw[i:i + block], valid[i:i + block], scaler)
    out = ws.copy()
    out.attrs = dict(ws.attrs)
    out["data"] = (("window", "step", "component"), z,
                   {"units": "1", "scaled_from_units": ws["data"].attrs.get("units", "")})
    out.attrs["scaler"] = json.dumps(scaler.to_dict(), sort_keys=True)
    _add_history(out, f"apply_window_scaler(RobustScaler fitted_on={scaler.fitted_on}, " +
                      ", ".join(f"{c}: center={scaler.center[i]:.6g} scale={scaler.scale[i]:.6g}"
                                for i, c in enumerate(comps)) + ")")
    return out


# --------------------------------------------------------------------------------------------
# all in one


def build_window_set(record: xr.Dataset, catalog: pd.DataFrame,
                     config: WindowConfig | None = None) -> xr.Dataset:
    """Windows, labels, splits and train-fitted scaling in one call.

    Parameters
    ----------
    record
        Clean station record; its ``latitude_deg``/``longitude_deg`` attrs locate the station.
    catalog
        Catalog frame (declustered with ``config.label_rule.decluster`` unless it already
        carries ``mainshock``/``sequence_id``).
    config
        :class:`WindowConfig` (default: METHODS.md section 1 defaults).

    Returns
    -------
    xarray.Dataset
        The window set (contract in the module docstring); it passes :func:`check_no_leakage`.
    """
    cfg = config or WindowConfig()
    return finish_window_set(labelled_windows(record, catalog, cfg), cfg)


def labelled_windows(record: xr.Dataset, catalog: pd.DataFrame,
                     config: WindowConfig) -> xr.Dataset:
    """The first half of :func:`build_window_set`: the record's windows, labelled.

    :func:`make_windows` and :func:`label_windows` with the settings of ``config``; no splits
    and no scaling yet (:func:`finish_window_set` adds them). Callers that place the split
    boundary themselves (the study's rolling origin) use the two halves.

    Parameters
    ----------
    record
        Clean station record; its ``latitude_deg``/``longitude_deg`` attrs locate the station.
    catalog
        Catalog frame (see :func:`label_windows`).
    config
        :class:`WindowConfig`.

    Returns
    -------
    xarray.Dataset
        Labelled windows, every one with ``split = ""``.

    Raises
    ------
    NoValidWindowError
        When the record yields no valid window.
    """
    cfg = config
    ws = make_windows(record, length_s=cfg.window_length_s, stride_s=cfg.stride_s,
                      max_missing_fraction=cfg.max_missing_fraction,
                      components=list(cfg.components) if cfg.components else None)
    if ws.sizes["window"] == 0:
        raise NoValidWindowError("no valid window in the record",
                              expected=f"a window of {cfg.window_length_s:g} s with at most "
                                       f"{cfg.max_missing_fraction:g} of it missing",
                              found="none")
    return label_windows(ws, catalog,
                         station_lat=float(record.attrs.get("latitude_deg", np.nan)),
                         station_lon=float(record.attrs.get("longitude_deg", np.nan)),
                         config=cfg)


def finish_window_set(ws: xr.Dataset, config: WindowConfig) -> xr.Dataset:
    """The second half of :func:`build_window_set`: splits, train-fitted scaling, the config.

    Parameters
    ----------
    ws
        Labelled windows (:func:`labelled_windows`).
    config
        :class:`WindowConfig` whose ``split_fractions`` and embargo place the splits; it is
        stored as the window set's ``config`` attr.

    Returns
    -------
    xarray.Dataset
        The window set; it passes :func:`check_no_leakage`.
    """
    cfg = config
    ws = split_windows(ws, config=cfg)
    ws = apply_window_scaler(ws, fit_window_scaler(ws))
    # the stored config is exactly the WindowConfig (plus nothing make_windows guessed)
    ws.attrs["config"] = cfg.to_json()
    ws.attrs["config_hash"] = config_hash(cfg.to_dict())
    check_no_leakage(ws)
    return ws


# --------------------------------------------------------------------------------------------
# leakage


def check_no_leakage(ws: xr.Dataset, *, verify_scaler: bool = True) -> None:
    """Raise :class:`~geoanom.errors.LeakageError` if the window set could leak the future.

    Checks, in order:

    1. every split name is known, and no ``sequence_id`` sits in two of train/val/test;
    2. all train windows start before every val and test window, and val before test;
    3. between consecutive non-empty splits, the last window of the earlier one ends at least
       the embargo (``embargo_days`` of the stored config, and never less than window length
       + ``lead_max``) before the first window of the later one starts;
    4. attr ``scaler`` exists and says ``fitted_on="train"``, with the window set's components;
    5. with ``verify_scaler``, re-fitting a RobustScaler on the *scaled* valid samples of the
       train windows gives centre 0 and scale 1 (to 1e-3): the scaler really was fitted on
       exactly those samples, not on all data relabelled "train".
    """
    validate_window_set(ws)
    split = ws["split"].values.astype(str)
    unsplit = split == ""
    if unsplit.any():
        raise LeakageError("window set has windows without a split",
                           expected="train, val, test or gap", found=f"{int(unsplit.sum())} "
                           "windows with split ''")
    sq = ws["sequence_id"].values.astype(str)
    in_split = np.isin(split, SPLITS)
    for q in np.unique(sq[(sq != "") & in_split]):
        where = sorted(set(split[(sq == q) & in_split].tolist()), key=SPLITS.index)
        if len(where) > 1:
            raise LeakageError(f"earthquake sequence {q} sits in more than one split",
                               expected="one split per sequence", found=", ".join(where))
    s, e = _ws_times(ws)
    # keys a later version may add do not hide the embargo: read the ones we know
    known = set(WindowConfig.flat_keys())
    cfg_d = {k: v for k, v in _config_of(ws).items() if k in known}
    try:
        cfg = WindowConfig.from_dict(cfg_d)
    except (ConfigError, TypeError) as exc:
        raise LeakageError("window set config cannot be read, so the embargo is unknown",
                           expected="canonical JSON of WindowConfig", found=str(exc)) from exc
    length_d = float(ws.attrs.get("window_length_s", cfg.window_length_s)) / S_PER_DAY
    gap_ns = _days_ns(max(cfg.embargo_resolved_days, length_d + cfg.label_rule.lead_days[1]))
    present = [k for k in SPLITS if np.any(split == k)]
    for i, a in enumerate(present):
        ma = split == a
        for b in present[i + 1:]:
            mb = split == b
            if s[ma].max() >= s[mb].min():
                raise LeakageError(f"{a} windows are not all earlier than {b} windows",
                                   expected=f"every {a} window before every {b} window",
                                   found=f"{a} window starting {_iso(s[ma].max())} after {b} "
                                         f"window starting {_iso(s[mb].min())}")
            if s[mb].min() - e[ma].max() < gap_ns:
                raise LeakageError(
                    f"{b} window inside the embargo gap after the {a} split",
                    expected=f"at least {gap_ns / _DAY_NS:g} days between the last {a} window "
                             f"end and the first {b} window start",
                    found=f"{(s[mb].min() - e[ma].max()) / _DAY_NS:g} days")
    raw = ws.attrs.get("scaler")
    if not raw:
        raise LeakageError("window set has no 'scaler' attr: cannot verify that scaling was "
                           "fitted on training data only", expected="RobustScaler JSON")
    try:
        sc = RobustScaler.from_dict(json.loads(raw) if isinstance(raw, str) else dict(raw))
    except (json.JSONDecodeError, ValidationError, KeyError) as exc:
        raise LeakageError("window set 'scaler' attr cannot be read",
                           expected="RobustScaler JSON", found=str(raw)) from exc
    if sc.fitted_on != "train":
        raise LeakageError("scaler was not fitted on the training split",
                           expected="fitted_on='train'", found=repr(sc.fitted_on))
    comps = tuple(str(c) for c in ws["component"].values)
    if tuple(sc.components) != comps:
        raise LeakageError("scaler components do not match the window set",
                           expected=", ".join(comps), found=", ".join(sc.components))
    if verify_scaler:
        train = np.flatnonzero(split == "train")
        if train.size == 0:
            raise LeakageError("no train windows, yet the scaler says it was fitted on them",
                               expected="windows with split 'train'", found="none")
        z = np.where(ws["valid"].values[train], ws["data"].values[train].astype(np.float64),
                     np.nan)
        try:
            re = RobustScaler.fit(z, components=comps, fitted_on="check")
        except ValidationError as exc:
            raise LeakageError("scaler cannot have been fitted on the train windows: a "
                               "component has no valid train sample") from exc
        if np.any(np.abs(re.center) > 1e-3) or np.any(np.abs(re.scale - 1.0) > 1e-3):
            raise LeakageError(
                "scaled train windows do not have median 0 and robust scale 1: the scaler was "
                "not fitted on exactly the train windows",
                expected="centre 0, scale 1 (to 1e-3)",
                found=f"centre {np.round(re.center, 4).tolist()}, "
                      f"scale {np.round(re.scale, 4).tolist()}")
