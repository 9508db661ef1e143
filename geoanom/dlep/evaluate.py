"""Evaluation of DLEP, its ablations, baselines and fused variants: folds, training, metrics,
tables in the shape of the paper's Tables III and IV, and the t-SNE figure.

Protocols (METHODS.md section 5):

- ``"kfold"``: the paper's 10-fold cross-validation, folds shuffled over samples. Kept only
  for comparison with its Table III and labelled **leaky**: samples are consecutive catalog
  blocks whose patterns overlap their neighbours' main shocks and aftershock sequences, so a
  shuffled test sample has near-copies of itself in the training folds.
- ``"chrono"``: chronological, expanding window. Samples are ordered by main-shock time; the
  later ``chrono_test_fraction`` (default half) is cut into ``chrono_folds`` (5) consecutive
  test blocks, and each block is predicted by a model trained on every earlier sample whose
  main shock (its label) was known before the block's first prediction time
  (``pattern_end_time``).

Metrics per fold: ACC and MAUC (Hand and Till 2001), ``roc_auc_score(y, proba,
multi_class="ovo", average="macro", labels=range(5))`` on softmax probabilities. A fold whose
test set lacks a class gets MAUC over the pairs of classes present, with the same one-vs-one
binary AUCs sklearn averages (:func:`mauc`). Per seed we report the mean over folds of ACC and
MAUC (the K-fold convention) and the pooled confusion matrix; over seeds, mean and sample
standard deviation.

Methods: ``"dlep"``, ``"dlep-att"`` (no gates), ``"dlep-dyn"`` (plain cross-entropy),
``"2016n"``, ``"2019f"``, ``"2018cnn"`` (:mod:`geoanom.dlep.baselines`), and with
``extra_streams`` (contract in :mod:`geoanom.dlep.model`) ``"dlep+<anything>"`` (EF, IF and
every extra stream) and ``"<anything>-only"`` (extra streams only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from geoanom._jsonfile import json_safe, read_json, write_json
from geoanom._malloc import MMAP_THRESHOLD
from geoanom.dlep.indicators import INDICATOR_NAMES, IndicatorScaler
from geoanom.dlep.segment import N_CLASSES, Samples
from geoanom.errors import FormatError, LeakageError, ValidationError

METHODS = ("dlep", "dlep-att", "dlep-dyn", "2016n", "2019f", "2018cnn")
#: Trivial references every table carries: the training fold's commonest class, the class
#: of the largest event of the pattern, and the training fold's class frequencies
#: (climatology, a constant probabilistic forecast: its MAUC is 50 % by construction, its
#: Brier score is the reference a forecast must beat).
TRIVIAL_METHODS = ("majority", "pattern-max", "climatology")
TABLE3_METHODS = ("2016n", "2018cnn", "2019f", "dlep")
TABLE4_METHODS = ("dlep", "dlep-att", "dlep-dyn")
METHOD_LABELS = {"majority": "majority", "pattern-max": "pattern max",
                 "climatology": "climatology",
                 "dlep": "DLEP", "dlep-att": "DLEP(-Att)", "dlep-dyn": "DLEP(-Dyn)",
                 "2016n": "2016N", "2019f": "2019F", "2018cnn": "2018CNN"}
PROTOCOLS = ("kfold", "chrono")
PAPER_INDIM = 600
RESULT_TYPE = "geoanom.DLEPResults"
KFOLD_NOTE = ("LEAKY: the paper's shuffled 10-fold cross-validation; samples are overlapping "
              "catalog blocks, so a shuffled test sample has near-copies in the training "
              "folds; reported only for comparison with the paper")
CHRONO_NOTE = ("chronological expanding-window protocol: every test block is predicted by a "
               "model trained only on samples whose main shock came before it")

#: The paper's Table III (ACC and MAUC, percent) and Table IV (MAUC, percent).
PAPER_TABLE3: dict[str, dict[str, dict[str, float]]] = {
    region: {"acc": dict(zip(TABLE3_METHODS, acc, strict=True)), "mauc": dict(zip(TABLE3_METHODS, auc, strict=True))}
    for region, acc, auc in (
        ("Sichuan", (57.71, 38.41, 52.32, 81.23), (61.00, 51.23, 71.81, 90.07)),
        ("Xinjiang", (32.71, 34.38, 68.76, 77.52), (55.39, 50.87, 74.19, 92.42)),
        ("Qinghai-Tibet", (34.15, 31.85, 62.47, 75.69), (57.33, 49.98, 68.19, 91.41)),
        ("Shandong-Jiangsu", (67.08, 82.03, 54.85, 84.13), (86.64, 50.00, 67.64, 71.55)),
        ("Japan", (52.68, 28.33, 68.16, 79.42), (69.20, 50.10, 73.59, 90.23)),
        ("Philippines", (74.37, 32.45, 71.41, 77.83), (66.42, 50.41, 63.52, 89.46)),
        ("Chicago", (47.42, 40.07, 76.08, 76.36), (56.84, 51.04, 60.23, 85.02)),
        ("Los Angeles", (35.26, 35.48, 56.36, 79.88), (58.68, 50.67, 72.67, 89.81)),
    )}
PAPER_TABLE4: dict[str, dict[str, float]] = {
    region: dict(zip(TABLE4_METHODS, auc, strict=True)) for region, auc in (
        ("Sichuan", (90.07, 77.04, 55.58)), ("Xinjiang", (92.42, 78.86, 60.84)),
        ("Qinghai-Tibet", (91.41, 79.21, 88.07)), ("Shandong-Jiangsu", (71.55, 60.29, 52.79)),
        ("Japan", (90.23, 79.65, 76.87)), ("Philippines", (89.46, 80.63, 78.54)),
        ("Chicago", (85.02, 77.19, 51.27)), ("Los Angeles", (89.81, 80.78, 75.43)))}


class StreamProvider(Protocol):
    """An extra feature stream (contract shared with :mod:`geoanom.dlep.fusion`)."""

    dim: int

    def encoder(self) -> torch.nn.Module: ...

    def features(self, samples: Samples, train_idx: np.ndarray, test_idx: np.ndarray,
                 fold: int) -> tuple[np.ndarray, np.ndarray | None]: ...


@dataclass
class DLEPConfig:
    """Hyper-parameters (defaults: the paper's Table II where it gives them).

    Attributes
    ----------
    epochs, batch_size, lr
        Paper's Table II: 65 epochs, batch 24, learning rate 0.00025.
    indim
        Width of the EF and IF layers. The paper's Indim1 = Indim2 = 600
        (:data:`PAPER_INDIM`); the default is 128 because at 600 one 10-fold run on the
        Japan samples costs about 740 CPU-seconds (2.5 times the 5-minute budget; the gates
        alone hold 2 x 1200 x 600 weights) against about 80 at 128
        (``bench/bench_dlep.py`` measures both).
    dropout, hidden, channels
        Dropout, classifier hidden width, pattern-CNN channels (not given by the paper).
    lam
        Dynamic-loss batch weight lambda (METHODS.md: 0.8).
    n_folds
        K of the paper's K-fold protocol (10).
    chrono_folds, chrono_test_fraction
        Test blocks and the share of (latest) samples they cover in the chronological
        protocol.
    period_days
        2019F fixed-day period before the main shock (days).
    image_days, image_size
        2018CNN map window (days, Huang et al.: 120) and grid size (pixels, 16 x 16 over
        the region box: a 32 x 32 grid costs 3x the time for no gain we could measure).
    cnn2018_epochs, cnn2018_lr
        2018CNN training (the DLEP paper gives no values).
    bp_hidden, cart_min_leaf
        2016N hidden units; 2019F minimum leaf size.
    fold_parallel
        Train DLEP, DLEP(-Att), DLEP(-Dyn) for all seeds and folds side by side
        (:func:`fit_predict_grouped`; same mathematics, far less CPU overhead).
    group_size
        At most this many (seed, fold) networks side by side in one group; 0 (default)
        picks the largest group whose weights stay within :data:`GROUP_WEIGHT_BUDGET` and
        :data:`GROUP_TENSOR_BYTES` (9 gated networks at Indim 600, every job at Indim
        128). Results do not depend on it (tested); only the speed does.
    """

    epochs: int = 65
    batch_size: int = 24
    lr: float = 0.00025
    indim: int = 128
    dropout: float = 0.3
    hidden: int = 128
    channels: tuple[int, int] = (32, 64)
    lam: float = 0.8
    n_folds: int = 10
    chrono_folds: int = 5
    chrono_test_fraction: float = 0.5
    period_days: float = 30.0
    image_days: float = 120.0
    image_size: int = 16
    cnn2018_epochs: int = 20
    cnn2018_lr: float = 0.001
    bp_hidden: int = 20
    cart_min_leaf: int = 5
    fold_parallel: bool = True
    group_size: int = 0

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


# --------------------------------------------------------------------------- folds


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


# --------------------------------------------------------------------------- metrics


def mauc(y: np.ndarray, proba: np.ndarray, labels: Sequence[int] = tuple(range(N_CLASSES))
         ) -> float:
    """Hand and Till's multi-class AUC of probabilities ``proba`` (n, len(labels)).

    With every label present in ``y`` this is ``roc_auc_score(y, proba, multi_class="ovo",
    average="macro", labels=labels)``. Otherwise the same average of the one-vs-one AUCs
    ``(A(i|j) + A(j|i)) / 2`` runs over the pairs of classes present (NaN if fewer than 2).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    proba = np.asarray(proba, float)
    labels = list(labels)
    present = [c for c in labels if np.any(y == c)]
    if len(present) < 2:
        return float("nan")
    if len(present) == len(labels):
        return float(roc_auc_score(y, proba, multi_class="ovo", average="macro",
                                   labels=labels))
    col = {c: i for i, c in enumerate(labels)}
    pair_scores = []
    for ia, a in enumerate(present):
        for b in present[ia + 1:]:
            sel = (y == a) | (y == b)
            a_score = roc_auc_score(y[sel] == a, proba[sel, col[a]])
            b_score = roc_auc_score(y[sel] == b, proba[sel, col[b]])
            pair_scores.append((a_score + b_score) / 2.0)
    return float(np.mean(pair_scores))


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Confusion matrix (true class rows, predicted class columns)."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return m


# --------------------------------------------------------------------------- results


def _mean_std(x: Sequence[float]) -> tuple[float, float]:
    a = np.asarray([v for v in x if v is not None and np.isfinite(v)], float)
    if a.size == 0:
        return float("nan"), float("nan")
    # one seed has no spread: NaN (printed "n/a"), never a misleading 0
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan")


@dataclass
class MethodResult:
    """One method under one protocol over several seeds (fractions, not percent).

    ``per_seed`` holds, per seed: ``seed``, ``acc``, ``mauc`` (means over folds),
    ``acc_pooled``, ``mauc_pooled`` (all out-of-fold predictions together), ``confusion``
    (pooled, 5 x 5), ``folds`` (per-fold ``n_train``, ``n_test``, ``acc``, ``mauc``,
    ``classes_present``). ``features`` (not serialised) holds the fused features ``FF`` and
    labels of the last fold's test samples of the first seed, for :func:`plot_tsne`.
    """

    method: str
    protocol: str
    seeds: list[int]
    per_seed: list[dict]
    n_samples: int
    note: str = ""
    features: dict | None = field(default=None, repr=False, compare=False)

    @property
    def acc(self) -> list[float]:
        """Per-seed ACC."""
        return [d["acc"] for d in self.per_seed]

    @property
    def mauc(self) -> list[float]:
        """Per-seed MAUC."""
        return [d["mauc"] for d in self.per_seed]

    @property
    def acc_mean(self) -> float:
        return _mean_std(self.acc)[0]

    @property
    def acc_std(self) -> float:
        return _mean_std(self.acc)[1]

    @property
    def mauc_mean(self) -> float:
        return _mean_std(self.mauc)[0]

    @property
    def mauc_std(self) -> float:
        return _mean_std(self.mauc)[1]

    @property
    def confusion(self) -> list:
        """Per-seed pooled confusion matrices."""
        return [d["confusion"] for d in self.per_seed]

    def to_dict(self) -> dict:
        """JSON-safe dict (``type`` = ``geoanom.DLEPMethodResult``)."""
        return json_safe({
            "type": "geoanom.DLEPMethodResult", "method": self.method,
            "protocol": self.protocol, "leaky": self.protocol == "kfold",
            "note": self.note, "seeds": self.seeds,
            "n_samples": self.n_samples, "acc_mean": self.acc_mean, "acc_std": self.acc_std,
            "mauc_mean": self.mauc_mean, "mauc_std": self.mauc_std, "per_seed": self.per_seed})

    @classmethod
    def from_dict(cls, d: Mapping) -> MethodResult:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "geoanom.DLEPMethodResult":
            raise FormatError("not a DLEP method result", expected="geoanom.DLEPMethodResult",
                              found=str(d.get("type")))
        return cls(method=d["method"], protocol=d["protocol"], seeds=list(d["seeds"]),
                   per_seed=list(d["per_seed"]), n_samples=int(d["n_samples"]),
                   note=d.get("note", ""))


@dataclass
class DLEPResults:
    """Every method of one ``geoanom dlep evaluate`` run, written as one JSON file."""

    region: str
    samples: dict
    results: dict[str, dict[str, MethodResult]]  # protocol -> method -> result
    config: dict
    provenance: dict

    type = RESULT_TYPE

    def to_dict(self) -> dict:
        """JSON-safe dict with the paper's rows beside ours."""
        return json_safe({
            "type": RESULT_TYPE, "region": self.region, "samples": self.samples,
            "config": self.config,
            "results": {p: {m: r.to_dict() for m, r in rs.items()}
                        for p, rs in self.results.items()},
            "records": self.records(),
            "notes": {"kfold": KFOLD_NOTE, "chrono": CHRONO_NOTE},
            "paper": {"table3": PAPER_TABLE3.get(self.region),
                      "table4": PAPER_TABLE4.get(self.region)},
            "provenance": self.provenance})

    def records(self) -> list[dict]:
        """One flat record per method, protocol and seed: ``method``, ``protocol``,
        ``leaky``, ``seed``, ``acc``, ``mauc``, ``brier`` (fractions)."""
        out = []
        for p, rs in self.results.items():
            for m, r in rs.items():
                for d in r.per_seed:
                    out.append({"method": m, "protocol": p, "leaky": p == "kfold",
                                "seed": d["seed"], "acc": d["acc"], "mauc": d["mauc"],
                                "brier": d.get("brier")})
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> DLEPResults:
        """Rebuild from :meth:`to_dict` output; FormatError on another type."""
        if not isinstance(d, Mapping) or d.get("type") != RESULT_TYPE:
            raise FormatError("not a DLEP results file", expected=RESULT_TYPE,
                              found=str(d.get("type") if isinstance(d, Mapping) else type(d)))
        res = {p: {m: MethodResult.from_dict(r) for m, r in rs.items()}
               for p, rs in d["results"].items()}
        return cls(region=d["region"], samples=d["samples"], results=res, config=d["config"],
                   provenance=d["provenance"])

    def write(self, path: str | os.PathLike) -> Path:
        """Write strict JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> DLEPResults:
        """Read a results JSON file."""
        return cls.from_dict(read_json(path, "DLEP results file"))


# --------------------------------------------------------------------------- training


def _pattern_inputs(pattern: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    """Pattern features z-scored with training-sample statistics; unknown -> 0 (the mean)."""
    x = pattern[train_idx].reshape(-1, pattern.shape[-1])
    fin = np.isfinite(x)
    cnt = fin.sum(axis=0)
    mean = np.where(cnt > 0, np.where(fin, x, 0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
    sd = np.sqrt(np.where(fin, (x - mean) ** 2, 0).sum(axis=0) / np.maximum(cnt, 1))
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (pattern - mean) / sd
    return np.where(np.isfinite(z), z, 0.0).astype(np.float32)


def train_net(model: torch.nn.Module, inputs: Mapping[str, np.ndarray], y: np.ndarray,
              train_idx: np.ndarray, loss_fn, *, epochs: int, batch_size: int, lr: float,
              seed: int) -> torch.nn.Module:
    """Mini-batch Adam on ``train_idx``: batches reshuffled each epoch with ``seed``, the
    incomplete last batch dropped (batch normalisation needs equal, >= 2 sample batches;
    the dropped samples differ from epoch to epoch). Batch size is capped at the training
    size."""
    tens = {k: torch.as_tensor(np.asarray(v)) for k, v in inputs.items()}
    yt = torch.as_tensor(np.asarray(y, np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    bs = max(2, min(int(batch_size), len(train_idx)))
    model.train()
    for _ in range(int(epochs)):
        order = rng.permutation(np.asarray(train_idx))
        for s in range(0, order.size - bs + 1, bs):
            b = order[s:s + bs]
            bt = torch.as_tensor(b)
            loss = loss_fn(model({k: t[bt] for k, t in tens.items()}), yt[bt])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def predict_net(model: torch.nn.Module, inputs: Mapping[str, np.ndarray], idx: np.ndarray,
                *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray | None]:
    """Softmax probabilities (len(idx), classes) and fused features (if a FusionNet)."""
    from geoanom.dlep.model import FusionNet

    model.eval()
    tens = {k: torch.as_tensor(np.asarray(v)) for k, v in inputs.items()}
    probs, feats = [], []
    idx = np.asarray(idx)
    for s in range(0, idx.size, chunk):
        bt = torch.as_tensor(idx[s:s + chunk])
        batch = {k: t[bt] for k, t in tens.items()}
        if isinstance(model, FusionNet):
            ff = model.fuse(batch)
            feats.append(ff.numpy())
            logits = model.classifier(ff)
        else:
            logits = model(batch)
        probs.append(torch.softmax(logits, dim=1).numpy())
    proba = np.concatenate(probs) if probs else np.zeros((0, N_CLASSES))
    return proba, (np.concatenate(feats) if feats else None)


def trivial_proba(samples: Samples, method: str, train_idx: np.ndarray,
                  test_idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probabilities (len(test_idx), 5) of a trivial reference (:data:`TRIVIAL_METHODS`),
    from the training fold only.

    ``majority``: one-hot on the commonest training class (ties: the lower class);
    ``pattern-max``: one-hot on the class of the largest magnitude in the sample's own
    pattern (class edges of the training fold); ``climatology``: the training class
    frequencies for every test sample.
    """
    from geoanom.dlep.segment import classify

    tr, te = np.asarray(train_idx), np.asarray(test_idx)
    freq = np.bincount(np.asarray(y)[tr], minlength=N_CLASSES).astype(float)
    p = np.zeros((te.size, N_CLASSES))
    if method == "majority":
        p[:, int(np.argmax(freq))] = 1.0
    elif method == "climatology":
        p[:] = freq / max(freq.sum(), 1.0)
    elif method == "pattern-max":
        pmax = np.nanmax(samples.pattern[te, :, 0], axis=1)
        p[np.arange(te.size), classify(pmax, samples.edges_for(tr))] = 1.0
    else:
        raise ValidationError("unknown trivial method", expected=", ".join(TRIVIAL_METHODS),
                              found=method)
    return p


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over samples of ``sum_k (p_k - [y = k])**2`` (0 best,
    2 worst; lower is better)."""
    y = np.asarray(y, int)
    p = np.asarray(proba, float)
    if y.size == 0:
        return float("nan")
    onehot = np.zeros_like(p)
    onehot[np.arange(y.size), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def _full_proba(clf, x: np.ndarray) -> np.ndarray:
    """sklearn ``predict_proba`` spread over all 5 classes (absent classes get 0)."""
    p = np.zeros((x.shape[0], N_CLASSES))
    p[:, np.asarray(clf.classes_, int)] = clf.predict_proba(x)
    return p


def _streams_of(method: str, extra: Mapping[str, StreamProvider] | None
                ) -> tuple[bool, bool, list[str]]:
    """(catalog streams?, gated?, extra stream names) of a network method."""
    if method in ("dlep", "dlep-dyn"):
        return True, True, []
    if method == "dlep-att":
        return True, False, []
    fused = method.startswith("dlep+")
    only = method.endswith("-only")
    if fused or only:
        if not extra:
            raise ValidationError(f"method {method!r} needs extra streams (e.g. geomagnetic "
                                  "scores)", expected="extra_streams")
        return fused, True, list(extra)
    raise ValidationError("unknown DLEP method", expected=", ".join(METHODS)
                          + ", dlep+<stream>, <stream>-only", found=method)


def _cached(cache: dict, key: tuple, fn):
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def fit_predict(samples: Samples, method: str, train_idx: np.ndarray, test_idx: np.ndarray,
                y: np.ndarray, *, seed: int, fold: int, config: DLEPConfig,
                extra_streams: Mapping[str, StreamProvider] | None = None,
                cache: dict | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Train ``method`` on ``train_idx`` (labels ``y``) and return the test probabilities
    (len(test_idx), 5) and, for fused networks, the fused test features."""
    from geoanom.dlep import baselines
    from geoanom.dlep.loss import make_loss
    from geoanom.dlep.model import FusionNet, build_dlep

    cfg = config
    cache = {} if cache is None else cache
    sub_seed = job_seed(seed, fold)
    train_counts = np.bincount(y[train_idx], minlength=N_CLASSES)
    if method in TRIVIAL_METHODS:
        return trivial_proba(samples, method, train_idx, test_idx, y), None
    if method in ("2016n", "2019f"):
        if method == "2016n":
            raw = samples.indicators
            clf = baselines.make_bp_net(sub_seed, hidden=cfg.bp_hidden)
        else:
            raw = _cached(cache, ("fixed_day", cfg.period_days),
                          lambda: baselines.fixed_day_indicators(samples, cfg.period_days))[0]
            clf = baselines.make_cart(sub_seed, min_samples_leaf=cfg.cart_min_leaf)
        x, _ = IndicatorScaler().fit(raw, train_idx).transform(raw)
        if np.unique(y[train_idx]).size < 2:
            p = np.zeros((len(test_idx), N_CLASSES))
            p[:, y[train_idx][0]] = 1.0
            return p, None
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x[train_idx], y[train_idx])
        return _full_proba(clf, x[test_idx]), None

    torch.manual_seed(sub_seed)
    if method == "2018cnn":
        img = _cached(cache, ("map", cfg.image_days, cfg.image_size),
                      lambda: baselines.map_images(samples, cfg.image_days, cfg.image_size))
        model = FusionNet({"MAP": baselines.MapCNN(cfg.image_size)}, {"MAP": 64},
                          gated=False, hidden=64, dropout=cfg.dropout)
        inputs = {"MAP": img}
        train_net(model, inputs, y, train_idx, make_loss(train_counts, dynamic=False),
                  epochs=cfg.cnn2018_epochs, batch_size=cfg.batch_size, lr=cfg.cnn2018_lr,
                  seed=sub_seed)
        return predict_net(model, inputs, test_idx)

    catalog, gated, extra_names = _streams_of(method, extra_streams)
    inputs: dict[str, np.ndarray] = {}
    extra_mods = {}
    if catalog:
        inputs["EF"], inputs["EF_mask"] = IndicatorScaler().fit(
            samples.indicators, train_idx).transform(samples.indicators)
        inputs["IF"] = _pattern_inputs(samples.pattern, train_idx)
    for name in extra_names:
        prov = extra_streams[name]
        arr, mask = prov.features(samples, np.asarray(train_idx), np.asarray(test_idx), fold)
        inputs[name] = np.asarray(arr, np.float32)
        if mask is not None:
            inputs[f"{name}_mask"] = np.asarray(mask, np.float32)
        extra_mods[name] = (prov.encoder(), int(prov.dim))
    model = build_dlep(len(INDICATOR_NAMES), samples.pattern.shape[-1], samples.w,
                       indim=cfg.indim,
                       gated=gated, hidden=cfg.hidden, dropout=cfg.dropout,
                       channels=tuple(cfg.channels), extra=extra_mods,
                       catalog_streams=catalog)
    loss = make_loss(train_counts, dynamic=method != "dlep-dyn", lam=cfg.lam)
    train_net(model, inputs, y, train_idx, loss, epochs=cfg.epochs,
              batch_size=cfg.batch_size, lr=cfg.lr, seed=sub_seed)
    return predict_net(model, inputs, test_idx)


