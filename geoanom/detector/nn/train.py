"""Training the negative-learning BiLSTM autoencoder on a window set.

What the loop guarantees (METHODS.md section 2):

* the window set passes :func:`geoanom.detector.windows.check_no_leakage` before anything is learnt;
* batches are balanced: each holds normal and seismic training windows in a fixed proportion
  (the plain autoencoder, ``lam = 0``, sees normal windows only);
* gradients are clipped; ``lambda`` ramps from 0;
* early stopping and model selection use the AUC of *validation* seismic versus normal
  errors (the chronologically held-out split), never training windows; where the validation
  split lacks a class, the mean validation normal error is used instead and the log says so;
* a checkpoint (weights, optimizer, epoch, loss state, best weights, RNG states, log) is
  written atomically after every epoch, and ``resume=True`` continues an interrupted run to
  the same result as an uninterrupted one (bit for bit on CPU: batch order is drawn from a
  generator seeded by ``(seed, epoch)``, so no sampler state is lost with the process);
* the device is explicit (``cuda`` when present, CPU otherwise), CPU results deterministic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from geoanom._atomic import atomic_path
from geoanom._progress import Progress
from geoanom.detector.nn.artifact import save_model
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.detector.nn.losses import PENALTIES, NegativeLearningLoss
from geoanom.errors import ConfigError, ValidationError
from geoanom.provenance import config_hash, provenance

CHECKPOINT = "checkpoint.pt"
_log = logging.getLogger("geoanom.train")


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved in ``model.json``).

    Attributes
    ----------
    hidden_size, num_layers, latent_size, output_bound
        Architecture (see :class:`~geoanom.detector.nn.bilstm.BiLSTMAutoencoder`).
    penalty, lam, ramp_epochs, margin_factor, eps
        Negative-learning loss (see :class:`~geoanom.detector.nn.losses.NegativeLearningLoss`);
        ``lam = 0`` trains the plain autoencoder. ``margin_factor`` defaults to 10: on the
        synthetic worlds of ``bench/detector_auc.py`` the plain autoencoder already gives
        seismic training windows a median error 2-4 times the normal one, so a 3x margin
        leaves the hinge inactive on about half of them; 10x keeps it active on nearly all
        (chosen on validation AUC only, see ``bench/DETECTOR_RESULTS.md``).
    lr, weight_decay
        Adam learning rate and L2 weight decay.
    batch_size
        Windows per batch.
    seismic_fraction
        Share of seismic windows in each batch (when ``lam > 0``).
    max_epochs, patience
        Stop after ``max_epochs``, or once ``lambda`` is at full strength and the validation
        AUC has not improved for ``patience`` epochs.
    clip_norm
        Gradient-norm clipping threshold.
    batches_per_epoch
        Cap on batches per epoch (``None``: one pass over the normal training windows).
    eval_batch_size
        Windows per forward pass when scoring the validation split.
    seed
        Seeds weights and batch order.
    deterministic
        Ask torch for deterministic algorithms.
    """

    hidden_size: int = 32
    num_layers: int = 1
    latent_size: int = 16
    output_bound: float = 10.0
    penalty: str = "hinge"
    lam: float = 1.0
    ramp_epochs: int = 5
    margin_factor: float = 10.0
    eps: float = 1e-3
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    seismic_fraction: float = 0.5
    max_epochs: int = 50
    patience: int = 8
    clip_norm: float = 1.0
    batches_per_epoch: int | None = None
    eval_batch_size: int = 512
    seed: int = 0
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.penalty not in PENALTIES:
            raise ConfigError("unknown penalty", expected=" or ".join(PENALTIES),
                              found=str(self.penalty))
        if not 0 < self.seismic_fraction < 1:
            raise ConfigError("seismic_fraction must be in (0, 1)",
                              found=str(self.seismic_fraction))
        if self.batch_size < 2 or self.max_epochs < 1 or self.patience < 1:
            raise ConfigError("batch_size >= 2, max_epochs >= 1 and patience >= 1 required",
                              found=f"{self.batch_size}, {self.max_epochs}, {self.patience}")
        if not (self.lr > 0 and self.clip_norm > 0 and self.lam >= 0):
            raise ConfigError("lr and clip_norm must be > 0, lam >= 0",
                              found=f"{self.lr}, {self.clip_norm}, {self.lam}")

    def to_dict(self) -> dict:
        """JSON-safe dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from a dict; unknown keys are an error (a typo must not pass silently)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError("unknown training option(s): " + ", ".join(unknown),
                              expected="one of " + ", ".join(sorted(names)),
                              found=", ".join(unknown))
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError("bad training options", found=str(exc)) from None


@dataclass
class TrainResult:
    """What :func:`train` returns. ``model`` holds the selected (best-validation) weights."""

    model: BiLSTMAutoencoder
    log: list[dict]
    best_epoch: int
    best_metric: float
    metric_name: str
    config: TrainConfig
    device: str
    out_dir: Path
    epochs_run: int
    stopped_early: bool
    meta: dict = field(default_factory=dict)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``; ``None``: ``cuda`` when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but no CUDA device is available",
                          expected="cpu", found=str(device))
    return dev


@contextlib.contextmanager
def _deterministic(enabled: bool, dev: torch.device) -> Iterator[None]:
    """Turn on torch's deterministic algorithms for the duration, then restore."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        if dev.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only on CUDA: some LSTM kernels have no deterministic variant there.
        torch.use_deterministic_algorithms(True, warn_only=dev.type == "cuda")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_before)


