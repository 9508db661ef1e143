"""Evaluation protocols: the folds of each and the leakage check.

- ``"kfold"``: the paper's 10-fold cross-validation, folds shuffled over samples. Kept only
  for comparison with its Table III and labelled **leaky**: samples are consecutive catalog
  blocks whose patterns overlap their neighbours' main shocks and aftershock sequences, so a
  shuffled test sample has near-copies of itself in the training folds.
- ``"chrono"``: chronological, expanding window. Samples are ordered by main-shock time; the
  later ``chrono_test_fraction`` (default half) is cut into ``chrono_folds`` (5) consecutive
  test blocks, and each block is predicted by a model trained on every earlier sample whose
  main shock (its label) was known before the block's first prediction time
  (``pattern_end_time``).
"""

from __future__ import annotations

import numpy as np

from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.segment import Samples
from geoanom.errors import LeakageError, ValidationError

PROTOCOLS = ("kfold", "chrono")
KFOLD_NOTE = ("LEAKY: the paper's shuffled 10-fold cross-validation; samples are overlapping "
              "catalog blocks, so a shuffled test sample has near-copies in the training "
              "folds; reported only for comparison with the paper")
CHRONO_NOTE = ("chronological expanding-window protocol: every test block is predicted by a "
               "model trained only on samples whose main shock came before it")


def make_folds(samples: Samples, protocol: str, seed: int = 0,
               config: DLEPConfig | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train_idx, test_idx), ...]`` for ``protocol`` (``"kfold"`` or ``"chrono"``)."""
    cfg = config or DLEPConfig()
    n = len(samples)
    if protocol == "kfold":
        from sklearn.model_selection import KFold

        k = min(cfg.n_folds, n)
        if k < 2:
            raise ValidationError("too few samples for cross-validation", expected=">= 2",
                                  found=str(n))
        kf = KFold(n_splits=k, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in kf.split(np.arange(n))]
    if protocol == "chrono":
        known = samples.label_known_time
        order = np.argsort(known, kind="stable")
        n_test = int(round(n * cfg.chrono_test_fraction))
        k = min(cfg.chrono_folds, n_test)
        if k < 1 or n - n_test < 2:
            raise ValidationError("too few samples for the chronological protocol",
                                  expected=">= 2 training and 1 test sample", found=str(n))
        starts = n - n_test + np.cumsum([0] + [len(b) for b in
                                             np.array_split(np.arange(n_test), k)][:-1])
        out = []
        for start, te in zip(starts, np.array_split(order[n - n_test:], k), strict=True):
            t_pred = samples.pattern_end_time[te].min()
            earlier = order[:start]
            # a training label must be known before the block's first prediction time
            tr = earlier[known[earlier] < t_pred]
            if tr.size < 2:
                continue
            out.append((np.sort(tr), np.sort(te)))
        return out
    raise ValidationError("unknown protocol", expected=" or ".join(PROTOCOLS), found=protocol)


def check_chronological(samples: Samples, train_idx: np.ndarray, test_idx: np.ndarray) -> None:
    """Raise LeakageError if a training label (main shock, or the end of the operational
    target window) is not known before every test prediction time (``pattern_end_time``)."""
    if len(train_idx) and len(test_idx):
        if (samples.label_known_time[train_idx].max()
                >= samples.pattern_end_time[test_idx].min()):
            raise LeakageError("training label known at or after a test prediction time",
                               expected="train label time < test pattern_end_time")
