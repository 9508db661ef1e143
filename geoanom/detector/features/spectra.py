"""Band-averaged Welch spectra of many windows at once, and the spike rule.

Pure array functions (rows are windows, columns samples) behind
:func:`geoanom.detector.features.ulf.ulf_polarisation`:

* :func:`spike_mask`: the samples a ``mean + k sigma`` rule on departures from the
  neighbours drops;
* :class:`WelchPlan` and :func:`band_psd`: Welch's estimate (segments of a fixed length,
  overlapping by a fixed share, detrended, tapered, one-sided density) averaged over each
  band's frequency bins, for all segments of all rows with one strided view and one real FFT.
  A segment with any invalid sample is left out of its row's average: nothing is
  interpolated. On complete rows the band powers equal those of ``scipy.signal.welch`` with
  the same window, overlap and detrending to rounding (``tests/test_features_ulf.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from geoanom.errors import ConfigError

#: Detrending of each segment before tapering (``scipy.signal.welch``'s ``detrend``).
DETRENDS = ("constant", "linear")

def spike_mask(x: np.ndarray, ok: np.ndarray, n_sigma: float) -> np.ndarray:
    """The samples of each row that the spike rule drops.

    A sample's departure from its neighbours is ``r[i] = x[i] - (x[i - 1] + x[i + 1]) / 2``
    (defined where all three are valid). Over a row, the departures have a mean ``m`` and a
    standard deviation ``s``; a sample with ``|r - m| > n_sigma * s`` is a spike. Departures
    from the neighbours, not values: a component wanders by tens of nT over a night, so a
    level rule would drop slow storms and keep the sharp single-sample spikes that spoil a
    spectrum, while signals of 0.01-0.1 Hz sampled at 1 s are smooth from one sample to the
    next. A spike of size ``A`` moves each neighbour's departure by ``A / 2``, so a large
    one takes its two neighbours with it. The rule is applied once, not repeated with the
    spikes removed: repeating it erodes the tails of real, bursty signals.

    Parameters
    ----------
    x
        Values, shape ``(rows, n)`` (any finite number where ``ok`` is False).
    ok
        Valid samples, same shape.
    n_sigma
        The cut-off ``k``.

    Returns
    -------
    numpy.ndarray
        bool, same shape: True where the rule drops a valid sample.
    """
    ok = np.asarray(ok, bool)
    r = x[:, 1:-1] - 0.5 * (x[:, :-2] + x[:, 2:])
    rok = ok[:, 1:-1] & ok[:, :-2] & ok[:, 2:]
    n = rok.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(rok, r, 0.0).sum(axis=-1, keepdims=True) / n
        s = np.sqrt(np.where(rok, (r - m) ** 2, 0.0).sum(axis=-1, keepdims=True) / n)
    out = np.zeros_like(ok)
    out[:, 1:-1] = rok & (np.abs(r - m) > n_sigma * s)
    return out


@dataclass(frozen=True)
class WelchPlan:
    """Segment geometry, taper and band bins of a Welch estimate at one cadence.

    Build it with :func:`welch_plan`. ``bins`` holds the first and one-past-last FFT bin
    that any band uses, ``band_matrix`` (bins x bands) averages the bins of each band.
    """

    period_s: float
    length: int
    step: int
    taper: np.ndarray
    detrend: str
    bins: tuple[int, int]
    band_matrix: np.ndarray
    density_scale: float

    def n_segments(self, n_samples: int) -> int:
        """Segments of a row of ``n_samples`` (those wholly inside it, as Welch takes)."""
        return 0 if n_samples < self.length else (n_samples - self.length) // self.step + 1


def welch_plan(period_s: float, *, segment_s: float, overlap: float, window: str,
               detrend: str, bands_hz) -> WelchPlan:
    """The :class:`WelchPlan` of segments of ``segment_s`` seconds overlapping by
    ``overlap`` (share, ``0 <= overlap < 1``), tapered by the ``scipy.signal.get_window``
    window ``window``, detrended by ``detrend`` (:data:`DETRENDS`), for bands
    ``[(low_hz, high_hz), ...]``. A band holds the bins with ``low_hz <= f < high_hz``;
    a band holding no bin raises ConfigError."""
    length = int(round(segment_s / period_s))
    if length < 4:
        raise ConfigError("ULF segments need at least 4 samples",
                          expected=f"segment_s >= {4 * period_s:g} s at this cadence",
                          found=f"{segment_s:g} s")
    step = length - int(round(overlap * length))
    if detrend not in DETRENDS:
        raise ConfigError("unknown detrending", expected=", ".join(DETRENDS), found=detrend)
    taper = signal.get_window(window, length)
    f = scipy.fft.rfftfreq(length, d=period_s)
    sel = [np.flatnonzero((f >= lo) & (f < hi)) for lo, hi in bands_hz]
    empty = [f"{lo:g}-{hi:g} Hz" for (lo, hi), s in zip(bands_hz, sel, strict=True) if not s.size]
    if empty:
        raise ConfigError("a ULF band holds no frequency bin of the segments",
                          expected=f"bands within {f[1]:.4g}..{f[-1]:.4g} Hz, wider than "
                                   f"{f[1]:.4g} Hz", found=", ".join(empty))
    b0 = int(min(s[0] for s in sel))
    b1 = int(max(s[-1] for s in sel)) + 1
    matrix = np.zeros((b1 - b0, len(sel)))
    for j, s in enumerate(sel):
        matrix[s - b0, j] = 1.0 / s.size
    # one-sided density: band bins are never DC nor Nyquist, so every bin counts twice
    scale = 2.0 * period_s / float(taper @ taper)
    return WelchPlan(period_s=float(period_s), length=length, step=step, taper=taper,
                     detrend=detrend, bins=(b0, b1), band_matrix=matrix, density_scale=scale)


def segment_valid(ok: np.ndarray, plan: WelchPlan) -> np.ndarray:
    """bool ``(rows, segments)``: every sample of the segment is valid."""
    n = ok.shape[-1]
    k = plan.n_segments(n)
    cs = np.concatenate([np.zeros(ok.shape[:-1] + (1,), np.int64),
                         np.cumsum(ok, axis=-1, dtype=np.int64)], axis=-1)
    first = np.arange(k) * plan.step
    return (cs[..., first + plan.length] - cs[..., first]) == plan.length


def band_psd(x: np.ndarray, seg_ok: np.ndarray, plan: WelchPlan) -> np.ndarray:
    """Welch power spectral density averaged over each band (units of ``x`` squared per Hz).

    Parameters
    ----------
    x
        Values, ``(rows, n)``, finite everywhere (invalid samples may hold anything finite:
        the segments that contain them are left out).
    seg_ok
        From :func:`segment_valid`: the segments averaged.
    plan
        From :func:`welch_plan`.

    Returns
    -------
    numpy.ndarray
        ``(rows, bands)``; NaN for a row without a valid segment.
    """
    L = plan.length
    segs = sliding_window_view(x, L, axis=-1)[:, ::plan.step]  # (rows, segments, L), a view
    b0, b1 = plan.bins
    spec = scipy.fft.rfft(segs * plan.taper, axis=-1)[..., b0:b1]
    # detrending is linear, so it is done on the spectrum: subtracting a + b t from the
    # segment subtracts a FFT(taper) + b FFT(t taper) from its tapered transform
    t = np.arange(L) - (L - 1) / 2.0
    if plan.detrend == "linear":
        basis = np.stack([np.full(L, 1.0 / L), t / float(t @ t)], axis=1)
        coef = segs @ basis  # mean and least-squares slope of each segment
        trend = np.stack([scipy.fft.rfft(plan.taper)[b0:b1],
                          scipy.fft.rfft(plan.taper * t)[b0:b1]], axis=0)
    else:
        coef = segs @ np.full((L, 1), 1.0 / L)
        trend = scipy.fft.rfft(plan.taper)[None, b0:b1]
    spec -= coef @ trend
    power = (spec.real ** 2 + spec.imag ** 2) @ plan.band_matrix  # (rows, segments, bands)
    used = seg_ok.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.einsum("rsb,rs->rb", power, seg_ok.astype(np.float64)) / used[:, None]
    return mean * plan.density_scale
