"""The DLEP paper's baselines (its section IV-A-2), on the same samples and folds as DLEP.

- **2016N** (Narayanakumar and Raja 2016): a three-layer back-propagation network
  (input, one hidden layer, output) on the indicators: :func:`make_bp_net`
  (``sklearn.neural_network.MLPClassifier``, logistic hidden units, SGD with momentum).
- **2019F** (Zhang et al. 2019): CART on the indicators computed over a *fixed-day period*
  before each main shock (default 30 days, :func:`fixed_day_indicators`) rather than over
  the ``w``-event pattern: :func:`make_cart` (``sklearn.tree.DecisionTreeClassifier``, Gini).
- **2018CNN** (Huang et al. 2018): a CNN on longitude x latitude map images of the events of
  the ``image_days`` (default 120, as Huang et al.) before each main shock, pixel value =
  the largest magnitude in the cell (:func:`map_images`, :class:`MapCNN`).

Choice (documented): the baselines predict the labels of the *same* samples as DLEP, with
the same folds, so that every column of the table is measured on identical test sets; only
the features differ. Each baseline therefore sees only information from strictly before the
main shock.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from geoanom.dlep.indicators import compute_indicators
from geoanom.dlep.segment import DAY_NS, Samples


def _window_bounds(samples: Samples, days: float) -> tuple[np.ndarray, np.ndarray]:
    """Row ranges ``[lo, hi)`` of ``samples.events`` in ``[t_end - days, t_end)`` where
    ``t_end`` is the sample's end of information (:attr:`Samples.info_end_time`: the main
    shock in the DLEP design, just after the forecast time in the operational one)."""
    t = samples.events["time"].to_numpy("datetime64[ns]").astype(np.int64)
    tm = samples.info_end_time.astype("datetime64[ns]").astype(np.int64)
    lo = np.searchsorted(t, tm - int(round(days * DAY_NS)), side="left")
    hi = np.searchsorted(t, tm, side="left")  # strictly before t_end
    return lo, hi


def fixed_day_indicators(samples: Samples, period_days: float = 30.0, *,
                         max_events: int = 400, chunk: int = 128,
                         char_delta: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Indicators over the events of the ``period_days`` days before each main shock.

    Parameters
    ----------
    samples
        DLEP samples.
    period_days
        Period length in days.
    max_events
        Keep at most the last ``max_events`` events of a period (bounds the O(n^2) ``N_i``).
    chunk
        Samples per vectorised chunk (memory bound).
    char_delta
        See :func:`geoanom.dlep.indicators.compute_indicators`.

    Returns
    -------
    values, mask : (n, 9) arrays as :func:`compute_indicators`.
    """
    lo, hi = _window_bounds(samples, period_days)
    lo = np.maximum(lo, hi - max_events)
    ev = samples.events
    td = (ev["time"].to_numpy("datetime64[ns]").astype(np.int64)
          - (ev["time"].iloc[0].value if len(ev) else 0)) / DAY_NS
    mag = ev["magnitude"].to_numpy(float)
    n = len(samples)
    vals = np.full((n, 9), np.nan)
    mask = np.zeros((n, 9), bool)
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        ln = (hi[sl] - lo[sl])
        width = max(int(ln.max()) if ln.size else 0, 1)
        idx = lo[sl, None] + np.arange(width)[None, :]
        valid = idx < hi[sl, None]
        idx = np.where(valid, idx, 0)
        if len(ev) == 0:
            continue
        v, mk = compute_indicators(td[idx], mag[idx], valid, char_delta=char_delta)
        vals[sl], mask[sl] = v, mk
    return vals, mask


def map_images(samples: Samples, image_days: float = 120.0, size: int = 32,
               magnitude_span: float = 4.0) -> np.ndarray:
    """Map images (n, 1, size, size) of the events in ``[t_main - image_days, t_main)``.

    Rows are latitude (south at row 0), columns longitude, over the region box. A pixel holds
    ``0.1 + 0.9 * clip((M - M_min) / magnitude_span, 0, 1)`` for the largest event in the
    cell (``M_min`` = smallest magnitude of the region's catalog), 0 where no event: the
    "colour = magnitude" of Huang et al. on one channel.
    """
    lo, hi = _window_bounds(samples, image_days)
    ev = samples.events
    n = len(samples)
    img = np.zeros((n, size * size), np.float32)
    if len(ev) == 0 or n == 0:
        return img.reshape(n, 1, size, size)
    lo0, lo1, la0, la1 = samples.region.box
    col = np.clip(((ev["longitude_deg"].to_numpy(float) - lo0) / (lo1 - lo0) * size)
                  .astype(np.int64), 0, size - 1)
    row = np.clip(((ev["latitude_deg"].to_numpy(float) - la0) / (la1 - la0) * size)
                  .astype(np.int64), 0, size - 1)
    mag = ev["magnitude"].to_numpy(float)
    val = (0.1 + 0.9 * np.clip((mag - mag.min()) / magnitude_span, 0, 1)).astype(np.float32)
    counts = hi - lo
    sample_of = np.repeat(np.arange(n), counts)
    ev_idx = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
              + np.repeat(lo, counts))
    np.maximum.at(img, (sample_of, row[ev_idx] * size + col[ev_idx]), val[ev_idx])
    return img.reshape(n, 1, size, size)


class MapCNN(nn.Module):
    """2018CNN encoder: ``(Conv2d 3x3 -> ReLU -> MaxPool 2) x 2 -> Linear -> ReLU`` to
    ``dim`` features (the classifier of :class:`geoanom.dlep.model.FusionNet` follows)."""

    def __init__(self, size: int = 32, dim: int = 64, channels: tuple[int, int] = (16, 32)
                 ) -> None:
        super().__init__()
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, 1, size, size) -> (batch, dim)."""
        return self.net(x)


def make_bp_net(seed: int, hidden: int = 20, max_iter: int = 500):
    """2016N: a three-layer back-propagation network (one hidden layer of logistic units,
    SGD with momentum, cross-entropy), as an sklearn ``MLPClassifier``."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(hidden,), activation="logistic", solver="sgd",
                         learning_rate_init=0.05, momentum=0.9, max_iter=max_iter,
                         random_state=seed)


def make_cart(seed: int, min_samples_leaf: int = 5):
    """2019F: a CART classification tree (Gini impurity) as an sklearn
    ``DecisionTreeClassifier``; ``min_samples_leaf`` keeps leaf probabilities from being
    all 0/1 (a fully grown tree ranks nothing, which would make MAUC meaningless)."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(criterion="gini", min_samples_leaf=min_samples_leaf,
                                  random_state=seed)
