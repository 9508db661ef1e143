"""The significance protocol of PROTOCOL.md: a validated TOML file, its hash, and
:func:`run_test`, which computes everything PROTOCOL.md lists under "What it computes".

Definitions (bins are ``bin_days`` long, counted from UTC midnight before the first window):

* per-bin alarm ``a[k]``: the maximum of the window score (``rmse``) over the windows whose
  END falls in bin ``k`` (causal: a window counts once it is complete); optionally only
  windows ending in local night.
* alarm in force at bin ``j``: ``L[j] = max a[j - lead_max .. j - lead_min]`` (bins); every
  window used ends before bin ``j`` starts, so an event's own day never enters its value.
* an independent target event: a declustered mainshock with ``M >= min_magnitude``, depth
  ``<= max_depth_km`` (unknown kept) and epicentral distance ``<= R(M)``; its value is
  ``L[b]`` for its bin ``b``.
* eligible bins: in the test period, ``L`` defined, and not within the post-event exclusion
  after any seen event of ``M >= min_magnitude`` (aftershocks included).
* primary statistic: AUC of the eligible events' values against all eligible bins' values,
  which is the Molchan area skill score of ``L`` on the test period (ASS = AUC).
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geoanom._progress import Progress
from geoanom.errors import ConfigError, FormatError, ValidationError
from geoanom.provenance import config_hash

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_PROTOCOL_PATH = Path(__file__).with_name("default_protocol.toml")
DECLUSTER_METHODS = ("gardner_knopoff", "nearest_neighbour", "none")


# ----------------------------------------------------------------------------- the protocol

@dataclass(frozen=True)
class Protocol:
    """The protocol of PROTOCOL.md; field names follow ``<section>_<key>`` of the TOML file
    (units in the names: days, km, fractions)."""

    alpha: float = 0.05
    target_min_magnitude: float = 5.0
    target_max_depth_km: float = 100.0
    target_radius: str | float = "dobrovolsky"
    target_declustering: str = "gardner_knopoff"
    lead_min_days: float = 1.0
    lead_max_days: float = 30.0
    lead_post_event_exclusion_days: float = 30.0
    binning_bin_days: float = 1.0
    binning_score_variable: str = "rmse"
    binning_local_night: bool = False
    binning_night_hours: tuple[float, float] = (0.0, 4.0)
    split_test_fraction: float = 0.3
    split_gap_days: str | float = "auto"
    surrogates_n: int = 9999
    surrogates_method: str = "season_keeping"
    surrogates_jitter_days: float = 30.0
    surrogates_n_secondary: int = 999
    surrogates_block_mean_days: float = 10.0
    surrogates_n_bootstrap: int = 1999
    surrogates_n_legacy: int = 499
    surrogates_n_fake_catalogs: int = 20
    baselines_seismicity_min_magnitude: float = 4.0
    baselines_seismicity_days: float = 30.0
    placebos_far_factor: float = 5.0
    grid_stations: tuple[str, ...] = ("*",)
    grid_lead_windows: tuple[tuple[float, float], ...] = ((1.0, 30.0),)
    grid_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2)

    def to_dict(self) -> dict:
        """Nested JSON-safe dict in the layout of the TOML file."""
        out: dict = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = [list(x) if isinstance(x, tuple) else x for x in v]
            if f.name == "alpha":
                out["alpha"] = v
                continue
            sec, key = f.name.split("_", 1)
            out.setdefault(sec, {})[key] = v
        return out

    @classmethod
    def from_dict(cls, d: dict, *, path=None, text: str | None = None) -> Protocol:
        """Validate a nested dict (the parsed TOML); ConfigError names the field and line."""
        return _from_nested(d, path=path, text=text)

    def replace(self, **kw) -> Protocol:
        """A copy with some fields changed (validated)."""
        p = dataclasses.replace(self, **kw)
        return _from_nested(p.to_dict())


def protocol_hash(protocol: Protocol) -> str:
    """16-hex-digit SHA-256 of the protocol's canonical JSON (``provenance.config_hash``)."""
    return config_hash(protocol.to_dict())


def _line_of(text: str | None, section: str | None, key: str) -> int | None:
    """1-based line of ``key =`` inside ``[section]`` of a TOML text (best effort)."""
    if not text:
        return None
    cur = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]", s)
        if m:
            cur = m.group(1).strip()
            if section is not None and key is None and cur == section:
                return i
            continue
        if re.match(rf"^{re.escape(key)}\s*=", s) and cur == section:
            return i
    return None


