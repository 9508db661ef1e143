"""The significance protocol as a prospective test applies it: the protocol's time bins
counted from the registered test start, the per-bin alarm value and the window that decides
it, and the entry points of :mod:`geoanom.stats` (:func:`load_protocol`,
:func:`protocol_hash`, :func:`run_test`).

This is the one module of :mod:`geoanom.prereg` that imports ``geoanom.stats.protocol``; the
others take those names from here.

Bins follow PROTOCOL.md: bin ``k`` is ``[t0 + k b, t0 + (k + 1) b)`` with ``b`` the
protocol's ``binning.bin_days`` and ``t0`` the registered test start (a UTC midnight); a
window belongs to the bin its END falls in, and the bin's alarm value is the maximum window
score there (:func:`geoanom.stats.alarm.bin_scores`). The alarm raised in bin ``k`` is in
force for target events in bins ``k + lead_min .. k + lead_max``
(:func:`forecast_window`), the lead window of the primary test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._time import NS_PER_DAY
from geoanom.stats.alarm import bin_scores, lead_max, score_variable, to_bins
from geoanom.stats.protocol import Protocol, load_protocol, protocol_hash
from geoanom.stats.test import run_test

__all__ = ["BinAlarms", "Protocol", "bin_alarms", "bin_bounds", "bin_length_ns",
           "forecast_window", "iso", "lead_alarm", "lead_bins", "load_protocol", "protocol_hash", "run_test"]


@dataclass(frozen=True)
class BinAlarms:
    """Per-bin alarm values of one scored record, on bins counted from ``t0``.

    Attributes
    ----------
    bins
        Bin numbers (0 = the bin starting at ``t0``), ascending, one per bin that holds the
        end of at least one window of the record (scored or not).
    value
        The bin's alarm value (NaN where no window with a finite score ends in it).
    window_start, window_end
        The window that decides ``value`` (NaT where ``value`` is NaN).
    """

    bins: np.ndarray
    value: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray


def bin_length_ns(bin_days: float) -> int:
    """The length of a bin in whole nanoseconds."""
    return int(round(bin_days * NS_PER_DAY))


def bin_bounds(t0: np.datetime64, bin_days: float, k) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (``datetime64[ns]``) of bin(s) ``k`` counted from ``t0``."""
    k = np.asarray(k, dtype=np.int64)
    step = np.timedelta64(bin_length_ns(bin_days), "ns")
    t0 = np.datetime64(t0, "ns")
    return t0 + k * step, t0 + (k + 1) * step


def bin_alarms(scores: xr.Dataset, protocol: Protocol, t0: np.datetime64) -> BinAlarms:
    """The alarm value of every bin (from ``t0``) that a window of ``scores`` ends in.

    Windows ending before ``t0`` are left out. The value is the protocol's alarm function
    (the maximum of ``binning.score_variable`` over the windows ending in the bin, with the
    local-night selection when the protocol asks for it).
    """
    b = bin_scores(scores, protocol, t0=np.datetime64(t0, "ns"))
    var = score_variable(scores, protocol.binning_score_variable)
    start = scores["start"].values.astype("datetime64[ns]")
    end = scores["end"].values.astype("datetime64[ns]")
    k = b.window_bin
    present = np.unique(k[k >= 0])
    value = np.full(present.size, np.nan)
    w_start = np.full(present.size, np.datetime64("NaT"), "datetime64[ns]")
    w_end = w_start.copy()
    keep = np.flatnonzero(b.keep)
    if keep.size:
        score = scores[var].values.astype(float)[keep]
        # the first window of each bin in (bin ascending, score descending) order decides it
        order = keep[np.lexsort((-score, k[keep]))]
        kb = k[order]
        first = order[np.r_[True, kb[1:] != kb[:-1]]]
        pos = np.searchsorted(present, k[first])
        value[pos] = b.window_score[first]
        w_start[pos] = start[first]
        w_end[pos] = end[first]
    return BinAlarms(bins=present, value=value, window_start=w_start, window_end=w_end)


def lead_bins(protocol: Protocol) -> tuple[int, int]:
    """The lead window ``(lead_min, lead_max)`` in whole bins, as the primary test uses it."""
    bd = protocol.binning_bin_days
    return (max(1, to_bins(protocol.target.lead_days[0], bd)),
            max(1, to_bins(protocol.target.lead_days[1], bd)))


def lead_alarm(a: np.ndarray, protocol: Protocol) -> np.ndarray:
    """The alarm in force at each bin of a per-bin series ``a``: its maximum over the lead
    window before the bin (:func:`geoanom.stats.alarm.lead_max`)."""
    return lead_max(a, *lead_bins(protocol))


def forecast_window(t0: np.datetime64, protocol: Protocol, k) -> tuple[np.ndarray, np.ndarray]:
    """The period an alarm raised in bin(s) ``k`` is in force for: from the start of bin
    ``k + lead_min`` to the end of bin ``k + lead_max``."""
    lmin, lmax = lead_bins(protocol)
    k = np.asarray(k)
    start, _ = bin_bounds(t0, protocol.binning_bin_days, k + lmin)
    _, end = bin_bounds(t0, protocol.binning_bin_days, k + lmax)
    return start, end


def iso(t) -> str | None:
    """A UTC time as ISO 8601 text (None for NaT)."""
    ts = pd.Timestamp(t)
    return None if pd.isna(ts) else ts.isoformat()