GROUPED_METHODS = ("dlep", "dlep-att", "dlep-dyn")
#: Weights (floats) of all networks of one side-by-side group: a group's weights, gradients
#: and Adam moments then stay near the cache. ``bench/bench_dlep.py`` measures a network
#: step at Indim 600: about 8.0 ms in groups of 8, 8.5 ms in groups of 4 and 10.8 ms in
#: groups of 25-50.
GROUP_WEIGHT_BUDGET = 16_000_000
#: Bytes of a group's largest tensor (weights; gradients and Adam moments have the same
#: size): below glibc's mmap threshold as :func:`geoanom.dlep.keep_freed_memory` sets it,
#: so the tensors freed each step are reused from the heap (above it a network step at
#: Indim 600 costs about 11 ms instead of 8).
GROUP_TENSOR_BYTES = MMAP_THRESHOLD
#: The fixed cost of one step of a group, in network steps: a step of ``G`` networks
#: costs about ``G + GROUP_STEP_OVERHEAD`` network steps' worth of work (``bench_dlep.py``:
#: 9.6 ms alone, 8.2 ms each in fours, 7.7 ms each in eights at Indim 600). It is what
#: :func:`job_groups` weighs against a job idling through its group's longer epochs.
GROUP_STEP_OVERHEAD = 0.3


