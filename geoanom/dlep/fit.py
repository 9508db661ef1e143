"""Fitting one (seed, fold) job of one method and predicting its test samples: the trivial
references, the sklearn baselines (2016N, 2019F), 2018CNN and the DLEP networks (with extra
streams), one network at a time. :mod:`geoanom.dlep.grouped` trains the DLEP family side by
side with the same numbers."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import torch

from geoanom.dlep import baselines
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.indicators import INDICATOR_NAMES, IndicatorScaler
from geoanom.dlep.jobs import Job, Prediction, job_seed
from geoanom.dlep.loss import make_loss
from geoanom.dlep.methods import TRIVIAL_METHODS, StreamProvider, streams_of
from geoanom.dlep.model import FusionNet, build_dlep
from geoanom.dlep.segment import N_CLASSES, Samples, classify
from geoanom.errors import ValidationError


def pattern_inputs(pattern: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
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
                *, chunk: int = 1024) -> Prediction:
    """Softmax probabilities (len(idx), classes) and fused features (if a FusionNet)."""
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
    return Prediction(proba, np.concatenate(feats) if feats else None)


def trivial_proba(samples: Samples, method: str, train_idx: np.ndarray,
                  test_idx: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probabilities (len(test_idx), 5) of a trivial reference
    (:data:`geoanom.dlep.methods.TRIVIAL_METHODS`), from the training fold only.

    ``majority``: one-hot on the commonest training class (ties: the lower class);
    ``pattern-max``: one-hot on the class of the largest magnitude in the sample's own
    pattern (class edges of the training fold); ``climatology``: the training class
    frequencies for every test sample.
    """
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


def fit_predict(samples: Samples, method: str, job: Job, *, config: DLEPConfig,
                extra_streams: Mapping[str, StreamProvider] | None = None,
                cache: dict | None = None) -> Prediction:
    """Train ``method`` (:mod:`geoanom.dlep.methods`) on ``job``'s training samples
    (labels ``job.y``) and predict its test samples: probabilities (n_test, 5) and, for
    fused networks, the fused test features. ``extra_streams`` (name -> provider) feed the
    ``dlep+<stream>`` and ``<stream>-only`` methods; ``features`` is called with the job's
    train and test indices and fold. ``cache`` shares per-sample baseline inputs (map
    images, fixed-day indicators) between jobs."""
    cache = {} if cache is None else cache
    if method in TRIVIAL_METHODS:
        return Prediction(trivial_proba(samples, method, job.train_idx, job.test_idx, job.y),
                          None)
    if method in ("2016n", "2019f"):
        return _fit_sklearn(samples, method, job, config, cache)
    torch.manual_seed(job_seed(job.seed, job.fold))
    if method == "2018cnn":
        return _fit_map_cnn(samples, job, config, cache)
    return _fit_network(samples, method, job, config, extra_streams)


def _cached(cache: dict, key: tuple, fn: Callable[[], object]):
    if key not in cache:
        cache[key] = fn()
    return cache[key]


def _full_proba(clf, x: np.ndarray) -> np.ndarray:
    """sklearn ``predict_proba`` spread over all 5 classes (absent classes get 0)."""
    p = np.zeros((x.shape[0], N_CLASSES))
    p[:, np.asarray(clf.classes_, int)] = clf.predict_proba(x)
    return p


def _fit_sklearn(samples: Samples, method: str, job: Job, cfg: DLEPConfig, cache: dict
                 ) -> Prediction:
    """2016N (back-propagation net on the indicators) or 2019F (CART on fixed-day
    indicators); a training fold of one class predicts that class."""
    from sklearn.exceptions import ConvergenceWarning

    sub_seed = job_seed(job.seed, job.fold)
    train_idx, test_idx, y = job.train_idx, job.test_idx, job.y
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
        return Prediction(p, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x[train_idx], y[train_idx])
    return Prediction(_full_proba(clf, x[test_idx]), None)


def _fit_map_cnn(samples: Samples, job: Job, cfg: DLEPConfig, cache: dict) -> Prediction:
    """2018CNN: a CNN on map images of the events before the main shock (torch seeded by
    the caller)."""
    train_counts = np.bincount(job.y[job.train_idx], minlength=N_CLASSES)
    img = _cached(cache, ("map", cfg.image_days, cfg.image_size),
                  lambda: baselines.map_images(samples, cfg.image_days, cfg.image_size))
    model = FusionNet({"MAP": baselines.MapCNN(cfg.image_size)}, {"MAP": 64},
                      gated=False, hidden=64, dropout=cfg.dropout)
    inputs = {"MAP": img}
    train_net(model, inputs, job.y, job.train_idx, make_loss(train_counts, dynamic=False),
              epochs=cfg.cnn2018_epochs, batch_size=cfg.batch_size, lr=cfg.cnn2018_lr,
              seed=job_seed(job.seed, job.fold))
    return predict_net(model, inputs, job.test_idx)


def _fit_network(samples: Samples, method: str, job: Job, cfg: DLEPConfig,
                 extra_streams: Mapping[str, StreamProvider] | None) -> Prediction:
    """A DLEP-family network: EF and IF (catalog streams) and the extra streams the
    method names (torch seeded by the caller)."""
    train_idx, test_idx = job.train_idx, job.test_idx
    train_counts = np.bincount(job.y[train_idx], minlength=N_CLASSES)
    catalog, gated, extra_names = streams_of(method, extra_streams)
    inputs: dict[str, np.ndarray] = {}
    extra_mods = {}
    if catalog:
        inputs["EF"], inputs["EF_mask"] = IndicatorScaler().fit(
            samples.indicators, train_idx).transform(samples.indicators)
        inputs["IF"] = pattern_inputs(samples.pattern, train_idx)
    for name in extra_names:
        prov = extra_streams[name]
        arr, mask = prov.features(samples, np.asarray(train_idx), np.asarray(test_idx),
                                  job.fold)
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
    train_net(model, inputs, job.y, train_idx, loss, epochs=cfg.epochs,
              batch_size=cfg.batch_size, lr=cfg.lr, seed=job_seed(job.seed, job.fold))
    return predict_net(model, inputs, test_idx)