def window_set_arrays(ws) -> dict[str, np.ndarray]:
    """The arrays training needs from a window set, checked against its contract."""
    for name in ("data", "valid", "label", "split"):
        if name not in ws:
            raise ValidationError(f"window set lacks variable {name!r}",
                                  expected="data, valid, label, split", found=str(list(ws)))
    data = ws["data"].transpose("window", "step", "component").values
    valid = ws["valid"].transpose("window", "step", "component").values
    if data.shape != valid.shape:
        raise ValidationError("window set data and valid differ in shape",
                              found=f"{data.shape} vs {valid.shape}")
    data = np.ascontiguousarray(data, dtype=np.float32)
    valid = np.ascontiguousarray(valid, dtype=bool)
    if not np.all(np.isfinite(data[valid])):
        raise ValidationError("window set has non-finite data at valid samples")
    data = np.where(valid, data, np.float32(0))
    return {"data": data, "valid": valid,
            "label": np.asarray(ws["label"].values, dtype=np.int8),
            "split": np.asarray(ws["split"].values).astype(str)}


def _fingerprint(arrays: dict[str, np.ndarray], cfg: TrainConfig) -> str:
    h = hashlib.sha256()
    for k in ("data", "valid", "label", "split"):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes() if a.dtype.kind != "U" else "|".join(a.tolist()).encode())
    h.update(config_hash(cfg.to_dict()).encode())
    return h.hexdigest()


def rank_auc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float:
    """AUC = P(positive > negative) + 0.5 P(tie) (:func:`geoanom.stats.ranks.auc`), NaN where
    a class has no finite score (early stopping then falls back, see :func:`train`)."""
    from geoanom.stats.ranks import auc

    p = np.asarray(scores_pos, float)
    n = np.asarray(scores_neg, float)
    if not (np.isfinite(p).any() and np.isfinite(n).any()):
        return float("nan")
    return auc(p, n)