def job_seed(seed: int, fold: int) -> int:
    """The seed of one (seed, fold) training job: initial weights, batch order and dropout
    of that job derive from it alone (never from which other jobs run beside it)."""
    return int(seed) * 1000 + int(fold)


def fit_predict_grouped(samples: Samples, method: str,
                        jobs: Sequence[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]],
                        config: DLEPConfig, *, bar=None
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train one DLEP-family network per job ``(seed, fold, train_idx, test_idx, y)`` side
    by side (:class:`geoanom.dlep.model.GroupedDLEP`) and return, per job, the test
    probabilities and fused test features.

    Each job's numbers depend on that job alone (tested: one seed run alone equals the same
    seed run beside others, to the last digit): its initial weights, batch order and dropout
    masks derive from :func:`job_seed`; it keeps its own scalers (fitted on its training
    fold), dynamic-loss counts, Adam state and batch size (``min(batch_size, n_train)``;
    jobs are grouped by batch size); a job with fewer batches in an epoch sits out the
    remaining steps (:class:`geoanom.dlep.model.GroupAdam`).
    """
    cfg = config
    groups = job_groups(samples, method, jobs, cfg)
    out: list = [None] * len(jobs)
    if bar is not None and getattr(bar, "total", None) is not None:
        bar.total = max(1, int(cfg.epochs) * len(groups))
    for part in groups:
        bs = _batch_size(jobs[part[0]], cfg)
        res = _fit_group(samples, method, [jobs[k] for k in part], cfg, bs, bar=bar)
        for k, r in zip(part, res, strict=True):
            out[k] = r
    return out


def _batch_size(job, cfg: DLEPConfig) -> int:
    return max(2, min(int(cfg.batch_size), len(job[2])))


def group_limit(samples: Samples, method: str, config: DLEPConfig) -> int:
    """Most (seed, fold) networks of ``method`` trained side by side in one group:
    ``config.group_size``, or with 0 the most whose weights fit :data:`GROUP_WEIGHT_BUDGET`
    and whose largest tensor fits :data:`GROUP_TENSOR_BYTES` (float32)."""
    from geoanom.dlep.model import GroupedDLEP

    if int(config.group_size) > 0:
        return int(config.group_size)
    _, gated, _ = _streams_of(method, None)
    sizes = GroupedDLEP.weight_sizes(len(INDICATOR_NAMES), samples.pattern.shape[-1],
                                     samples.w, indim=config.indim, gated=gated,
                                     hidden=config.hidden, channels=tuple(config.channels))
    return max(1, min(GROUP_WEIGHT_BUDGET // sum(sizes),
                      GROUP_TENSOR_BYTES // (4 * max(sizes))))


def job_groups(samples: Samples, method: str, jobs: Sequence, config: DLEPConfig
               ) -> list[list[int]]:
    """Indices of the jobs trained side by side, group by group: jobs share a group only
    with the same batch size; within a batch size they are ordered by their number of
    batches per epoch and cut into consecutive groups of at most :func:`group_limit` so as
    to minimise the estimated work, sum over groups of (the group's longest epoch, in
    batches) x (its size + :data:`GROUP_STEP_OVERHEAD`): a job with fewer batches than its
    group's longest idles through the remaining steps, and every group step has a fixed
    cost. So jobs of equal length (the seeds of one chronological block) go together, and
    jobs of similar length fill groups up to the limit. Jobs whose batch size is not a
    multiple of :data:`geoanom.dlep.model.ROW_MULTIPLE` train alone (a batched product at
    such row counts depends on the group position). The grouping changes the speed, never
    the numbers (each job's numbers depend on its own seed alone)."""
    from geoanom.dlep.model import rows_group_invariant

    limit = group_limit(samples, method, config)
    sizes = [_batch_size(j, config) for j in jobs]
    out: list[list[int]] = []
    for bs in sorted(set(sizes)):
        idx = sorted((k for k, b in enumerate(sizes) if b == bs),
                     key=lambda k: (len(jobs[k][2]) // bs, k))
        if not rows_group_invariant(bs):
            # batches of this size would move the last bits by group position: alone
            out.extend([k] for k in idx)
            continue
        steps = [len(jobs[k][2]) // bs for k in idx]
        # best[i]: least work for the first i jobs; cut[i]: where its last group starts
        best, cut = [0.0] + [np.inf] * len(idx), [0] * (len(idx) + 1)
        for i in range(1, len(idx) + 1):
            for j in range(max(0, i - limit), i):
                work = best[j] + steps[i - 1] * (i - j + GROUP_STEP_OVERHEAD)
                if work < best[i] - 1e-9:
                    best[i], cut[i] = work, j
        parts, i = [], len(idx)
        while i > 0:
            parts.append([int(k) for k in idx[cut[i]:i]])
            i = cut[i]
        out.extend(reversed(parts))
    return out


def _fit_group(samples: Samples, method: str, jobs, cfg: DLEPConfig, bs: int, *, bar=None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    from geoanom.dlep.loss import dynamic_class_weights
    from geoanom.dlep.model import GroupAdam, GroupedDLEP

    g = len(jobs)
    catalog, gated, _ = _streams_of(method, None)
    ef, efm, pat, ys = [], [], [], []
    for _, _, tr, _, y in jobs:
        z, mk = IndicatorScaler().fit(samples.indicators, tr).transform(samples.indicators)
        ef.append(z)
        efm.append(mk)
        pat.append(_pattern_inputs(samples.pattern, tr))
        ys.append(np.asarray(y, np.int64))
    t_ef, t_efm = torch.as_tensor(np.stack(ef)), torch.as_tensor(np.stack(efm))
    t_pat, t_y = torch.as_tensor(np.stack(pat)), torch.as_tensor(np.stack(ys))
    seeds = [job_seed(sd, fd) for sd, fd, *_ in jobs]
    model = GroupedDLEP(g, len(INDICATOR_NAMES), samples.pattern.shape[-1], samples.w,
                        indim=cfg.indim, gated=gated, hidden=cfg.hidden, dropout=cfg.dropout,
                        channels=tuple(cfg.channels), seeds=seeds)
    opt = GroupAdam(model.parameters(), lr=cfg.lr)
    train_counts = torch.as_tensor(np.stack([
        np.bincount(y[tr], minlength=N_CLASSES) for (_, _, tr, _, y) in jobs]))
    rngs = [np.random.default_rng(sd) for sd in seeds]
    n_batches = np.array([len(j[2]) // bs for j in jobs])
    rows = torch.arange(g)[:, None]
    dynamic = method != "dlep-dyn"
    model.train()
    for epoch in range(int(cfg.epochs)):
        perms = [rng.permutation(np.asarray(j[2])) for rng, j in zip(rngs, jobs, strict=True)]
        for step in range(int(n_batches.max())):
            active_np = step < n_batches
            idx = np.stack([p[step * bs:(step + 1) * bs] if a else p[:bs]
                            for p, a in zip(perms, active_np, strict=True)])
            active = torch.as_tensor(active_np)
            model.set_active(active)
            model.set_step(epoch * 100_003 + step)
            bi = torch.as_tensor(idx)
            logits = model({"EF": t_ef[rows, bi], "EF_mask": t_efm[rows, bi],
                            "IF": t_pat[rows, bi]})
            yb = t_y[rows, bi]
            ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                   yb.reshape(-1), reduction="none"
                                                   ).view(g, -1)
            if dynamic:
                bcount = torch.nn.functional.one_hot(yb, N_CLASSES).sum(dim=1)
                w = dynamic_class_weights(bcount, train_counts, cfg.lam).to(ce.dtype)
                wy = torch.gather(w, 1, yb)
                per_group = (wy * ce).sum(dim=1) / wy.sum(dim=1)
            else:
                per_group = ce.mean(dim=1)
            loss = (per_group * active.to(ce.dtype)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step(active)
        if bar is not None:
            bar.update(1)
    model.set_active(None)
    # evaluation mode: every group sees every sample once (row counts padded to the
    # invariant multiple); each job keeps its test rows
    ff_all, p_all = model.predict({"EF": t_ef, "EF_mask": t_efm, "IF": t_pat})
    out = []
    for k, (_, _, _, te, _) in enumerate(jobs):
        te = np.asarray(te)
        out.append((p_all[k, te].numpy().astype(float), ff_all[k, te].numpy()))
    return out


class LineProgress:
    """Progress as plain lines on stderr for logs and redirected output (no terminal): one
    line at most every ``interval_s`` seconds and one at the end, e.g.
    ``dlep chrono: 12/65 (18%) 0:41 elapsed, eta 3:05 seed 0 fold 3/5``."""

    def __init__(self, total: int, desc: str, *, interval_s: float = 5.0, stream=None) -> None:
        import time

        self.total, self.desc, self.n, self.note = max(int(total), 1), desc, 0, ""
        self.interval_s = float(interval_s)
        self._stream = stream
        self.t0 = self._last = time.perf_counter()

    def update(self, k: int = 1, note: str | None = None) -> None:
        """Advance by ``k``; print a line when ``interval_s`` has passed or at the end."""
        import time

        self.n += k
        if note is not None:
            self.note = note
        now = time.perf_counter()
        if now - self._last >= self.interval_s or self.n >= self.total:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        import sys

        el = now - self.t0
        eta = el / self.n * (self.total - self.n) if self.n else float("nan")

        def fmt(x: float) -> str:
            return f"{int(x) // 60}:{int(x) % 60:02d}" if np.isfinite(x) else "?"

        stream = sys.stderr if self._stream is None else self._stream
        stream.write(f"{self.desc}: {self.n}/{self.total} ({100 * self.n / self.total:.0f}%) "
                     f"{fmt(el)} elapsed, eta {fmt(eta)} {self.note}".rstrip() + "\n")
        stream.flush()

    def close(self) -> None:
        """Nothing to end (lines are complete)."""


def _progress(total: int, desc: str, enabled: bool):
    """A terminal bar (the shared rule of :mod:`geoanom._progress`), or plain lines on
    stderr when stderr is no terminal (a log, a pipe), unless progress is off (``enabled``
    False, ``geoanom -q``, ``GEOANOM_PROGRESS=0``)."""
    import sys

    from geoanom import _progress as gp

    if not enabled or gp._state["quiet"] or os.environ.get("GEOANOM_PROGRESS", "") == "0":
        return gp.Progress(total, desc, False)
    if gp.progress_enabled(None):
        return gp.Progress(total, desc, None)
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return LineProgress(total, desc) if not tty else gp.Progress(total, desc, None)


def evaluate(samples: Samples, method: str, protocol: str, *, seeds: Sequence[int] = (0,),
             extra_streams: Mapping[str, StreamProvider] | None = None,
             config: DLEPConfig | None = None, progress: bool = True,
             cache: dict | None = None) -> MethodResult:
    """Evaluate one method under one protocol for each seed.

    Parameters
    ----------
    samples
        From :func:`geoanom.dlep.segment.segment_catalog`.
    method
        See the module docstring.
    protocol
        ``"kfold"`` (paper, leaky) or ``"chrono"``.
    seeds
        One full cross-validation per seed (folds, initialisation, batch order).
    extra_streams
        Name -> provider (contract in :mod:`geoanom.dlep.model`); ``features`` is called
        once per fold with that fold's train and test indices.
    config
        Hyper-parameters (default :class:`DLEPConfig`).
    progress
        Progress bar on stderr (only when stderr is a terminal).
    cache
        Shared cache of per-sample baseline inputs (map images, fixed-day indicators).

    Returns
    -------
    MethodResult
    """
    cfg = config or DLEPConfig()
    seeds, jobs = _plan(samples, method, protocol, seeds, extra_streams, cfg)
    cache = {} if cache is None else cache
    outs = _run_jobs(samples, method, protocol, jobs, cfg, extra_streams, cache, progress)
    return _assemble(samples, method, protocol, seeds, jobs, outs)


def _plan(samples: Samples, method: str, protocol: str, seeds: Sequence[int],
          extra_streams: Mapping[str, StreamProvider] | None, cfg: DLEPConfig
          ) -> tuple[list[int], list[tuple]]:
    """Checked seeds and the jobs ``(seed, fold, train_idx, test_idx, y)`` of one method
    under one protocol (folds per seed from :func:`make_folds`)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValidationError("evaluate needs at least one seed")
    if len(samples) < 4:
        raise ValidationError("too few DLEP samples to evaluate", expected=">= 4",
                              found=str(len(samples)))
    if method not in METHODS and method not in TRIVIAL_METHODS:
        _streams_of(method, extra_streams)  # validates the name early
    jobs = []
    for seed in seeds:
        for fold, (tr, te) in enumerate(make_folds(samples, protocol, seed, cfg)):
            if protocol == "chrono":
                check_chronological(samples, tr, te)
            jobs.append((seed, fold, tr, te, samples.labels_for(tr)))
    return seeds, jobs


def _run_jobs(samples: Samples, method: str, protocol: str, jobs: Sequence[tuple],
              cfg: DLEPConfig, extra_streams: Mapping[str, StreamProvider] | None,
              cache: dict, progress: bool, bar=None
              ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Test probabilities and fused test features of every job, in job order (``bar``: a
    progress object to use instead of a new one; it counts epochs of side-by-side groups,
    else jobs)."""
    if method in GROUPED_METHODS and cfg.fold_parallel:
        if bar is None:
            bar = _progress(cfg.epochs, f"{method} {protocol} ({len(jobs)} folds side by "
                                        "side)", progress)
        try:
            return fit_predict_grouped(samples, method, jobs, cfg, bar=bar)
        finally:
            bar.close()
    if bar is None:
        bar = _progress(len(jobs), f"{method} {protocol}", progress)
    per_seed = {sd: sum(1 for j in jobs if j[0] == sd) for sd, *_ in jobs}
    outs = []
    try:
        for seed, fold, tr, te, y in jobs:
            outs.append(fit_predict(samples, method, tr, te, y, seed=seed, fold=fold,
                                    config=cfg, extra_streams=extra_streams, cache=cache))
            bar.update(1, note=f"seed {seed} fold {fold + 1}/{per_seed[seed]}")
    finally:
        bar.close()
    return outs


def _assemble(samples: Samples, method: str, protocol: str, seeds: Sequence[int],
              jobs: Sequence[tuple], outs: Sequence[tuple]) -> MethodResult:
    """Per-seed metrics (fold means, pooled confusion) from the jobs' test predictions."""
    per_seed, features = [], None
    for seed in seeds:
        rows, ys, ps, accs, aucs, briers = [], [], [], [], [], []
        mine = [(j, o) for j, o in zip(jobs, outs, strict=True) if j[0] == seed]
        for (_, fold, tr, te, y), (proba, ff) in mine:
            yt = y[te]
            acc = float(np.mean(proba.argmax(1) == yt))
            auc = mauc(yt, proba)
            accs.append(acc)
            aucs.append(auc)
            briers.append(brier(yt, proba))
            rows.append({"fold": fold, "n_train": int(len(tr)), "n_test": int(len(te)),
                         "acc": acc, "mauc": auc, "brier": briers[-1],
                         "classes_present": sorted(int(c) for c in np.unique(yt))})
            ys.append(yt)
            ps.append(proba)
            if seed == seeds[0] and ff is not None and fold == len(mine) - 1:
                features = {"features": ff, "labels": yt, "fold": fold, "seed": seed}
        y_all, p_all = np.concatenate(ys), np.concatenate(ps)
        fin = [a for a in aucs if np.isfinite(a)]
        per_seed.append({
            "seed": seed, "acc": float(np.mean(accs)),
            "mauc": float(np.mean(fin)) if fin else float("nan"),
            "brier": float(np.mean(briers)),
            "acc_pooled": float(np.mean(p_all.argmax(1) == y_all)),
            "mauc_pooled": mauc(y_all, p_all),
            "confusion": confusion(y_all, p_all.argmax(1)).tolist(), "folds": rows})
    return MethodResult(method=method, protocol=protocol, seeds=list(seeds), per_seed=per_seed,
                        n_samples=len(samples),
                        note=KFOLD_NOTE if protocol == "kfold" else CHRONO_NOTE,
                        features=features)


def evaluate_table(samples: Samples, methods: Sequence[str], protocols: Sequence[str], *,
                   seeds: Sequence[int] = (0,),
                   extra_streams: Mapping[str, StreamProvider] | None = None,
                   config: DLEPConfig | None = None, progress: bool = True,
                   workers: int = 1) -> dict[str, dict[str, MethodResult]]:
    """``{protocol: {method: MethodResult}}`` for every method and protocol.

    ``workers`` > 1 spreads the table's training over that many processes (each with as
    many torch threads as the caller has): the jobs are cut into tasks (one per
    side-by-side group of :func:`job_groups`, one per seed for the other methods), the
    costliest first. The numbers are those of ``workers=1`` to the last digit (tested);
    extra streams always run in this process. The workers are started with ``spawn``: a
    script (not a notebook) that asks for more than one must call this under
    ``if __name__ == "__main__":``, as any Python multiprocessing program.
    """
    cfg = config or DLEPConfig()
    workers = int(workers)
    if workers < 1:
        raise ValidationError("workers must be at least 1", found=str(workers))
    if workers == 1 or extra_streams:
        cache: dict = {}
        return {p: {m: evaluate(samples, m, p, seeds=seeds, extra_streams=extra_streams,
                                config=cfg, progress=progress, cache=cache)
                    for m in methods} for p in protocols}
    plans = {(p, m): _plan(samples, m, p, seeds, None, cfg)
             for p in protocols for m in methods}
    tasks = []
    for key, (_, jobs) in plans.items():
        for part in _task_parts(samples, key[1], jobs, cfg):
            tasks.append((_task_cost(samples, key[1], [jobs[k] for k in part], cfg), key,
                          part))
    tasks.sort(key=lambda t: -t[0])  # costliest first: the pool ends together
    outs: dict = {key: [None] * len(jobs) for key, (_, jobs) in plans.items()}
    _run_pool(samples, cfg, plans, tasks, outs, workers, progress)
    return {p: {m: _assemble(samples, m, p, plans[(p, m)][0], plans[(p, m)][1],
                             outs[(p, m)])
                for m in methods} for p in protocols}


def _task_parts(samples: Samples, method: str, jobs: Sequence[tuple], cfg: DLEPConfig
                ) -> list[list[int]]:
    """How one method's jobs are cut into pool tasks."""
    if method in GROUPED_METHODS and cfg.fold_parallel:
        return job_groups(samples, method, jobs, cfg)
    if method in TRIVIAL_METHODS:
        return [list(range(len(jobs)))]
    by_seed: dict[int, list[int]] = {}
    for k, j in enumerate(jobs):
        by_seed.setdefault(j[0], []).append(k)
    return list(by_seed.values())


def _task_cost(samples: Samples, method: str, jobs: Sequence[tuple], cfg: DLEPConfig
               ) -> float:
    """A rough cost (network weights x training steps, other methods scaled to their CPU
    time measured beside DLEP's on Japan) that orders the pool's tasks and weighs the
    progress line; it never touches a result."""
    from geoanom.dlep.model import GroupedDLEP

    if method in TRIVIAL_METHODS:
        return 0.0
    steps = sum(len(j[2]) // max(1, int(cfg.batch_size)) + 1 for j in jobs)
    if method in GROUPED_METHODS:
        _, gated, _ = _streams_of(method, None)
        n = GroupedDLEP.weights_per_group(len(INDICATOR_NAMES), samples.pattern.shape[-1],
                                          samples.w, indim=cfg.indim, gated=gated,
                                          hidden=cfg.hidden, channels=tuple(cfg.channels))
        return float(n) * steps * cfg.epochs
    if method == "2018cnn":
        return 6e5 * steps * cfg.cnn2018_epochs
    return 3.5e6 * steps


def _task_units(method: str, n_jobs: int, cfg: DLEPConfig) -> int:
    """Progress units of one pool task: epochs of its group, or its jobs."""
    return int(cfg.epochs) if method in GROUPED_METHODS and cfg.fold_parallel else n_jobs


_WORKER: dict = {}


class _QueueBar:
    """A worker's progress: each update goes to the parent through a queue as
    ``(task number, units done)``."""

    total = None

    def __init__(self, queue, task: int) -> None:
        self.queue, self.task = queue, int(task)

    def update(self, k: int = 1, note: str | None = None) -> None:
        self.queue.put((self.task, int(k)))

    def close(self) -> None:
        """Nothing to end."""


def _worker_init(samples: Samples, cfg: DLEPConfig, threads: int, queue) -> None:
    import threading

    from geoanom._malloc import keep_freed_memory

    keep_freed_memory()  # our own process: reuse freed blocks (same numbers, faster)
    torch.set_num_threads(int(threads))
    _WORKER.update(samples=samples, cfg=cfg, cache={}, queue=queue)
    parent = os.getppid()

    def watch() -> None:  # a worker whose parent was killed stops instead of training on
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_run(method: str, protocol: str, jobs: list[tuple], task: int) -> list[tuple]:
    w = _WORKER
    return _run_jobs(w["samples"], method, protocol, jobs, w["cfg"], None, w["cache"], False,
                     bar=_QueueBar(w["queue"], task))


def _run_pool(samples: Samples, cfg: DLEPConfig, plans: dict, tasks: list, outs: dict,
              workers: int, progress: bool) -> None:
    import multiprocessing
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # progress in thousandths of the estimated work (task cost / its units per update)
    total_cost = sum(t[0] for t in tasks) or 1.0
    per_unit = [1000.0 * cost / total_cost / max(1, _task_units(key[1], len(part), cfg))
                for cost, key, part in tasks]
    bar = _progress(1000, f"DLEP table ({len(tasks)} tasks on {workers} processes, "
                          "thousandths of the estimated work)", progress)
    shown = [0.0, 0]
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    done_tasks = 0

    def drain() -> None:
        while True:
            try:
                task, k = q.get_nowait()
            except queue_mod.Empty:
                break
            shown[0] += per_unit[task] * k
        step = min(1000, int(shown[0])) - shown[1]
        if step > 0:
            shown[1] += step
            bar.update(step, note=f"{done_tasks}/{len(tasks)} tasks done")

    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(samples, cfg, torch.get_num_threads(), q)) as pool:
            futures = {}
            for i, (_, key, part) in enumerate(tasks):
                jobs = plans[key][1]
                fut = pool.submit(_worker_run, key[1], key[0], [jobs[k] for k in part], i)
                futures[fut] = (key, part)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    key, part = futures[fut]
                    for k, r in zip(part, fut.result(), strict=True):
                        outs[key][k] = r
                    done_tasks += 1
                drain()
        drain()
        if shown[1] < 1000:  # rounding: the line ends at 1000/1000
            bar.update(1000 - shown[1], note=f"{done_tasks}/{len(tasks)} tasks done")
    finally:
        bar.close()


def samples_summary(samples: Samples) -> dict:
    """Counts and configuration of the samples (for results files and tables)."""
    return json_safe({
        "n_samples": len(samples), "class_counts": samples.class_counts(),
        "edges": samples.edges, "config": samples.config,
        "first_mainshock": str(samples.mainshock_time.min()) if len(samples) else None,
        "last_mainshock": str(samples.mainshock_time.max()) if len(samples) else None,
        "indicators_defined_fraction": dict(zip(INDICATOR_NAMES,
                                                samples.indicator_mask.mean(axis=0), strict=True))
        if len(samples) else {}})


# --------------------------------------------------------------------------- tables


def protocol_label(protocol: str) -> str:
    """How a protocol is named in tables: the shuffled 10-fold one carries "(leaky)"."""
    return "kfold (leaky)" if protocol == "kfold" else protocol


def _cell(r: MethodResult | None, what: str) -> str:
    if r is None:
        return "-"
    m, s = (r.acc_mean, r.acc_std) if what == "acc" else (r.mauc_mean, r.mauc_std)
    if not np.isfinite(m):
        return "n/a"
    spread = f"{100 * s:.2f}" if np.isfinite(s) else "n/a"
    return f"{100 * m:.2f}±{spread}"


def _columns(results: Mapping[str, MethodResult], first: Sequence[str]) -> list[str]:
    cols = [m for m in first if m in results or m in TABLE3_METHODS]
    cols += [m for m in results if m not in cols and m not in TABLE4_METHODS[1:]
             and m not in TRIVIAL_METHODS]
    cols += [m for m in TRIVIAL_METHODS if m in results]
    return cols


def format_table3(results: Mapping[str, MethodResult], region: str, protocol: str) -> str:
    """Text table shaped like the paper's Table III (ACC and MAUC, percent, mean±std over
    seeds, "n/a" spread for one seed), with the trivial references beside and the paper's
    row under ours when the region is one of its eight."""
    cols = _columns(results, TABLE3_METHODS)
    head = ["Region", *[f"ACC {METHOD_LABELS.get(m, m)}" for m in cols],
            *[f"MAUC {METHOD_LABELS.get(m, m)}" for m in cols]]
    ours = [f"{region} ({protocol_label(protocol)})",
            *[_cell(results.get(m), "acc") for m in cols],
            *[_cell(results.get(m), "mauc") for m in cols]]
    rows = [head, ours]
    paper = PAPER_TABLE3.get(region)
    if paper:
        rows.append([f"{region} (paper)",
                     *[f"{paper['acc'][m]:.2f}" if m in paper["acc"] else "-" for m in cols],
                     *[f"{paper['mauc'][m]:.2f}" if m in paper["mauc"] else "-" for m in cols]])
    return _render("Table III: ACC and MAUC (%)", rows)


def format_table4(results: Mapping[str, MethodResult], region: str, protocol: str) -> str:
    """Text table shaped like the paper's Table IV (MAUC of DLEP and its ablations)."""
    cols = list(TABLE4_METHODS)
    rows = [["Region", *[f"MAUC {METHOD_LABELS[m]}" for m in cols]],
            [f"{region} ({protocol_label(protocol)})",
             *[_cell(results.get(m), "mauc") for m in cols]]]
    paper = PAPER_TABLE4.get(region)
    if paper:
        rows.append([f"{region} (paper)", *[f"{paper[m]:.2f}" for m in cols]])
    return _render("Table IV: MAUC (%)", rows)


def compare(a: MethodResult, b: MethodResult, what: str = "mauc") -> dict:
    """Difference of two methods' per-seed means (``a - b``, fraction) and whether it is an
    effect: only when it exceeds the larger of the two seed spreads (sample standard
    deviations over seeds). With fewer than two seeds the spread is unknown and no effect
    is claimed."""
    va = np.asarray([v for v in (a.acc if what == "acc" else a.mauc) if v is not None], float)
    vb = np.asarray([v for v in (b.acc if what == "acc" else b.mauc) if v is not None], float)
    diff = float(np.nanmean(va) - np.nanmean(vb))
    if min(va.size, vb.size) < 2:
        return {"a": a.method, "b": b.method, "metric": what, "diff": diff, "spread": None,
                "effect": False, "verdict": "one seed: spread unknown, no effect claimed"}
    spread = float(max(np.nanstd(va, ddof=1), np.nanstd(vb, ddof=1)))
    effect = abs(diff) > spread
    return {"a": a.method, "b": b.method, "metric": what, "diff": diff, "spread": spread,
            "effect": bool(effect),
            "verdict": ("larger than the seed spread" if effect
                        else "within the seed spread: not an effect")}


def format_effects(results: Mapping[str, MethodResult], reference: str = "dlep",
                   what: str = "mauc") -> str:
    """One line per method: ``reference`` minus that method (points) against the seed
    spread, with the verdict of :func:`compare`."""
    if reference not in results:
        return ""
    ref = results[reference]
    lines = [f"{METHOD_LABELS.get(reference, reference)} minus each method ({what.upper()}, "
             f"points; an effect only beyond the seed spread):"]
    for m, r in results.items():
        if m == reference:
            continue
        c = compare(ref, r, what)
        sp = "n/a" if c["spread"] is None else f"{100 * c['spread']:.2f}"
        lines.append(f"  vs {METHOD_LABELS.get(m, m)}: {100 * c['diff']:+.2f} "
                     f"(seed spread {sp}): {c['verdict']}")
    return "\n".join(lines)


def _render(title: str, rows: list[list[str]]) -> str:
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in width))
    return "\n".join(lines)


# --------------------------------------------------------------------------- t-SNE


def plot_tsne(features: np.ndarray, labels: np.ndarray, ax=None, *, seed: int = 0,
              perplexity: float = 30.0, title: str | None = None):
    """Draw a 2-D t-SNE embedding of fused features coloured by class (the paper's Fig. 6)
    on ``ax`` (a new figure if None) and return the axes."""
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    x = np.asarray(features, float)
    if x.shape[0] < 3:
        raise ValidationError("t-SNE needs at least 3 samples", found=str(x.shape[0]))
    perp = min(perplexity, max(1.0, (x.shape[0] - 1) / 3.0))
    emb = TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca").fit_transform(x)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    labels = np.asarray(labels)
    for c in range(N_CLASSES):
        sel = labels == c
        if sel.any():
            ax.scatter(emb[sel, 0], emb[sel, 1], s=10, label=f"class {c + 1}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def write_tsne_png(result: MethodResult, path: str | os.PathLike, *, seed: int = 0) -> Path:
    """t-SNE PNG of the fused features kept in ``result`` (written atomically)."""
    import matplotlib.pyplot as plt

    from geoanom._atomic import atomic_path

    if not result.features:
        raise ValidationError("no fused features kept for this method",
                              expected="a DLEP-family method", found=result.method)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    f = result.features
    plot_tsne(f["features"], f["labels"], ax, seed=seed,
              title=f"{METHOD_LABELS.get(result.method, result.method)} fused features "
                    f"(t-SNE, {result.protocol} fold {f['fold']} test)")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return Path(path)
