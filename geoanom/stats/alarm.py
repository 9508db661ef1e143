"""The alarm function of PROTOCOL.md and everything derived from one station's scores and
the catalog: bins, the causal per-bin alarm, the lead-window alarm ``L``, target events and
eligible bins (:class:`StationSetup`).

Definitions (bins are ``bin_days`` long, counted from UTC midnight before the first window):

* per-bin alarm ``a[k]``: the maximum of the window score over the windows whose END falls in
  bin ``k`` (causal); optionally only windows ending in local night.
* alarm in force at bin ``j``: ``L[j] = max a[j - lead_max .. j - lead_min]`` (bins).
* an independent target event: a mainshock (:func:`geoanom.labels.mainshock_flags`) seen by
  the station (:func:`geoanom.labels.seen_by_station`: ``M >= min_magnitude``, depth
  ``<= max_depth_km``, distance ``<= r(M)`` of the target's detectability rule); its value
  is ``L[b]`` for its bin ``b``.
* eligible bins: in the test period, ``L`` defined, and not within the post-event exclusion
  after any seen event of ``M >= min_magnitude`` (aftershocks included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from geoanom._time import NS_PER_DAY
from geoanom.errors import FormatError
from geoanom.stats.protocol import Protocol

REQUIRED_SCORE_ATTRS = ("latitude_deg", "longitude_deg")

#: The window score of a SCORES dataset; ``rmse`` and ``mae`` beside it are diagnostics.
SCORE_VARIABLE = "score"
#: The window score of scores files written by older releases, which have no ``score``.
OLDER_SCORE_VARIABLE = "rmse"


def score_variable(ds, variable: str = OLDER_SCORE_VARIABLE) -> str:
    """THE rule for which variable of a SCORES dataset the alarm is built from.

    ``variable`` is the protocol's ``binning.score_variable``. Its default ``"rmse"``, like
    ``"score"``, names the anomaly score: ``score`` when the dataset has it, else ``rmse``
    (scores files of older releases carry only that). Any other name (a diagnostic such as
    ``"mae"``) is used as given. The result says which was used
    (``primary.score_variable``).
    """
    if variable not in (SCORE_VARIABLE, OLDER_SCORE_VARIABLE):
        return variable
    return SCORE_VARIABLE if SCORE_VARIABLE in ds.variables else OLDER_SCORE_VARIABLE


def check_scores(ds, variable: str = OLDER_SCORE_VARIABLE, path=None) -> None:
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
        return np.floor(dt / (self.bin_days * NS_PER_DAY)).astype(np.int64)

    def bin_start(self, k) -> np.ndarray:
        """Start time of bin(s) ``k``."""
        ns = np.round(np.asarray(k, float) * self.bin_days * NS_PER_DAY).astype(np.int64)
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
    # windows ending before t0 (a remote station's record that starts earlier) have no bin
    keep &= k >= 0
    b.keep = keep
    n = int(k.max()) + 1 if k.size and k.max() >= 0 else 0
    a = np.full(n, -np.inf)
    np.maximum.at(a, k[keep], score[keep])
    a[np.isneginf(a)] = np.nan
    b.a = a
    b.window_bin = k
    return b


def lead_max(a: np.ndarray, lmin: int, lmax: int) -> np.ndarray:
    """``L[j] = max(a[j - lmax .. j - lmin])`` ignoring NaN (NaN if none), vectorised."""
    w = lmax - lmin + 1
    c = np.where(np.isfinite(a), a, -np.inf)
    pad = np.concatenate([np.full(lmax, -np.inf), c])
    out = sliding_window_view(pad, w)[: a.size].max(axis=1)
    return np.where(np.isneginf(out), np.nan, out)


def lead_max_after(a: np.ndarray, lmin: int, lmax: int) -> np.ndarray:
    """Placebo mirror of :func:`lead_max`: ``max(a[j + lmin .. j + lmax])``."""
    return lead_max(a[::-1], lmin, lmax)[::-1]


def to_bins(days: float, bin_days: float) -> int:
    """A duration in days as a whole number of bins (rounded)."""
    return int(round(days / bin_days))


def seen_mask(catalog: pd.DataFrame, lat: float, lon: float, protocol: Protocol,
              min_magnitude: float | None = None, radius_factor_min: float | None = None
              ) -> np.ndarray:
    """:func:`geoanom.labels.seen_by_station` with the protocol's detectability, radius and
    depth cut (``M >= min_magnitude``, default the target magnitude; with
    ``radius_factor_min``: *beyond* that many radii instead)."""
    rule = protocol.target
    m0 = rule.m_min if min_magnitude is None else min_magnitude
    return rule.seen(catalog, lat, lon, min_magnitude=m0, max_depth_km=rule.max_depth_km,
                     beyond_factor=radius_factor_min)


def exclusion(n: int, bins: np.ndarray, length: int) -> np.ndarray:
    """True in bins ``b + 1 .. b + length`` after each of ``bins`` (difference array)."""
    d = np.zeros(n + 2, np.int64)
    b = bins[(bins >= -length) & (bins < n)]
    np.add.at(d, np.clip(b + 1, 0, n), 1)
    np.add.at(d, np.clip(b + length + 1, 0, n), -1)
    return np.cumsum(d)[:n] > 0


# ------------------------------------------------------------------------- the engine

@dataclass
class StationSetup:
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


def station_setup(ds, catalog, protocol: Protocol, mainshock: np.ndarray, lead=None,
                  t0=None, *, seen: np.ndarray | None = None) -> StationSetup:
    """Bins, alarms, targets and eligible bins of one station (see the module docstring).

    ``lead`` is ``(min_days, max_days)`` (default the protocol's); ``t0`` the bin origin
    (default: UTC midnight before the first window end); ``seen`` the events the station sees
    (default :func:`seen_mask`; another target rule's mask for the sensitivity).
    """
    lead = protocol.target.lead_days if lead is None else lead
    bd = protocol.binning_bin_days
    b = bin_scores(ds, protocol, t0=t0)
    n = b.n
    lmin, lmax = max(1, to_bins(lead[0], bd)), max(1, to_bins(lead[1], bd))
    L = lead_max(b.a, lmin, lmax)
    lat, lon = float(ds.attrs["latitude_deg"]), float(ds.attrs["longitude_deg"])
    if seen is None:
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
    excl = exclusion(n, cbins[seen_idx], to_bins(protocol.target.post_event_exclusion_days, bd))
    eligible = test & np.isfinite(L) & ~excl
    split_info.update({"test_start": str(pd.Timestamp(b.bin_start(test_start))),
                       "test_end": str(pd.Timestamp(b.bin_start(n)))})
    return StationSetup(code=str(ds.attrs.get("iaga_code", "station")), binned=b, lmin=lmin,
                  lmax=lmax, L=L, test=test, eligible=eligible, target_idx=tgt,
                  target_bins=cbins[tgt], seen_idx=seen_idx, test_start_bin=test_start,
                  lat=lat, lon=lon, split_info=split_info)


def bin_series(times, values, binned: Binned, how: str = "max") -> np.ndarray:
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