@torch.no_grad()
def window_scores(model: BiLSTMAutoencoder, data: torch.Tensor, valid: torch.Tensor,
                  batch_size: int = 512) -> np.ndarray:
    """Per-window mean squared error of ``model`` over ``data`` (tensors on its device)."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, data.shape[0], batch_size):
        x, v = data[i:i + batch_size], valid[i:i + batch_size]
        e, _ = window_errors(x, model(x, v), v)
        out.append(e.cpu())
    model.train(was_training)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


def _epoch_batches(cfg: TrainConfig, epoch: int, idx_n: np.ndarray,
                   idx_s: np.ndarray) -> list[np.ndarray]:
    """The batches of one epoch: drawn from a generator seeded by (seed, epoch)."""
    rng = np.random.default_rng([cfg.seed, epoch])
    use_s = cfg.lam > 0 and idx_s.size > 0
    n_s = max(1, round(cfg.batch_size * cfg.seismic_fraction)) if use_s else 0
    n_n = max(1, cfg.batch_size - n_s)
    perm_n = rng.permutation(idx_n)
    n_batches = max(1, math.ceil(perm_n.size / n_n))
    if cfg.batches_per_epoch is not None:
        n_batches = min(n_batches, int(cfg.batches_per_epoch))
    # seismic windows are cycled through fresh permutations (no replacement within a cycle)
    if use_s:
        reps = math.ceil(n_batches * n_s / idx_s.size)
        seq_s = np.concatenate([rng.permutation(idx_s) for _ in range(reps)])
    batches = []
    for b in range(n_batches):
        part_n = perm_n[(b * n_n) % perm_n.size:][:n_n]
        if part_n.size < n_n:  # wrap around so every batch has its full share
            part_n = np.concatenate([part_n, perm_n[: n_n - part_n.size]])
        part = [part_n]
        if use_s:
            part.append(seq_s[b * n_s:(b + 1) * n_s])
        batches.append(np.concatenate(part))
    return batches


def _ws_meta(ws, arrays: dict[str, np.ndarray]) -> dict:
    """Window configuration and normalisation the scorer needs, from the window set attrs."""
    a = ws.attrs
    try:
        wcfg = (json.loads(a.get("config", "{}")) if isinstance(a.get("config", "{}"), str)
            else dict(a.get("config") or {}))
    except json.JSONDecodeError:
        wcfg = {"raw": str(a.get("config"))}
    scaler = a.get("scaler")
    if scaler is None:
        raise ValidationError("window set has no 'scaler' attr (the fitted normalisation)",
                              expected="JSON of RobustScaler.to_dict()")
    scaler = json.loads(scaler) if isinstance(scaler, str) else dict(scaler)
    mmf = wcfg.get("max_missing_fraction")
    counts = {}
    periods = {}
    start = ws["start"].values.astype("datetime64[ns]") if "start" in ws else None
    end = ws["end"].values.astype("datetime64[ns]") if "end" in ws else None
    for s in ("train", "val", "test"):
        m = arrays["split"] == s
        counts[s] = {"normal": int(np.sum(m & (arrays["label"] == 0))),
                     "seismic": int(np.sum(m & (arrays["label"] == 1)))}
        if start is not None and end is not None and m.any():
            # where each split lies in time, so scores and tests can tell held-out windows
            periods[s] = {"first_start": str(start[m].min()), "last_end": str(end[m].max()),
                          "n_windows": int(m.sum())}
    return {
        "scaler": scaler,
        "windows": {
            "components": [str(c) for c in ws["component"].values],
            "sampling_period_s": float(a.get("sampling_period_s", float("nan"))),
            "window_length_s": float(a.get("window_length_s", float("nan"))),
            "stride_s": float(a.get("stride_s", float("nan"))),
            "n_steps": int(ws.sizes["step"]),
            "min_valid_fraction": None if mmf is None else 1.0 - float(mmf),
            "config": wcfg,
        },
        "station": {k: a.get(k) for k in ("iaga_code", "latitude_deg", "longitude_deg")},
        "window_counts": counts,
        "split_periods": periods,
        "window_set_history": str(a.get("history", "")),
    }


def _validate(model: BiLSTMAutoencoder, Xv: torch.Tensor, Vv: torch.Tensor,
              val_lab: np.ndarray, cfg: TrainConfig, both_classes: bool
              ) -> tuple[float, float, float, float]:
    """Validation AUC, mean normal and seismic errors, and the model-selection metric (the
    AUC with both classes, else minus the mean normal error)."""
    val_e = window_scores(model, Xv, Vv, cfg.eval_batch_size)
    auc = rank_auc(val_e[val_lab == 1], val_e[val_lab == 0])
    vn = float(np.nanmean(val_e[val_lab == 0])) if np.any(val_lab == 0) else math.nan
    vs = float(np.nanmean(val_e[val_lab == 1])) if np.any(val_lab == 1) else math.nan
    return auc, vn, vs, (auc if both_classes else -vn)


def _epoch_row(epoch: int, lam: float, margin: float, sums: dict, n_batches: int,
               n_windows: int, val: tuple[float, float, float, float], improved: bool,
               t0: float) -> dict:
    """One row of the per-epoch log saved with the model."""
    auc, vn, vs, _ = val
    return {"epoch": epoch, "lambda": lam, "margin": margin,
            "train_loss": sums["loss"] / n_batches,
            "train_normal_error": sums["normal"] / n_batches,
            "train_seismic_penalty": sums["penalty"] / n_batches,
            "train_seismic_error": (sums["seismic_error_sum"] / sums["n_seismic"]
                                    if sums["n_seismic"] else math.nan),
            "n_seismic_seen": int(sums["n_seismic"]),
            # share of the seismic windows seen whose penalty had a gradient (NaN: none seen)
            "penalty_active_share": (sums["seismic_active"] / sums["n_seismic"]
                                     if sums["n_seismic"] else math.nan),
            "grad_norm": sums["grad_norm"] / n_batches, "n_batches": n_batches,
            "n_windows": n_windows, "val_auc": auc, "val_normal_error": vn,
            "val_seismic_error": vs, "improved": improved,
            "seconds": time.perf_counter() - t0}


class SingleProcess:
    """How :func:`fit` trains in one process: the whole batch here, files written here.

    :class:`geoanom.detector.nn.ddp.Distributed` is the same interface over the ranks of a
    DistributedDataParallel run; :func:`fit` is the one training loop for both.
    """

    rank, world = 0, 1
    #: Entries added to every log row and to the provenance (none in one process).
    log_extra: dict = {}
    provenance_extra: dict = {}

    @property
    def writes(self) -> bool:
        """Whether this process writes the checkpoints and the artifact."""
        return self.rank == 0

    def check(self, n_normal: int, n_seismic: int, batch_size: int) -> None:
        """Refuse a batch layout this runner cannot split (nothing to refuse here)."""

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training forward pass runs through."""
        return model

    def barrier(self) -> None:
        """Wait for every process (nothing to wait for here)."""

    def batch_loss(self, net: torch.nn.Module, loss_fn: NegativeLearningLoss, batch: np.ndarray,
                   n_seismic: int, tensors: tuple[torch.Tensor, ...], epoch: int
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to back-propagate for one global batch and the batch's loss parts."""
        X, V, Y = tensors
        ib = torch.from_numpy(batch).to(X.device)
        xb, vb, yb = X[ib], V[ib], Y[ib]
        e, _ = window_errors(xb, net(xb, vb), vb)
        return loss_fn(e, yb, epoch)


@dataclass
class _Selection:
    """Model selection and stopping state (saved in every checkpoint)."""

    epoch: int = 0
    log: list = field(default_factory=list)
    best_metric: float = -math.inf
    best_epoch: int = -1
    best_lambda: float = math.nan
    best_state: dict | None = None
    finished: bool = False
    stopped_early: bool = False

    def offer(self, epoch: int, metric: float, lam_now: float, lam_full: float,
              model: torch.nn.Module) -> bool:
        """Keep ``model`` if this epoch is the new best; return whether it is.

        Model selection compares epochs at full ``lambda`` only (an epoch of the ramp, from
        lambda 0, is not the negative-learning model). Ramp epochs are kept
        only until the first full-strength epoch, as a fallback for runs that end before it.
        """
        full, best_full = lam_now >= lam_full, self.best_lambda >= lam_full
        better = metric > self.best_metric or (full and not best_full)
        if not (math.isfinite(metric) and better and (full or not best_full)):
            return False
        self.best_metric, self.best_epoch, self.best_lambda = metric, epoch, lam_now
        self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return True


def _checkpoint_state(model, opt, loss_fn: NegativeLearningLoss, sel: _Selection,
                      fp: str) -> dict:
    """Everything a resumed run needs (written atomically after every epoch)."""
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": sel.epoch,
            "loss_state": loss_fn.state_dict(), "torch_rng": torch.get_rng_state(),
            "best_metric": sel.best_metric, "best_epoch": sel.best_epoch,
            "best_lambda": sel.best_lambda, "best_state": sel.best_state, "log": sel.log,
            "fingerprint": fp, "finished": sel.finished, "stopped_early": sel.stopped_early}


