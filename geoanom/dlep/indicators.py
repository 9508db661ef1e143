"""The eight DLEP seismicity indicators plus the a-value, vectorised over samples.

Formulas: METHODS.md section 3 (Panakkat and Adeli 2007, the lineage DLEP cites). Each
sample is a row of event times (days) and magnitudes; rows may be padded (``valid`` marks
real events), so fixed-length patterns and variable-length fixed-day periods use the same
code. Columns (:data:`INDICATOR_NAMES`):

=====  ===============  ==========================================================  =========
col    name             definition (n events, times t in days, magnitudes M)        sanity
=====  ===============  ==========================================================  =========
0      T_days           t_n - t_1                                                    >= 0
1      M_mean           mean(M)                                                      in [min M, max M]
2      log10_dE_sqrt    log10(sum(sqrt(E_i)) / T), E = 10**(11.8 + 1.5 M) erg        ~5..15
3      b                least squares slope of log10 N_i = a - b M_i                 ~0.3..3
4      a                sum(log10 N_i + b M_i) / n                                   ~b * M_mean
5      eta              sum((log10 N_i - (a - b M_i))**2) / (n - 1)                 >= 0
6      dM               max(M) - a / b                                               ~ -2..2
7      mu_days          mean interval between characteristic events                 > 0
8      c                std(intervals) / mu (population std)                         >= 0
=====  ===============  ==========================================================  =========

``N_i`` is the number of events of the row with magnitude ``>= M_i``. Characteristic events
have ``M >= max(M) - char_delta`` (default 0.5).

Undefined cases give NaN and ``mask = False`` (never a silent 0 or 1): ``dE`` when
``T = 0``; ``b``, ``a``, ``eta``, ``dM`` when all magnitudes are equal (zero denominator) or
``n < 2``; ``dM`` when ``b = 0``; ``mu`` with fewer than 2 characteristic events; ``c`` with
fewer than 3 or ``mu = 0``. :class:`IndicatorScaler` imputes them and z-scores with statistics
of the training fold only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geoanom.errors import LeakageError, ValidationError

INDICATOR_NAMES = ("T_days", "M_mean", "log10_dE_sqrt", "b", "a", "eta", "dM", "mu_days", "c")
LOG10_E = float(np.log10(np.e))


def _as_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValidationError("indicator input must be (samples, events)", found=str(x.shape))
    return x


def compute_indicators(
    times_days: np.ndarray,
    magnitudes: np.ndarray,
    valid: np.ndarray | None = None,
    *,
    char_delta: float = 0.5,
    b_method: str = "lsq",
    mc: float | np.ndarray | None = None,
    magnitude_step: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Indicators of each row of events.

    Parameters
    ----------
    times_days
        (samples, events) event times in days (any origin), ascending within a row.
    magnitudes
        (samples, events) magnitudes.
    valid
        (samples, events) bool, True for real events (default: all).
    char_delta
        Characteristic events: ``M >= max(M) - char_delta`` (magnitude units).
    b_method
        ``"lsq"`` (METHODS.md formula, default) or ``"aki"``: Aki-Utsu maximum likelihood
        ``b = log10(e) / (M_mean - (mc - magnitude_step / 2))``; ``a``, ``eta``, ``dM`` then use
        that ``b``.
    mc
        Completeness magnitude for ``"aki"`` (default: the row minimum).
    magnitude_step
        Catalog magnitude resolution for ``"aki"``.

    Returns
    -------
    values : (samples, 9) float, NaN where undefined
    mask : (samples, 9) bool, True where defined
    """
    t = _as_rows(times_days)
    m = _as_rows(magnitudes)
    if t.shape != m.shape:
        raise ValidationError("times and magnitudes differ in shape",
                              expected=str(m.shape), found=str(t.shape))
    v = np.ones(m.shape, bool) if valid is None else np.asarray(valid, bool)
    v = v & np.isfinite(m) & np.isfinite(t)
    n_rows = m.shape[0]
    out = np.full((n_rows, len(INDICATOR_NAMES)), np.nan)
    if n_rows == 0 or m.shape[1] == 0:
        return out, np.zeros(out.shape, bool)
    n = v.sum(axis=1).astype(float)
    has = n >= 1
    mm = np.where(v, m, 0.0)
    tt = np.where(v, t, np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        t_first = np.nanmin(np.where(v, tt, np.inf), axis=1)
        t_last = np.nanmax(np.where(v, tt, -np.inf), axis=1)
        T = np.where(has, t_last - t_first, np.nan)
        m_sum = mm.sum(axis=1)
        m_mean = np.where(has, m_sum / n, np.nan)
        m_max = np.where(has, np.max(np.where(v, m, -np.inf), axis=1), np.nan)
        m_min = np.where(has, np.min(np.where(v, m, np.inf), axis=1), np.nan)

        # log10 sum sqrt(E) = log10 sum 10**(5.9 + 0.75 M), summed around the row maximum
        half = 5.9 + 0.75 * m
        top = 5.9 + 0.75 * m_max
        s = np.where(v, 10.0 ** (half - top[:, None]), 0.0).sum(axis=1)
        log_de = np.where(has & (T > 0), top + np.log10(s) - np.log10(T), np.nan)

        # N_i: events of the row with magnitude >= M_i (an O(w^2) comparison, vectorised)
        ge = (m[:, None, :] >= m[:, :, None]) & v[:, None, :] & v[:, :, None]
        n_i = ge.sum(axis=2).astype(float)
        log_n = np.where(v, np.log10(np.maximum(n_i, 1.0)), 0.0)
        if b_method == "lsq":
            num = n * (mm * log_n).sum(axis=1) - m_sum * log_n.sum(axis=1)
            den = m_sum ** 2 - n * (mm ** 2).sum(axis=1)
            ok = (n >= 2) & (np.abs(den) > 1e-12 * np.maximum(1.0, m_sum ** 2))
            b = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
        elif b_method == "aki":
            mc_row = m_min if mc is None else np.broadcast_to(np.asarray(mc, float), m_min.shape)
            den = m_mean - (mc_row - magnitude_step / 2.0)
            b = np.where((n >= 2) & (den > 0) & (m_max > m_min), LOG10_E / den, np.nan)
        else:
            raise ValidationError("unknown b-value method", expected="'lsq' or 'aki'",
                                  found=str(b_method))
        a = np.where(np.isfinite(b), (log_n.sum(axis=1) + b * m_sum) / n, np.nan)
        resid = np.where(v, log_n - (a[:, None] - b[:, None] * m), 0.0)
        eta = np.where(np.isfinite(b) & (n >= 2), (resid ** 2).sum(axis=1) / (n - 1), np.nan)
        d_m = np.where(np.isfinite(b) & (b != 0), m_max - a / np.where(b != 0, b, 1.0), np.nan)

        # intervals between consecutive characteristic events: the previous characteristic
        # time of each characteristic event is a running max of earlier characteristic times
        char = v & (m >= (m_max - char_delta - 1e-9)[:, None])
        tc = np.where(char, t, np.nan)
        prev = np.fmax.accumulate(np.concatenate(
            [np.full((n_rows, 1), np.nan), tc[:, :-1]], axis=1), axis=1)
        gaps = np.where(char, t - prev, np.nan)
        n_gap = np.isfinite(gaps).sum(axis=1)
        gsum = np.nansum(gaps, axis=1)
        mu = np.where(n_gap >= 1, gsum / np.maximum(n_gap, 1), np.nan)
        dev = np.where(np.isfinite(gaps), gaps - mu[:, None], 0.0)
        sd = np.sqrt((dev ** 2).sum(axis=1) / np.maximum(n_gap, 1))
        c = np.where((n_gap >= 2) & (mu > 0), sd / np.where(mu > 0, mu, 1.0), np.nan)

    out[:] = np.column_stack([T, m_mean, log_de, b, a, eta, d_m, mu, c])
    out[~np.isfinite(out)] = np.nan
    return out, np.isfinite(out)


@dataclass
class IndicatorScaler:
    """Imputation and z-scoring of indicators with training-fold statistics only.

    ``fit`` stores, per column, the mean and standard deviation of the *defined* training
    values; ``transform`` imputes undefined values with the training mean (so they become 0
    after z-scoring) and returns the mask beside, so a model can tell imputed from observed.
    A column undefined in every training sample is set to 0 (mask False everywhere).
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def fit(self, values: np.ndarray, train_idx: np.ndarray) -> IndicatorScaler:
        """Fit on rows ``train_idx`` of ``values`` (samples, k)."""
        x = np.asarray(values, float)[np.asarray(train_idx)]
        if x.shape[0] == 0:
            raise LeakageError("indicator scaler needs training rows", found="none")
        fin = np.isfinite(x)
        cnt = fin.sum(axis=0)
        mean = np.where(cnt > 0, np.where(fin, x, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
        var = np.where(fin, (x - mean) ** 2, 0.0).sum(axis=0) / np.maximum(cnt, 1)
        std = np.sqrt(var)
        self.mean = mean
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z-scored values with undefined -> 0, mask) as float32 arrays."""
        if self.mean is None:
            raise ValidationError("IndicatorScaler used before fit")
        x = np.asarray(values, float)
        mask = np.isfinite(x)
        z = np.where(mask, (x - self.mean) / self.std, 0.0)
        return z.astype(np.float32), mask.astype(np.float32)