def _from_nested(d: dict, *, path=None, text: str | None = None) -> Protocol:
    defaults = Protocol()
    known: dict[str, dict[str, str]] = {}
    for f in dataclasses.fields(Protocol):
        if f.name == "alpha":
            continue
        sec, key = f.name.split("_", 1)
        known.setdefault(sec, {})[key] = f.name
    kw: dict = {}

    def err(msg, section, key, expected, found):
        raise ConfigError(msg + f" [{section + '.' if section else ''}{key}]", path=path,
                          line=_line_of(text, section, key), expected=expected, found=found)

    for top, val in d.items():
        if top == "alpha":
            kw["alpha"] = val
            continue
        if top not in known:
            raise ConfigError(f"unknown protocol section or field [{top}]", path=path,
                              line=_line_of(text, None, top) or _line_of(text, top, None),
                              expected="one of alpha, " + ", ".join(known), found=top)
        if not isinstance(val, dict):
            err("a protocol section must be a table", None, top, f"[{top}]", repr(val))
        for k, v in val.items():
            if k not in known[top]:
                err("unknown protocol field", top, k, ", ".join(known[top]), k)
            kw[known[top][k]] = v
    # type checks and conversions
    out = {}
    for f in dataclasses.fields(Protocol):
        name = f.name
        sec, key = ("", "alpha") if name == "alpha" else name.split("_", 1)
        if name not in kw:
            out[name] = getattr(defaults, name)
            continue
        v = kw[name]
        dflt = getattr(defaults, name)
        try:
            if name in ("target_radius",):
                if isinstance(v, str):
                    if v != "dobrovolsky":
                        raise ValueError
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                    v = float(v)
                else:
                    raise ValueError
            elif name == "split_gap_days":
                if isinstance(v, str):
                    if v != "auto":
                        raise ValueError
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
                    v = float(v)
                else:
                    raise ValueError
            elif isinstance(dflt, bool):
                if not isinstance(v, bool):
                    raise ValueError
            elif isinstance(dflt, int):
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ValueError
            elif isinstance(dflt, float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ValueError
                v = float(v)
            elif isinstance(dflt, str):
                if not isinstance(v, str):
                    raise ValueError
            elif name == "binning_night_hours":
                v = tuple(float(x) for x in v)
                if len(v) != 2 or not all(0 <= x <= 24 for x in v):
                    raise ValueError
            elif name == "grid_stations":
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or not v:
                    raise ValueError
                v = tuple(v)
            elif name == "grid_lead_windows":
                v = tuple((float(a), float(b)) for a, b in v)
                if not v or any(not (0 < a <= b) for a, b in v):
                    raise ValueError
            elif name == "grid_thresholds":
                v = tuple(float(x) for x in v)
                if any(not (0 < x < 1) for x in v):
                    raise ValueError
        except (ValueError, TypeError):
            err("invalid protocol value", sec or None, key, _expected(name, dflt), repr(v))
        out[name] = v
    p = Protocol(**out)
    checks = [
        (0 < p.alpha < 1, "alpha", None, "0 < alpha < 1"),
        (0 < p.lead_min_days <= p.lead_max_days, "min_days", "lead", "0 < min_days <= max_days"),
        (p.lead_post_event_exclusion_days >= 0, "post_event_exclusion_days", "lead", ">= 0"),
        (p.binning_bin_days > 0 and p.binning_bin_days <= p.lead_min_days, "bin_days",
         "binning", "0 < bin_days <= lead min_days"),
        (0 < p.split_test_fraction <= 1, "test_fraction", "split", "0 < fraction <= 1"),
        (p.surrogates_method in ("season_keeping", "uniform"), "method", "surrogates",
         "season_keeping or uniform"),
        (p.surrogates_n >= 19, "n", "surrogates", "at least 19 surrogates"),
        (p.target_declustering in DECLUSTER_METHODS, "declustering", "target",
         " or ".join(DECLUSTER_METHODS)),
        (p.surrogates_block_mean_days >= p.binning_bin_days, "block_mean_days", "surrogates",
         ">= bin_days"),
    ]
    for ok, key, sec, expected in checks:
        if not ok:
            val = out[key if sec is None else f"{sec}_{key}"]
            err("invalid protocol value", sec, key, expected, repr(val))
    return p


def _expected(name: str, dflt) -> str:
    if name == "target_radius":
        return '"dobrovolsky" or a radius in km > 0'
    if name == "split_gap_days":
        return '"auto" or days >= 0'
    if name == "grid_lead_windows":
        return "a list of [min_days, max_days] pairs with 0 < min <= max"
    if name == "grid_thresholds":
        return "a list of fractions of time in (0, 1)"
    if name == "grid_stations":
        return "a non-empty list of station codes (or \"*\")"
    if name == "binning_night_hours":
        return "[start_hour, end_hour] in 0..24"
    return type(dflt).__name__ + (" >= 0" if isinstance(dflt, int) and not isinstance(dflt, bool)
                                  else "")


def load_protocol(path=None) -> Protocol:
    """Read and validate a protocol TOML file (``None``: the packaged defaults).

    Raises
    ------
    ConfigError
        With file, line and field for a syntax error, an unknown field or a bad value.
    """
    if path is None and not DEFAULT_PROTOCOL_PATH.is_file():
        return Protocol()   # the packaged file mirrors these defaults (tested)
    p = DEFAULT_PROTOCOL_PATH if path is None else Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("cannot read the protocol file", path=p, found=str(exc)) from exc
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError("protocol file is not valid TOML", path=p,
                          line=int(m.group(1)) if m else None, found=str(exc)) from exc
    return _from_nested(d, path=p, text=text)


# ------------------------------------------------------------------------ input handling

REQUIRED_SCORE_ATTRS = ("latitude_deg", "longitude_deg")


def score_variable(ds, variable: str = "rmse") -> str:
    """The window-score variable to use: ``variable`` when present; for the default
    ``"rmse"``, a dataset without it but with ``score`` (the layout of the baseline scorers in
    :mod:`geoanom.detector_baselines`) uses ``score``, and the result records which was used."""
    if variable not in ds.variables and variable == "rmse" and "score" in ds.variables:
        return "score"
    return variable


def check_scores(ds, variable: str = "rmse", path=None) -> None:
    """Check that a SCORES dataset has what the test needs; FormatError otherwise."""
    variable = score_variable(ds, variable)
    for v in ("start", "end", variable):
        if v not in ds.variables:
            raise FormatError("scores file lacks a variable", path=path,
                              expected=f"variables start, end, {variable} on dim window",
                              found=", ".join(map(str, ds.variables)) or "none")
    if "window" not in ds[variable].dims:
        raise FormatError("scores must be along dim 'window'", path=path,
                          found=str(ds[variable].dims))
    if not np.issubdtype(ds["end"].dtype, np.datetime64):
        raise FormatError("scores 'end' must be datetime64", path=path, found=str(ds["end"].dtype))
    for a in REQUIRED_SCORE_ATTRS:
        if a not in ds.attrs:
            raise FormatError("scores file lacks a station attribute", path=path,
                              expected=a, found=", ".join(ds.attrs) or "no attrs")
        try:
            ok = math.isfinite(float(ds.attrs[a]))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise FormatError("scores file has no usable station coordinate: distances to "
                              "events cannot be computed", path=path,
                              expected=f"{a} in degrees", found=repr(ds.attrs[a]))
    if ds.sizes["window"] < 2:
        raise FormatError("scores file has fewer than two windows", path=path)


@dataclass
class Binned:
    """A score series cut into bins: origin ``t0`` (datetime64[ns]), bin length in days,
    per-bin alarm ``a`` (NaN where no window ended), and per-window end bins."""

    t0: np.datetime64
    bin_days: float
    a: np.ndarray
    window_bin: np.ndarray
    window_score: np.ndarray
    keep: np.ndarray

    @property
    def n(self) -> int:
        return int(self.a.size)

    def bin_of(self, times) -> np.ndarray:
        """Bin index of each time (may be negative or >= n)."""
        dt = (np.asarray(times, dtype="datetime64[ns]") - self.t0) / np.timedelta64(1, "ns")
        return np.floor(dt / (self.bin_days * 86400e9)).astype(np.int64)

    def bin_start(self, k) -> np.ndarray:
        """Start time of bin(s) ``k``."""
        ns = np.round(np.asarray(k, float) * self.bin_days * 86400e9).astype(np.int64)
        return self.t0 + ns.astype("timedelta64[ns]")


def bin_scores(ds, protocol: Protocol, t0=None) -> Binned:
    """Per-bin causal alarm: max of the window score over windows whose END is in the bin."""
    var = score_variable(ds, protocol.binning_score_variable)
    end = ds["end"].values.astype("datetime64[ns]")
    score = ds[var].values.astype(float)
    keep = np.isfinite(score)
    if protocol.binning_local_night:
        lon = float(ds.attrs["longitude_deg"])
        hours = (end - end.astype("datetime64[D]")) / np.timedelta64(1, "h")
        lt = np.mod(hours + lon / 15.0, 24.0)
        h0, h1 = protocol.binning_night_hours
        keep &= ((lt >= h0) & (lt < h1)) if h0 <= h1 else ((lt >= h0) | (lt < h1))
    if t0 is None:
        t0 = end.min().astype("datetime64[D]").astype("datetime64[ns]")
    b = Binned(t0=np.datetime64(t0, "ns"), bin_days=protocol.binning_bin_days, a=np.empty(0),
               window_bin=np.empty(0, np.int64), window_score=score, keep=keep)
    k = b.bin_of(end)
    n = int(k.max()) + 1
    a = np.full(n, -np.inf)
    np.maximum.at(a, k[keep], score[keep])
    a[np.isneginf(a)] = np.nan
    b.a = a
    b.window_bin = k
    return b


def lead_max(a: np.ndarray, lmin: int, lmax: int) -> np.ndarray:
    """``L[j] = max(a[j - lmax .. j - lmin])`` ignoring NaN (NaN if none), vectorised."""
    from numpy.lib.stride_tricks import sliding_window_view

    w = lmax - lmin + 1
    c = np.where(np.isfinite(a), a, -np.inf)
    pad = np.concatenate([np.full(lmax, -np.inf), c])
    out = sliding_window_view(pad, w)[: a.size].max(axis=1)
    return np.where(np.isneginf(out), np.nan, out)


def lead_max_after(a: np.ndarray, lmin: int, lmax: int) -> np.ndarray:
    """Placebo mirror of :func:`lead_max`: ``max(a[j + lmin .. j + lmax])``."""
    return lead_max(a[::-1], lmin, lmax)[::-1]


def _to_bins(days: float, bin_days: float) -> int:
    return int(round(days / bin_days))


def seen_mask(catalog: pd.DataFrame, lat: float, lon: float, protocol: Protocol,
              min_magnitude: float | None = None, radius_factor_min: float | None = None
              ) -> np.ndarray:
    """Events of ``M >= min_magnitude`` with depth ``<= max_depth_km`` (unknown kept) within
    the protocol's radius; with ``radius_factor_min``: *beyond* that many radii instead."""
    from geoanom.catalog_frame import dobrovolsky_radius_km, great_circle_km

    m0 = protocol.target_min_magnitude if min_magnitude is None else min_magnitude
    mag = catalog["magnitude"].to_numpy(float)
    d = catalog["depth_km"].to_numpy(float)
    dist = great_circle_km(lat, lon, catalog["latitude_deg"].to_numpy(float),
                           catalog["longitude_deg"].to_numpy(float))
    r = (dobrovolsky_radius_km(mag) if protocol.target_radius == "dobrovolsky"
         else np.full(mag.size, float(protocol.target_radius)))
    ok = (mag >= m0) & ~(d > protocol.target_max_depth_km)
    if radius_factor_min is None:
        return ok & (dist <= r)
    return ok & (dist > radius_factor_min * r)


def decluster_flags(catalog: pd.DataFrame, method: str, min_magnitude: float = -np.inf
                    ) -> np.ndarray:
    """``mainshock`` flags: the catalog's own column when present, all True for ``"none"``,
    otherwise :func:`geoanom.decluster.decluster` (imported lazily) on the events of
    ``M >= min_magnitude`` (smaller events are flagged False: they are never targets, and
    in window declustering a smaller event never makes a larger one dependent)."""
    if "mainshock" in catalog.columns:
        return catalog["mainshock"].to_numpy(bool)
    if method == "none":
        return np.ones(len(catalog), bool)
    try:
        from geoanom.decluster import decluster
    except ImportError as exc:  # pragma: no cover - depends on the decluster module
        raise ValidationError("declustering is not available; give a catalog with a "
                              "'mainshock' column or set target.declustering = \"none\"",
                              found=str(exc)) from exc
    sel = catalog["magnitude"].to_numpy(float) >= min_magnitude
    sub = catalog.loc[sel].reset_index(drop=True)
    sub.attrs = dict(catalog.attrs)
    out = np.zeros(len(catalog), bool)
    if len(sub):
        out[sel] = decluster(sub, method)["mainshock"].to_numpy(bool)
    return out


def _exclusion(n: int, bins: np.ndarray, length: int) -> np.ndarray:
    """True in bins ``b + 1 .. b + length`` after each of ``bins`` (difference array)."""
    d = np.zeros(n + 2, np.int64)
    b = bins[(bins >= -length) & (bins < n)]
    np.add.at(d, np.clip(b + 1, 0, n), 1)
    np.add.at(d, np.clip(b + length + 1, 0, n), -1)
    return np.cumsum(d)[:n] > 0


# ------------------------------------------------------------------------- the engine

@dataclass
class _Setup:
    """Everything derived from one station's scores, the catalog and the protocol."""

    code: str
    binned: Binned
    lmin: int
    lmax: int
    L: np.ndarray
    test: np.ndarray
    eligible: np.ndarray
    target_idx: np.ndarray          # catalog rows of independent target events (whole record)
    target_bins: np.ndarray
    seen_idx: np.ndarray
    test_start_bin: int
    lat: float
    lon: float
    split_info: dict = field(default_factory=dict)

    @property
    def ref_sorted(self) -> np.ndarray:
        return np.sort(self.L[self.eligible])

    def event_mask(self, bins) -> np.ndarray:
        b = np.asarray(bins)
        ok = (b >= 0) & (b < self.binned.n)
        out = np.zeros(b.shape, bool)
        out[ok] = self.eligible[b[ok]]
        return out


def _setup(ds, catalog, protocol: Protocol, mainshock: np.ndarray, lead=None,
           t0=None) -> _Setup:
    lead = (protocol.lead_min_days, protocol.lead_max_days) if lead is None else lead
    bd = protocol.binning_bin_days
    b = bin_scores(ds, protocol, t0=t0)
    n = b.n
    lmin, lmax = max(1, _to_bins(lead[0], bd)), max(1, _to_bins(lead[1], bd))
    L = lead_max(b.a, lmin, lmax)
    lat, lon = float(ds.attrs["latitude_deg"]), float(ds.attrs["longitude_deg"])
    seen = seen_mask(catalog, lat, lon, protocol)
    cbins = b.bin_of(catalog["time"].to_numpy())
    seen_idx = np.flatnonzero(seen)
    tgt = np.flatnonzero(seen & mainshock & (cbins >= 0) & (cbins < n))
    split_info: dict = {}
    if "split" in ds.variables:
        sp = np.asarray(ds["split"].values).astype(str)
        is_test = sp == "test"
        if not is_test.any():
            raise FormatError("scores 'split' has no 'test' windows", expected="test windows")
        test_start = int(b.window_bin[is_test].min())
        split_info["source"] = "scores"
        tr = np.isin(sp, ("train", "val"))
        if tr.any():
            last = ds["end"].values[tr].max()
            split_info["last_train_end"] = str(pd.Timestamp(last))
    else:
        test_start = int(math.floor(n * (1 - protocol.split_test_fraction)))
        split_info["source"] = "protocol"
    test = np.arange(n) >= test_start
    excl = _exclusion(n, cbins[seen_idx], _to_bins(protocol.lead_post_event_exclusion_days, bd))
    eligible = test & np.isfinite(L) & ~excl
    split_info.update({"test_start": str(pd.Timestamp(b.bin_start(test_start))),
                       "test_end": str(pd.Timestamp(b.bin_start(n)))})
    return _Setup(code=str(ds.attrs.get("iaga_code", "station")), binned=b, lmin=lmin,
                  lmax=lmax, L=L, test=test, eligible=eligible, target_idx=tgt,
                  target_bins=cbins[tgt], seen_idx=seen_idx, test_start_bin=test_start,
                  lat=lat, lon=lon, split_info=split_info)


def _shifts(setup: _Setup, protocol: Protocol, n: int, rng) -> tuple[np.ndarray, str]:
    from geoanom.stats import surrogate as sg

    min_shift = setup.lmax + 1
    bpd = 1.0 / protocol.binning_bin_days
    if protocol.surrogates_method == "season_keeping":
        # Whole-year shifts of an N-year record give only about N - 1 distinct offsets; the
        # jitter moves each by less than the lead window, so the null holds about N - 1
        # near-copies of itself and an observed value above all of them gets p ~ 1/B
        # instead of ~1/N (null calibration measured 9.5 % at alpha 0.05 on 10-year worlds).
        # Below 1/alpha offsets the season-keeping null cannot resolve alpha: fall back.
        n_offsets = int(setup.binned.n // (sg.DAYS_PER_YEAR * bpd)) - 1
        need = int(math.ceil(1.0 / protocol.alpha)) - 1
        s = sg.season_keeping_shifts(setup.binned.n, bpd, n, rng,
                                     jitter_days=protocol.surrogates_jitter_days,
                                     min_shift=min_shift) if n_offsets >= need else None
        if s is not None:
            return s, (f"circular shift by whole years +- {protocol.surrogates_jitter_days:g} "
                       f"days ({n_offsets} distinct year offsets)")
        method = (f"uniform circular shift (season not kept: the record allows {max(n_offsets, 0)} "
                  f"distinct whole-year offsets, fewer than the {need} that alpha = "
                  f"{protocol.alpha:g} needs)")
    else:
        method = "uniform circular shift"
    return sg.uniform_shifts(setup.binned.n, n, rng, min_shift=min_shift), method


def _event_test(L, eligible, event_bins, shifts, ref_sorted=None) -> dict:
    """Observed AUC of the events on eligible bins and its circular-shift null."""
    from geoanom.stats import surrogate as sg
    from geoanom.stats.ranks import normalized_ranks

    ref = np.sort(L[eligible]) if ref_sorted is None else ref_sorted
    b = np.asarray(event_bins, np.int64)
    b = b[(b >= 0) & (b < L.size)]
    obs_b = b[eligible[b]]
    out = {"n_events": int(obs_b.size), "n_bins": int(ref.size)}
    if obs_b.size == 0 or ref.size == 0:
        out.update(auc=float("nan"), p_value=float("nan"), null=np.full(len(shifts), np.nan),
                   ranks=np.empty(0), event_bins=obs_b)
        return out
    ranks = normalized_ranks(L[obs_b], ref)
    sv = sg.shifted_values(L, b, shifts, eligible)
    null = sg.null_auc(sv, ref)
    null_k = sg.event_counts(sv)
    a = float(ranks.mean())
    # surrogates carry different event counts: p conditional on the observed count where
    # enough surrogates share it, else on the standardised AUC (surrogate.count_aware_p_value)
    null_z = sg.standardised_auc(null, null_k)
    pv, basis = sg.count_aware_p_value(a, obs_b.size, null, null_k)
    out.update(auc=a, p_value=pv, p_value_basis=basis, null=null, null_z=null_z,
               null_n_events=null_k, ranks=ranks, event_bins=obs_b)
    return out


def _bin_series(times, values, binned: Binned, how: str = "max") -> np.ndarray:
    """Per-bin max (or mean) of an external series (e.g. an activity index) on the bins."""
    k = binned.bin_of(times)
    v = np.asarray(values, float)
    ok = (k >= 0) & (k < binned.n) & np.isfinite(v)
    if how == "max":
        out = np.full(binned.n, -np.inf)
        np.maximum.at(out, k[ok], v[ok])
        out[np.isneginf(out)] = np.nan
        return out
    s = np.bincount(k[ok], weights=v[ok], minlength=binned.n)
    c = np.bincount(k[ok], minlength=binned.n)
    with np.errstate(invalid="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def benjamini_yekutieli(p) -> np.ndarray:
    """Benjamini-Yekutieli q-values (FDR under arbitrary dependence) for p-values ``p``."""
    p = np.asarray(p, float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    c = np.sum(1.0 / np.arange(1, m + 1))
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m * c / np.arange(1, m + 1)
    qq = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(qq, 1.0)
    q[ok] = res
    return q


def _column_p(null: np.ndarray) -> np.ndarray:
    """For each surrogate (row) and cell (column), the fraction of the column's surrogates at
    or above it (NaN counts as the least extreme, p = 1): the Westfall-Young step."""
    B = null.shape[0]
    x = np.where(np.isfinite(null), null, -np.inf)
    s = np.sort(x, axis=0)
    out = np.empty_like(x, dtype=float)
    for c in range(x.shape[1]):
        out[:, c] = (B - np.searchsorted(s[:, c], x[:, c], side="left")) / B
    out[~np.isfinite(null)] = 1.0
    return out


def _hit_stat(values: np.ndarray, ref_sorted: np.ndarray, tau: float) -> np.ndarray:
    """Hit rate at fraction of time ``tau`` (conservative ties) for rows of event values."""
    need = (ref_sorted.size - np.searchsorted(ref_sorted, values, side="left")) / ref_sorted.size
    fin = np.isfinite(values)
    hit = (need <= tau + 1e-12) & fin
    cnt = fin.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, hit.sum(axis=-1) / np.maximum(cnt, 1), np.nan)


def _legacy_labels_per_bin(setup: _Setup, catalog, protocol: Protocol, mainshock) -> np.ndarray:
    """METHODS.md section 1 labels by window END bin: 1 seismic, 0 normal, -1 excluded."""
    n = setup.binned.n
    bd = protocol.binning_bin_days
    lab = np.full(n, -1, np.int8)
    # normal: no seen event of M >= m_min - 0.5 within lead_max + buffer after the window, and
    # not within the post-event exclusion of a seen event
    seen_low = seen_mask(catalog, setup.lat, setup.lon, protocol,
                         min_magnitude=protocol.target_min_magnitude - 0.5)
    cb = setup.binned.bin_of(catalog["time"].to_numpy())
    buffer = setup.lmax
    ahead = _exclusion(n, cb[seen_low] - (setup.lmax + buffer) - 1, setup.lmax + buffer + 1)
    post = _exclusion(n, cb[setup.seen_idx], _to_bins(protocol.lead_post_event_exclusion_days, bd))
    lab[~ahead & ~post] = 0
    # seismic: end bin in [b - lmax, b - lmin] of an independent target event
    seis = _exclusion(n, setup.target_bins - setup.lmax - 1, setup.lmax - setup.lmin + 1)
    lab[seis] = 1
    return lab


def _mwu_batch(score_sorted_groups, m1: np.ndarray, m0: np.ndarray) -> np.ndarray:
    """Naive one-sided Mann-Whitney p (normal approximation with tie correction) for many
    labelings at once. ``m1``, ``m0``: (B, n) masks of seismic / normal windows in the order of
    sorted scores; ``score_sorted_groups``: (start, end) index of each value's tie group."""
    from scipy.special import ndtr

    gs, ge, tied = score_sorted_groups
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
        p = 1.0 - ndtr(z)
    return np.where((n1 > 0) & (n2 > 0), p, np.nan)


def _tie_groups(sorted_vals: np.ndarray):
    n = sorted_vals.size
    new = np.concatenate([[True], sorted_vals[1:] != sorted_vals[:-1]])
    gid = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    gs, ge = starts[gid], ends[gid]
    tied = np.flatnonzero(new & (np.append(starts[1:], n)[np.cumsum(new) - 1] - starts[gid] > 1))
    return gs, ge, tied


# ------------------------------------------------------------------------------ run_test

LEGACY_NOTE = ("window-level Mann-Whitney U as in the seed paper: it treats overlapping, "
               "autocorrelated windows and clustered events as independent, which they are "
               "not, so its p-value is not a valid significance level; see calibrated_p_value")


def _activity_frame(activity) -> tuple[np.ndarray, np.ndarray, str]:
    """(times, values, name) from a DataFrame with a time column (or index) and one value
    column; Dst-like columns (name contains 'dst') are negated so that higher = more active."""
    df = activity
    if not isinstance(df, pd.DataFrame):
        raise ValidationError("activity must be a DataFrame", found=type(df).__name__)
    if "time" in df.columns:
        t = pd.to_datetime(df["time"]).to_numpy("datetime64[ns]")
        cols = [c for c in df.columns if c != "time"]
    else:
        t = pd.to_datetime(df.index).to_numpy("datetime64[ns]")
        cols = list(df.columns)
    cols = [c for c in cols if np.issubdtype(df[c].dtype, np.number)]
    if not cols:
        raise ValidationError("activity table has no numeric column", expected="time, kp (or dst)")
    name = str(cols[0])
    v = df[cols[0]].to_numpy(float)
    if "dst" in name.lower():
        v = -v
    return t, v, name


def _corr(x, y) -> tuple[float, float]:
    from scipy import stats as st

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
        return float("nan"), float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1]), float(st.spearmanr(x[ok], y[ok])[0])


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
        Catalog frame (:mod:`geoanom.catalog_frame`); a ``mainshock`` column, when present, is the
        declustering; otherwise ``protocol.target_declustering`` is applied.
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

    Returns
    -------
    TestResult
    """
    from geoanom.catalog_frame import validate_catalog
    from geoanom.provenance import provenance
    from geoanom.stats import surrogate as sg
    from geoanom.stats.molchan import molchan_curve, molchan_summary, nu_on_grid
    from geoanom.stats.ranks import cliffs_delta, mann_whitney, normalized_ranks
    from geoanom.stats.result import TestResult

    p = Protocol() if protocol is None else protocol
    rng = np.random.default_rng(seed) if rng is None else rng
    check_scores(scores, p.binning_score_variable)
    catalog = validate_catalog(catalog)
    mainshock = decluster_flags(catalog, p.target_declustering, p.target_min_magnitude)
    warn: list[str] = []
    if p.target_declustering == "none" and "mainshock" not in catalog.columns:
        warn.append("declustering is 'none': aftershocks count as independent events")

    st = _setup(scores, catalog, p, mainshock)
    n = st.binned.n
    B = p.surrogates_n
    shifts, null_method = _shifts(st, p, B, rng)
    prim = _event_test(st.L, st.eligible, st.target_bins, shifts)
    ref = st.ref_sorted
    n_ev = prim["n_events"]
    ev_bins = prim["event_bins"]
    ev_vals = st.L[ev_bins]

    # ---- primary
    primary: dict = {
        "statistic": "event-level AUC of the lead-window alarm over test-period bins "
                     "(ASS = AUC)",
        "auc": prim["auc"], "p_value": prim["p_value"], "n_surrogates": int(B),
        "n_surrogates_valid": int(np.isfinite(prim["null"]).sum()),
        "null": null_method, "n_independent_events": n_ev, "n_bins": prim["n_bins"],
        "alpha": p.alpha, "station": st.code,
        "score_variable": score_variable(scores, p.binning_score_variable),
        "test_period": {"start": st.split_info["test_start"], "end": st.split_info["test_end"],
                        "split_source": st.split_info["source"]},
        "events": [{"event_id": str(catalog["event_id"].iloc[i]),
                    "time": str(catalog["time"].iloc[i]),
                    "magnitude": float(catalog["magnitude"].iloc[i]), "alarm": float(st.L[b]),
                    "normalized_rank": float(normalized_ranks(st.L[b], ref)) if ref.size else None}
                   for i, b in zip(st.target_idx, st.target_bins, strict=False) if st.eligible[b]],
    }
    curve = None
    if n_ev and ref.size:
        curve = molchan_curve(st.L[st.eligible], ev_vals)
        msum = molchan_summary(curve, p.grid_thresholds)
        primary["ass"] = msum["ass"]
        tau_grid = np.linspace(0, 1, 101)
        nsub = min(B, 999)
        sv = sg.shifted_values(st.L, st.target_bins, shifts[:nsub], st.eligible)
        env = nu_on_grid(ref, sv, tau_grid)
        lo, hi = np.nanpercentile(env, [2.5, 97.5], axis=0)
        primary["molchan"] = {**curve.to_dict(),
                              "envelope": {"tau": tau_grid, "nu_lo": lo, "nu_hi": hi,
                                           "n_surrogates": nsub}}
    else:
        primary["ass"] = float("nan")
        warn.append("no independent target event falls on an eligible test-period bin")
    fin = prim["null"][np.isfinite(prim["null"])]
    if fin.size:
        cnt, edges = np.histogram(fin, bins=40)
        primary["null_histogram"] = {"counts": cnt, "edges": edges}
    finz = prim.get("null_z", np.empty(0))
    finz = finz[np.isfinite(finz)]
    same = np.isfinite(prim["null"]) & (prim.get("null_n_events", np.empty(0)) == n_ev)
    if n_ev and str(prim.get("p_value_basis", "")).startswith("conditional"):
        # the same rule as the p-value: the null of AUCs of exactly n_ev events
        fs = prim["null"][same]
        k = int(math.floor(p.alpha * (fs.size + 1)))
        crit = float(np.sort(fs)[::-1][k - 1]) if k >= 1 else float("inf")
    elif finz.size and n_ev:
        k = int(math.floor(p.alpha * (finz.size + 1)))
        zc = float(np.sort(finz)[::-1][k - 1]) if k >= 1 else float("inf")
        # the AUC that the observed number of events needed to reach the critical value
        crit = 0.5 + zc / math.sqrt(12.0 * n_ev)
    else:
        crit = float("nan")
    primary["critical_auc"] = crit
    primary["p_value_basis"] = prim.get("p_value_basis")
    if finz.size:
        nk = prim["null_n_events"][np.isfinite(prim["null_z"])]
        primary["null_n_events"] = {"min": int(nk.min()), "median": float(np.median(nk)),
                                    "max": int(nk.max()),
                                    "fraction_equal_to_observed": float(np.mean(nk == n_ev))}

    # ---- secondary nulls
    B2 = p.surrogates_n_secondary
    sec: dict = {}
    if n_ev and B2 > 0:
        sb = sg.sequence_shuffle_bins(n, st.target_bins, B2, rng, min_shift=st.lmax + 1)
        vals = np.where(st.event_mask(sb), st.L[np.clip(sb, 0, n - 1)], np.nan)
        nul = sg.null_auc(vals, ref)
        nulz = sg.standardised_auc(nul, sg.event_counts(vals))
        z_obs = float(sg.standardised_auc(prim["auc"], n_ev))
        sec["sequence_shuffle"] = {"p_value": sg.p_value(z_obs, nulz), "n_surrogates": B2,
                                   "null_mean": float(np.nanmean(nul))}
        mb = max(1.0, p.surrogates_block_mean_days / p.binning_bin_days)
        elig_idx = np.flatnonzero(st.eligible)
        nulb = np.full(B2, np.nan)
        nulbz = np.full(B2, np.nan)
        bar = Progress(B2, "block bootstrap")
        for c0 in range(0, B2, 64):  # chunks keep memory at 64 x n bins
            bar.update(min(64, B2 - c0))
            idx = sg.stationary_bootstrap_indices(n, min(64, B2 - c0), mb, rng)
            a_star = st.binned.a[idx]
            for r in range(a_star.shape[0]):
                Ls = lead_max(a_star[r], st.lmin, st.lmax)
                rs = np.sort(Ls[elig_idx][np.isfinite(Ls[elig_idx])])
                ev = Ls[ev_bins]
                ev = ev[np.isfinite(ev)]
                if rs.size and ev.size:
                    nulb[c0 + r] = normalized_ranks(ev, rs).mean()
                    nulbz[c0 + r] = sg.standardised_auc(nulb[c0 + r], ev.size)
        bar.close()
        sec["block_bootstrap"] = {"p_value": sg.p_value(z_obs, nulbz), "n_surrogates": B2,
                                  "mean_block_days": p.surrogates_block_mean_days,
                                  "null_mean": float(np.nanmean(nulb))}
    primary["secondary_nulls"] = sec

    # ---- effect sizes
    rho = sg.lag1_autocorrelation(st.binned.a[st.test])
    n_fin = int(np.isfinite(st.binned.a[st.test]).sum())
    eff: dict = {"auc": prim["auc"], "n_independent_events": n_ev, "n_bins": prim["n_bins"],
                 "lag1_autocorrelation": rho,
                 "effective_sample_size": sg.effective_sample_size(n_fin, rho),
                 "n_bins_with_data": n_fin}
    if n_ev:
        lo, hi = sg.bootstrap_ci_events(prim["ranks"], p.surrogates_n_bootstrap, rng)
        eff["auc_ci95"] = [lo, hi]
        eff["cliffs_delta"] = cliffs_delta(ev_vals, ref)
        eff["cliffs_delta_ci95"] = [2 * lo - 1, 2 * hi - 1]
        eff["at_tau"] = molchan_summary(curve, p.grid_thresholds)["at_tau"]
        for tt in (0.05, 0.1, 0.2):
            if f"{tt:g}" not in eff["at_tau"]:
                eff["at_tau"].update(molchan_summary(curve, (tt,))["at_tau"])
    else:
        eff.update(auc_ci95=[None, None], cliffs_delta=float("nan"),
                   cliffs_delta_ci95=[None, None], at_tau={})

    # ---- baselines
    def _baseline(Lb, name, with_p=True) -> dict:
        elig = st.eligible & np.isfinite(Lb)
        if not n_ev or not elig.any():
            return {"name": name, "ass": float("nan")}
        r = _event_test(Lb, elig, st.target_bins, shifts if with_p else shifts[:0])
        d = {"name": name, "ass": r["auc"], "n_events": r["n_events"], "n_bins": r["n_bins"]}
        if with_p:
            d["p_value"] = r["p_value"]
        if r["n_events"]:
            c = molchan_curve(Lb[elig], Lb[r["event_bins"]])
            d["molchan"] = c.to_dict()
            d["at_tau"] = molchan_summary(c, p.grid_thresholds)["at_tau"]
        return d

    base: dict = {"random": {"name": "random alarm (diagonal)", "ass": 0.5}}
    m0 = p.baselines_seismicity_min_magnitude
    sm = seen_mask(catalog, st.lat, st.lon, p, min_magnitude=m0)
    cb = st.binned.bin_of(catalog["time"].to_numpy())
    # alarm on for T days after each event of M >= M0 within R(M): count of such events in
    # the T days up to and including bin j (the lead transform then applies as for the score)
    Tb = max(1, _to_bins(p.baselines_seismicity_days, p.binning_bin_days))
    ev_count = np.bincount(cb[sm & (cb >= 0) & (cb < n)], minlength=n).astype(float)
    seis = np.convolve(ev_count, np.ones(Tb))[:n]
    base["seismicity"] = {**_baseline(lead_max(seis, st.lmin, st.lmax),
                                      f"seismicity only: events M>={m0:g} within R(M) in the "
                                      f"last {p.baselines_seismicity_days:g} days",
                                      with_p=False),
                          "min_magnitude": m0, "days": p.baselines_seismicity_days}
    act_bins = None
    if activity is not None:
        t_a, v_a, nm = _activity_frame(activity)
        act_bins = _bin_series(t_a, v_a, st.binned, "max")
        base["activity"] = _baseline(lead_max(act_bins, st.lmin, st.lmax),
                                     f"activity only: {nm} (max per bin)")
    else:
        base["activity"] = None
    remote = None
    if remote_scores is not None:
        check_scores(remote_scores, p.binning_score_variable)
        rb = bin_scores(remote_scores, p, t0=st.binned.t0)
        ra = np.full(n, np.nan)
        m = min(n, rb.n)
        ra[:m] = rb.a[:m]
        remote = ra
        base["remote_station"] = {**_baseline(lead_max(ra, st.lmin, st.lmax),
                                              "remote station score "
                                              + str(remote_scores.attrs.get("iaga_code", "?"))),
                                  "station": str(remote_scores.attrs.get("iaga_code", "?"))}
    else:
        base["remote_station"] = None

    # ---- placebos (each should come out null)
    pl: dict = {}
    La = lead_max_after(st.binned.a, st.lmin, st.lmax)
    r = _event_test(La, st.test & np.isfinite(La) & st.eligible, st.target_bins, shifts)
    pl["after_event"] = {"description": "alarm over the lead window AFTER each event",
                         "auc": r["auc"], "p_value": r["p_value"], "n_events": r["n_events"]}
    far = seen_mask(catalog, st.lat, st.lon, p, radius_factor_min=p.placebos_far_factor) \
        & mainshock
    fb = cb[far & (cb >= 0) & (cb < n)]
    r = _event_test(st.L, st.eligible, fb, shifts)
    pl["far_events"] = {"description": f"mainshocks beyond {p.placebos_far_factor:g} R(M)",
                        "auc": r["auc"], "p_value": r["p_value"], "n_events": r["n_events"]}
    if remote is not None:
        Lr = lead_max(remote, st.lmin, st.lmax)
        r = _event_test(Lr, st.eligible & np.isfinite(Lr), st.target_bins, shifts)
        pl["remote_station"] = {"description": "a remote station's score against this "
                                "station's events", "auc": r["auc"], "p_value": r["p_value"],
                                "n_events": r["n_events"]}
    else:
        pl["remote_station"] = None
    K = p.surrogates_n_fake_catalogs
    fps = []
    n_tg = st.target_bins.size
    for _ in range(K):
        fake = np.sort(rng.integers(0, n, size=n_tg))
        r = _event_test(st.L, st.eligible, fake, shifts)
        fps.append(r["p_value"])
    fps_a = np.asarray(fps, float)
    pl["fake_catalogs"] = {"description": "Poisson catalogs with the targets' rate",
                           "n_catalogs": K, "p_values": fps_a,
                           "rejection_rate": float(np.nanmean(fps_a <= p.alpha)) if K else None}
    for v in pl.values():
        if v is not None and "p_value" in v:
            v["came_out_null"] = bool(not (v["p_value"] is not None
                                           and np.isfinite(v["p_value"])
                                           and v["p_value"] <= p.alpha))

    # ---- multiplicity over the declared grid
    stations = [("primary", scores)] + [("extra", e) for e in (extra_scores or [])]
    cells, nulls, obs = [], [], []
    want = set(p.grid_stations)
    missing = sorted(want - {"*"} - {str(s.attrs.get("iaga_code", "?")) for _, s in stations})
    for _kind, ds in stations:
        code = str(ds.attrs.get("iaga_code", "?"))
        if "*" not in want and code not in want:
            continue
        for lw in p.grid_lead_windows:
            s2 = st if (ds is scores and lw == (p.lead_min_days, p.lead_max_days)) else \
                _setup(ds, catalog, p, mainshock, lead=lw)
            refc = s2.ref_sorted
            vals = sg.shifted_values(s2.L, s2.target_bins, np.concatenate([[0], shifts]),
                                     s2.eligible)
            kk = sg.event_counts(vals)
            nan = np.full(B + 1, np.nan)
            a_raw = sg.null_auc(vals, refc) if refc.size else nan
            stats = {"auc": (a_raw, sg.standardised_auc(a_raw, kk))}
            for tt in p.grid_thresholds:
                h = _hit_stat(vals, refc, tt) if refc.size else nan
                stats[f"hit_rate@tau={tt:g}"] = (h, sg.standardised_rate(h, kk, tt))
            # p-values on the standardised statistics: surrogates differ in event count
            for nm, (arr, zarr) in stats.items():
                cells.append({"station": code, "lead_days": list(lw), "statistic": nm,
                              "observed": float(arr[0]),
                              "p_value": sg.p_value(zarr[0], zarr[1:])})
                obs.append(zarr[0])
                nulls.append(zarr[1:])
    mult: dict = {"n_cells": len(cells), "missing_stations": missing,
                  "note": "cells outside the declared grid are exploratory"}
    if cells:
        N = np.stack(nulls, axis=1)
        pobs = np.array([c["p_value"] for c in cells], float)
        pstar = _column_p(N).min(axis=1)
        minp = np.nanmin(pobs) if np.isfinite(pobs).any() else np.nan
        mult["max_statistic_p_value"] = float((1 + np.count_nonzero(pstar <= minp + 1e-12))
                                              / (B + 1)) if np.isfinite(minp) else float("nan")
        q = benjamini_yekutieli(pobs)
        for c, qq in zip(cells, q, strict=False):
            c["q_value_by"] = float(qq)
    else:
        mult["max_statistic_p_value"] = float("nan")
    mult["cells"] = cells

    # ---- legacy (window level)
    w_bin = st.binned.window_bin
    w_sc = st.binned.window_score
    keep = st.binned.keep
    lab_bin = _legacy_labels_per_bin(st, catalog, p, mainshock)
    if "label" in scores.variables:
        wl = np.asarray(scores["label"].values).astype(np.int64)
        labels_from = "scores"
        # per-bin labels from the given ones (a bin with mixed labels counts as excluded),
        # so that catalog shifts move the given labels in time
        lb = np.full(n, -2, np.int64)
        for val in (0, 1):
            mk = np.zeros(n, bool)
            mk[w_bin[wl == val]] = True
            lb = np.where(mk & (lb == -2), val, np.where(mk, -1, lb))
        lab_bin = np.where(lb == -2, -1, lb).astype(np.int8)
    else:
        wl = lab_bin[w_bin].astype(np.int64)
        labels_from = "catalog (METHODS.md section 1)"
    leg: dict = {"note": LEGACY_NOTE, "labels_from": labels_from, "level": "window"}
    s1 = keep & (wl == 1)
    s0 = keep & (wl == 0)
    if s1.any() and s0.any():
        mw = mann_whitney(w_sc[s1], w_sc[s0])
        leg.update(u=mw.u, p_value=mw.p_value, auc=mw.auc, rank_biserial=mw.rank_biserial,
                   n_seismic=mw.n1, n_normal=mw.n2)
        # calibrated p: the same naive p on catalogs shifted by the primary null's shifts
        order = np.argsort(w_sc[keep], kind="mergesort")
        vs = w_sc[keep][order]
        groups = _tie_groups(vs)
        wb = w_bin[keep][order]
        BL = min(p.surrogates_n_legacy, B)
        sh = np.concatenate([[0], shifts[:BL]])
        pn = np.empty(sh.size)
        bar = Progress(sh.size, "legacy calibration")
        for c0 in range(0, sh.size, 32):
            ss = sh[c0:c0 + 32]
            bar.update(ss.size)
            if c0 == 0:
                labs = np.vstack([wl[keep][order][None, :],
                                  lab_bin[np.mod(wb[None, :] - ss[1:, None], n)]])
            else:
                labs = lab_bin[np.mod(wb[None, :] - ss[:, None], n)]
            pn[c0:c0 + ss.size] = _mwu_batch(groups, labs == 1, labs == 0)
        bar.close()
        leg["naive_p_value_recomputed"] = float(pn[0])
        leg["calibrated_p_value"] = sg.p_value(-pn[0], -pn[1:]) if BL else float("nan")
        leg["n_calibration_surrogates"] = int(np.isfinite(pn[1:]).sum())
        leg["calibration_null"] = "catalog circular shifts of the primary null"
        if "split" in scores.variables:
            spl = np.asarray(scores["split"].values).astype(str)
            t1, t0m = s1 & (spl == "test"), s0 & (spl == "test")
            if t1.any() and t0m.any():
                mt = mann_whitney(w_sc[t1], w_sc[t0m])
                leg["test_windows_only"] = mt.to_dict()
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
    else:
        leg.update(u=float("nan"), p_value=float("nan"), auc=float("nan"),
                   rank_biserial=float("nan"), n_seismic=int(s1.sum()), n_normal=int(s0.sum()),
                   calibrated_p_value=float("nan"))
        warn.append("legacy test not computed: no seismic or no normal windows")

    # ---- guard-rails
    few = n_ev < 10
    if few:
        warn.append(f"only {n_ev} independent events (< 10): no verdict is given; the "
                    f"smallest AUC this test could have detected is "
                    f"{f'{crit:.3f}' if np.isfinite(crit) and crit <= 1 else 'none (above 1)'}")
    corr = {"pearson": None, "spearman": None}
    for nm, arr in (("activity", act_bins), ("remote_station", remote)):
        if arr is None:
            continue
        pr, sp = _corr(st.binned.a[st.test], arr[st.test])
        corr = {"pearson": pr, "spearman": sp, "against": nm}
        if max(abs(pr), abs(sp)) > 0.3:
            warn.append(f"the score correlates with the {nm} series (Pearson r = {pr:.2f}, "
                        f"Spearman = {sp:.2f}; |r| > 0.3): an alarm may be geomagnetic activity")
        break
    if st.split_info.get("last_train_end"):
        gap = _gap_days(scores, p)
        got = (np.datetime64(st.binned.bin_start(st.test_start_bin))
               - np.datetime64(st.split_info["last_train_end"])) / np.timedelta64(1, "D")
        if got < gap:
            warn.append(f"gap between the last training window and the test period is "
                        f"{got:.1f} days < window + lead max = {gap:.1f} days")
    if st.split_info["source"] == "protocol":
        warn.append(f"the scores carry no 'split': the test period is the last "
                    f"{p.split_test_fraction:.0%} of the record by protocol; the detector must "
                    f"not have been trained on it (gap >= window + lead max = "
                    f"{_gap_days(scores, p):.1f} days)")
    sig_p = prim["p_value"]
    significant = (not few) and np.isfinite(sig_p) and sig_p <= p.alpha
    primary["significant"] = bool(significant) if not few else None
    primary["verdict"] = ("not assessable (fewer than 10 independent events)" if few else
                          (f"significant at alpha = {p.alpha:g}" if significant else
                           f"not significant at alpha = {p.alpha:g}"))
    guard = {"warnings": warn, "few_events": few, "min_events": 10,
             "smallest_detectable_auc": crit if (np.isfinite(crit) and crit <= 1) else None,
             "activity_correlation": corr,
             "declustering": p.target_declustering if "mainshock" not in catalog.columns
             else "given by the catalog's mainshock column"}

    # ---- superposed epoch (-60 .. +30 days) with Monte Carlo bands
    if n_ev:
        offs = np.arange(-_to_bins(60, p.binning_bin_days), _to_bins(30, p.binning_bin_days) + 1)
        # percentile of each bin's alarm within the record: robust to storm outliers
        from scipy.stats import rankdata

        a = np.full(n, np.nan)
        okb = np.isfinite(st.binned.a)
        a[okb] = (rankdata(st.binned.a[okb]) - 0.5) / okb.sum()
        obs_idx = ev_bins[:, None] + offs[None, :]
        ok = (obs_idx >= 0) & (obs_idx < n)
        vals = np.where(ok, a[np.clip(obs_idx, 0, n - 1)], np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(vals, axis=0)
            nsub = min(B, 999)
            sidx = np.mod(ev_bins[None, :, None] + shifts[:nsub, None, None] + offs, n)
            smean = np.nanmean(a[sidx], axis=1)
            lo, hi = np.nanpercentile(smean, [2.5, 97.5], axis=0)
        primary["superposed_epoch"] = {"offset_days": offs * p.binning_bin_days, "mean": mean,
                                       "quantity": "percentile of the bin alarm in the record",
                                       "mc_lo": lo, "mc_hi": hi, "n_surrogates": nsub,
                                       "n_events": n_ev}

    prov = provenance(config=p.to_dict(), inputs=inputs, seeds={"seed": int(seed)},
                      extra={"type": "geoanom.TestResult", "schema": 1,
                             "scores_provenance": scores.attrs.get("geoanom_provenance"),
                             "catalog_source": str(catalog.attrs.get("source", "")),
                             "station": st.code})
    series = {}
    if keep_series:
        cbin = st.binned.bin_of(catalog["time"].to_numpy()[st.seen_idx])
        shown = st.seen_idx[(cbin >= 0) & (cbin < n)]   # seen events within the record
        series = {"bin_start": st.binned.bin_start(np.arange(n)), "alarm": st.binned.a,
                  "lead_alarm": st.L, "test_start": st.binned.bin_start(st.test_start_bin),
                  "eligible": st.eligible, "null": prim["null"],
                  "events_time": catalog["time"].to_numpy()[shown],
                  "events_mag": catalog["magnitude"].to_numpy()[shown],
                  "events_mainshock": mainshock[shown],
                  "activity": act_bins, "station": st.code,
                  "score_variable": score_variable(scores, p.binning_score_variable)}
    return TestResult(protocol=p.to_dict(), protocol_hash=protocol_hash(p), legacy=leg,
                      primary=primary, effect_sizes=eff, baselines=base, placebos=pl,
                      multiplicity=mult, guardrails=guard, provenance=prov, series=series)


def _gap_days(scores, p: Protocol) -> float:
    if p.split_gap_days != "auto":
        return float(p.split_gap_days)
    wl = scores.attrs.get("window_length_s")
    if wl is None:
        wl = float(np.median((scores["end"].values - scores["start"].values)
                             / np.timedelta64(1, "s")))
    return float(wl) / 86400.0 + p.lead_max_days


def summary_text(result) -> str:
    """A short human summary of a :class:`TestResult` (for the CLI)."""
    pr, lg, ef, g = result.primary, result.legacy, result.effect_sizes, result.guardrails

    def f(x, fmt=".3f"):
        return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) \
            else format(x, fmt)

    ci = ef.get("auc_ci95") or [None, None]
    lines = [
        f"station {pr.get('station')}: {pr['n_independent_events']} independent events, "
        f"{pr['n_bins']} test bins ({pr['test_period']['start'][:10]} .. "
        f"{pr['test_period']['end'][:10]})",
        f"primary  ASS = AUC = {f(pr['auc'])} (95% CI over events {f(ci[0])}..{f(ci[1])}), "
        f"p = {f(pr['p_value'], '.4f')} ({pr['n_surrogates']} surrogates: {pr['null']})",
        f"         -> {pr['verdict']}",
        f"legacy   window-level Mann-Whitney U = {f(lg.get('u'), '.1f')}, "
        f"naive p = {f(lg.get('p_value'), '.2g')}, AUC = {f(lg.get('auc'))}, "
        f"calibrated p = {f(lg.get('calibrated_p_value'), '.3f')} "
        "(naive p assumes independent windows: it does not hold)",
        f"grid     max-statistic p = {f(result.multiplicity.get('max_statistic_p_value'), '.4f')}"
        f" over {result.multiplicity['n_cells']} cells",
    ]
    for w in g["warnings"]:
        lines.append("warning: " + w)
    return "\n".join(lines)