def _resume(path: Path, fp: str, model, opt, loss_fn: NegativeLearningLoss) -> _Selection:
    """Restore model, optimizer, loss and RNG state from a checkpoint of the same run."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    if ck.get("fingerprint") != fp:
        raise ConfigError("the checkpoint in this folder comes from a different "
                          "configuration or window set; use another folder or "
                          "resume=False (--no-resume) to start afresh", path=path)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    loss_fn.load_state_dict(ck["loss_state"])
    torch.set_rng_state(ck["torch_rng"])
    log, best = list(ck["log"]), int(ck["best_epoch"])
    lam = ck.get("best_lambda", log[best]["lambda"] if 0 <= best < len(log) else math.nan)
    return _Selection(epoch=int(ck["epoch"]) + 1, log=log, best_metric=float(ck["best_metric"]),
                      best_epoch=best, best_lambda=float(lam), best_state=ck["best_state"],
                      finished=bool(ck["finished"]),
                      stopped_early=bool(ck.get("stopped_early", False)))


def _training_indices(arrays: dict[str, np.ndarray],
                      cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal and seismic training windows and labelled validation windows (with data)."""
    label, split, valid = arrays["label"], arrays["split"], arrays["valid"]
    has_data = valid.reshape(valid.shape[0], -1).any(axis=1)
    idx_n = np.flatnonzero((split == "train") & (label == 0) & has_data)
    idx_s = np.flatnonzero((split == "train") & (label == 1) & has_data)
    idx_val = np.flatnonzero((split == "val") & (label >= 0) & has_data)
    if idx_n.size == 0:
        raise ValidationError("the window set has no normal training windows",
                              expected="windows with split 'train' and label 0")
    if cfg.lam > 0 and idx_s.size == 0:
        raise ValidationError("the window set has no seismic training windows; negative "
                              "learning needs some (lam = 0 trains the plain autoencoder)",
                              expected="windows with split 'train' and label 1")
    if idx_val.size == 0:
        raise ValidationError("the window set has no labelled validation windows, so early "
                              "stopping has nothing to look at", expected="split 'val' windows")
    return idx_n, idx_s, idx_val


