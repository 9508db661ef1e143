"""Night windows in local time and where they fall in a station record.

A night is dated by its evening and runs from local noon to local noon, so every window of
the night (by default 22-02 and 02-06 local time) lies inside it. Local time is mean solar
time, ``UTC + longitude / 15 h``, or UTC plus a fixed offset. :func:`night_grid` gives the
first sample of every night window of a record: a night is kept when at least one of its
windows lies wholly inside the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from geoanom._time import NS_PER_DAY, NS_PER_S
from geoanom.errors import ValidationError

__all__ = ["NightWindow", "night_window", "NightGrid", "local_time_offset_s", "night_grid"]


@dataclass(frozen=True)
class NightWindow:
    """One night window: local hours, its tag, and where it lies in the night.

    ``tag`` is ``lt`` and the local start (``HH`` or ``HHMM``); ``offset_s`` is the start
    after local noon, ``length_s`` the length (s).
    """

    start_h: float
    end_h: float
    tag: str
    offset_s: int
    length_s: int


def night_window(start_h: float, end_h: float) -> NightWindow:
    """The :class:`NightWindow` from ``start_h`` to ``end_h`` local hours (wrapping midnight
    when ``start_h > end_h``)."""
    hh, mm = divmod(int(round(start_h * 60)), 60)
    tag = f"lt{hh:02d}" if mm == 0 else f"lt{hh:02d}{mm:02d}"
    offset = int(round(((start_h - 12.0) % 24.0) * 3600))
    length = int(round(((end_h - start_h) % 24.0) * 3600))
    return NightWindow(float(start_h), float(end_h), tag, offset, length)


@dataclass(frozen=True)
class NightGrid:
    """Sample index of each night window's first sample (``starts``: nights x windows, may
    fall outside the record), window lengths in samples, the record's length and cadence."""

    starts: np.ndarray
    lengths: np.ndarray
    n_samples: int
    t0_ns: int
    period_ns: int


def local_time_offset_s(longitude_deg: float, utc_offset_h: float | None) -> tuple[int, str]:
    """Local time minus UTC in seconds, and the rule in words: ``utc_offset_h`` if given,
    else mean solar time from ``longitude_deg`` (degrees east)."""
    if utc_offset_h is not None:
        return int(round(utc_offset_h * 3600)), f"UTC{utc_offset_h:+g} h"
    lon = float(longitude_deg)
    if not math.isfinite(lon):
        raise ValidationError("local night windows need the station longitude",
                              expected="longitude_deg attr or a UTC offset", found=str(lon))
    lon = (lon + 180.0) % 360.0 - 180.0
    return int(round(lon / 15.0 * 3600)), f"mean solar time, UTC + {lon:g} deg / 15 h"


def night_grid(record: xr.Dataset, windows: Sequence[NightWindow], period_s: float,
               offset_s: int) -> NightGrid:
    """Where the night windows of ``record`` (cadence ``period_s``, local time UTC +
    ``offset_s``) start, for every night with a window wholly inside it."""
    period_ns = int(round(period_s * NS_PER_S))
    if NS_PER_DAY % period_ns:
        raise ValidationError("nightly features need a cadence that divides a day",
                              found=f"{period_s:g} s")
    n = int(record.sizes["time"])
    t0 = int(record["time"].values[0].astype("datetime64[ns]").astype(np.int64))
    off = np.array([w.offset_s for w in windows], np.int64) * NS_PER_S
    lengths = np.array([int(round(w.length_s / period_s)) for w in windows], np.int64)
    # local noon of the evening of each night, UTC; nights around the record, then filtered
    noon = (12 * 3600 - offset_s) * NS_PER_S
    d0 = (t0 - noon) // NS_PER_DAY - 1
    d1 = (t0 + n * period_ns - noon) // NS_PER_DAY + 1
    anchors = np.arange(d0, d1 + 1, dtype=np.int64) * NS_PER_DAY + noon
    starts = np.rint((anchors[:, None] + off[None, :] - t0) / period_ns).astype(np.int64)
    inside = ((starts >= 0) & (starts + lengths[None, :] <= n)).any(axis=1)
    return NightGrid(starts=starts[inside], lengths=lengths, n_samples=n, t0_ns=t0,
                     period_ns=period_ns)