def selection_fallback(val_labels: np.ndarray) -> str | None:
    """Why model selection cannot use the validation AUC (None when it can).

    Without both classes among the validation windows the AUC is undefined; selection and
    early stopping then use minus the mean validation normal error (or, with no normal
    window either, nothing improves and the last weights are kept).
    """
    n_s, n_n = int(np.sum(val_labels == 1)), int(np.sum(val_labels == 0))
    if n_s and n_n:
        return None
    return (f"the validation split has {n_s} seismic and {n_n} normal windows, so the "
            "validation AUC is undefined: model selection and early stopping use minus the "
            "mean validation normal error instead (they do not measure separation of seismic "
            "windows)")


def negative_learning_summary(log: list[dict], cfg: TrainConfig, best_epoch: int) -> dict:
    """Whether negative learning did anything, from the per-epoch log.

    Returns ``applies`` (``lambda > 0``), ``penalty_ever_active`` (some seismic training
    window had an active penalty in an epoch with ``lambda > 0``),
    ``penalty_active_share_at_best_epoch``, the mean training errors of seismic and normal
    windows at the selected epoch, and ``warnings``: the penalty was never active (the
    model is then the plain autoencoder), or the validation separation of the selected
    epoch is below chance (AUC < 0.5).
    """
    row = log[best_epoch] if 0 <= best_epoch < len(log) else {}
    out = {"applies": cfg.lam > 0, "penalty_ever_active": None,
           "penalty_active_share_at_best_epoch": row.get("penalty_active_share"),
           "train_seismic_error_at_best_epoch": row.get("train_seismic_error"),
           "train_normal_error_at_best_epoch": row.get("train_normal_error"),
           "warnings": []}
    if cfg.lam > 0:
        shares = [r.get("penalty_active_share") for r in log if r.get("lambda", 0) > 0]
        out["penalty_ever_active"] = any(x is not None and x > 0 for x in shares)
        if not out["penalty_ever_active"]:
            out["warnings"].append(
                "the negative-learning penalty was never active (no seismic training window "
                "had an error below the hinge margin in any epoch with lambda > 0): this "
                "model is the plain autoencoder; lower margin_factor or train longer")
    auc = row.get("val_auc")
    if auc is not None and math.isfinite(auc) and auc < 0.5:
        out["warnings"].append(f"the selected epoch's validation AUC is {auc:.3f}, below "
                               "chance (0.5): seismic validation windows are reconstructed "
                               "better than normal ones")
    return out


def _run_epoch(runner, net, loss_fn: NegativeLearningLoss, opt, cfg: TrainConfig,
               batches: list[np.ndarray], n_seismic: int, tensors, epoch: int,
               bar: Progress) -> tuple[dict, int, float]:
    """One pass over ``batches``: loss, backward, clipping, step. Returns the summed loss
    parts, the windows seen and the lambda in force."""
    net.train()
    sums = {"loss": 0.0, "normal": 0.0, "penalty": 0.0, "grad_norm": 0.0, "n_seismic": 0.0,
            "seismic_error_sum": 0.0, "seismic_active": 0.0}
    n_win, lam = 0, loss_fn.lam_at(epoch)
    for b in batches:
        loss, parts = runner.batch_loss(net, loss_fn, b, n_seismic, tensors, epoch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_norm)
        opt.step()
        for k in ("loss", "normal", "penalty", "n_seismic", "seismic_error_sum",
                  "seismic_active"):
            sums[k] += parts[k]
        sums["grad_norm"] += float(gn)
        n_win += b.size
        bar.update(1, f"loss={parts['loss']:.4g}")
    return sums, n_win, lam


def fit(
    ws,
    cfg: TrainConfig,
    *,
    out_dir: str | os.PathLike,
    device: torch.device,
    runner: SingleProcess,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> TrainResult:
    """THE training loop, for one process (:func:`train`) and for every rank of a
    distributed run (:func:`geoanom.detector.nn.ddp.train_ddp`); ``runner`` says how a batch is
    shared and who writes. Arguments as in :func:`train`; ``device`` is resolved."""
    from geoanom.detector.windows import check_no_leakage

    check_no_leakage(ws)
    out = Path(out_dir)
    if runner.writes:
        out.mkdir(parents=True, exist_ok=True)
    arrays = window_set_arrays(ws)
    meta_ws = _ws_meta(ws, arrays)
    idx_n, idx_s, idx_val = _training_indices(arrays, cfg)
    n_s = (max(1, round(cfg.batch_size * cfg.seismic_fraction))
        if cfg.lam > 0 and idx_s.size else 0)
    runner.check(max(1, cfg.batch_size - n_s), n_s, cfg.batch_size)
    fp = _fingerprint(arrays, cfg)
    X = torch.from_numpy(arrays["data"]).to(device)
    V = torch.from_numpy(arrays["valid"]).to(device)
    Y = torch.from_numpy(arrays["label"].astype(np.int64)).to(device)
    val_lab = arrays["label"][idx_val]
    iv = torch.from_numpy(idx_val).to(device)
    Xv, Vv = X[iv], V[iv]
    fallback = selection_fallback(val_lab)
    if fallback and runner.writes:
        _log.warning("training: %s", fallback)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = BiLSTMAutoencoder(int(X.shape[-1]), cfg.hidden_size, cfg.num_layers,
                                  cfg.latent_size, cfg.output_bound)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = NegativeLearningLoss(cfg.penalty, cfg.lam, cfg.ramp_epochs,
                                   margin_factor=cfg.margin_factor, eps=cfg.eps)
    ckpt_path = out / CHECKPOINT
    runner.barrier()  # the writer made the folder; everyone sees the same checkpoint (or none)
    sel = (_resume(ckpt_path, fp, model, opt, loss_fn) if resume and ckpt_path.is_file()
        else _Selection())
    net = runner.wrap(model)
    label = f"epoch {{}}/{cfg.max_epochs}" + (f" ({runner.world} ranks)" if runner.world > 1
                                              else "")
    with _deterministic(cfg.deterministic, device):
        while not sel.finished and sel.epoch < cfg.max_epochs:
            epoch, t0 = sel.epoch, time.perf_counter()
            batches = _epoch_batches(cfg, epoch, idx_n, idx_s)
            bar = Progress(len(batches), label.format(epoch + 1), progress and runner.writes)
            sums, n_win, lam = _run_epoch(runner, net, loss_fn, opt, cfg, batches, n_s,
                                          (X, V, Y), epoch, bar)
            # every rank scores the whole validation split: the same weights give the same
            # decision everywhere, with no broadcast
            val = _validate(model, Xv, Vv, val_lab, cfg, fallback is None)
            improved = sel.offer(epoch, val[3], lam, loss_fn.lam, model)
            row = _epoch_row(epoch, lam, loss_fn.margin, sums, len(batches), n_win, val,
                             improved, t0)
            row.update(runner.log_extra)
            sel.log.append(row)
            bar.note = f"loss={row['train_loss']:.4g} val_auc={val[0]:.3f}"
            bar.update(0)
            bar.close()
            if lam >= loss_fn.lam and epoch - sel.best_epoch >= cfg.patience:
                sel.stopped_early = sel.finished = True
            if epoch + 1 >= cfg.max_epochs:
                sel.finished = True
            if runner.writes:
                _save_checkpoint(ckpt_path, _checkpoint_state(model, opt, loss_fn, sel, fp))
            if callback is not None:
                callback(epoch, row)
            sel.epoch += 1
    return _finish(model, sel, cfg, meta_ws, fp, fallback, out, device, runner, inputs)


def _finish(model, sel: _Selection, cfg: TrainConfig, meta_ws: dict, fp: str,
            fallback: str | None, out: Path, device: torch.device, runner,
            inputs: Iterable[str | os.PathLike]) -> TrainResult:
    """Load the selected weights, write the artifact (the writer) and build the result."""
    if sel.best_state is not None:
        model.load_state_dict(sel.best_state)
    model.eval()
    at_full = bool(sel.best_lambda >= cfg.lam)
    metric_name = "val_auc" if fallback is None else "neg_val_normal_error"
    metrics = {"metric": metric_name, "best_metric": sel.best_metric,
               "best_epoch": sel.best_epoch, "epochs_run": len(sel.log),
               "stopped_early": sel.stopped_early,
               "val_auc": sel.log[sel.best_epoch]["val_auc"]
               if 0 <= sel.best_epoch < len(sel.log) else None,
               "lambda_at_best_epoch": sel.best_lambda,
               "selected_at_full_lambda": at_full,
               "selection_rule": "best validation metric among the epochs at full lambda "
                                 f"(epoch >= ramp_epochs = {cfg.ramp_epochs}); ramp epochs "
                                 "only when the run ended before full lambda",
               "selection_fallback": fallback}
    metrics["negative_learning"] = negative_learning_summary(sel.log, cfg, sel.best_epoch)
    for w in metrics["negative_learning"]["warnings"]:
        if runner.writes:
            _log.warning("training: %s", w)
    if not at_full and sel.best_epoch >= 0 and runner.writes:
        _log.warning("training: the run ended before lambda reached full strength "
                     "(ramp_epochs = %d, max_epochs = %d): the selected model (epoch %d) was "
                     "trained with lambda = %g of %g", cfg.ramp_epochs, cfg.max_epochs,
                     sel.best_epoch, sel.best_lambda, cfg.lam)
    meta = dict(meta_ws)
    meta.update({
        "training": cfg.to_dict(), "metrics": metrics, "log": sel.log, "device": str(device),
        "provenance": provenance(
            config={"training": cfg.to_dict(), "windows": meta_ws["windows"]},
            seeds={"train": cfg.seed}, inputs=inputs,
            extra={"window_set_fingerprint": fp, **runner.provenance_extra}),
    })
    if runner.writes:
        save_model(out, model, meta)
    runner.barrier()
    return TrainResult(model=model, log=sel.log, best_epoch=sel.best_epoch,
                       best_metric=sel.best_metric, metric_name=metric_name, config=cfg,
                       device=str(device), out_dir=out, epochs_run=len(sel.log),
                       stopped_early=sel.stopped_early, meta=meta)


def train(
    ws,
    config: TrainConfig | None = None,
    *,
    out_dir: str | os.PathLike,
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = True,
    callback: Callable[[int, dict], None] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> TrainResult:
    """Train the negative-learning autoencoder and save the artifact in ``out_dir``.

    Parameters
    ----------
    ws
        Window set (``xarray.Dataset``, see :mod:`geoanom.detector.windows`) with splits ``train`` and
        ``val``; labels 1 seismic, 0 normal, -1 excluded (never used).
    config
        Training configuration (default :class:`TrainConfig`).
    out_dir
        Folder for ``checkpoint.pt`` and the artifact (``weights.pt``, ``model.json``).
    device
        ``None``: ``cuda`` when available, else CPU.
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (it must come from the same
        configuration and window set); ``False`` starts afresh.
    progress
        Draw a progress bar on stderr.
    callback
        Called as ``callback(epoch, log_row)`` after each epoch's checkpoint is written.
    inputs
        Files the window set was built from (record, catalog, config): their checksums go
        into the provenance of ``model.json``.

    Returns
    -------
    TrainResult
        The model with the best validation weights among the epochs at full ``lambda``, the
        per-epoch log and the metrics (``model.json`` ``metrics`` says which epoch, at which
        ``lambda``, and whether the selection metric fell back from the validation AUC).
    """
    return fit(ws, config or TrainConfig(), out_dir=out_dir, device=resolve_device(device),
               runner=SingleProcess(), resume=resume, progress=progress, callback=callback,
               inputs=inputs)


def _save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary name and rename (a kill never leaves half a file)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
