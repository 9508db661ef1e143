"""Training on several processes (GPUs, or CPU cores) with PyTorch DistributedDataParallel.

Launch with ``torchrun``; each process calls :func:`train_ddp` (``geoanom train`` does when
``WORLD_SIZE`` > 1). The run is the single-process run of :func:`geoanom.nn.train.train`,
spread over ranks:

* every rank draws the same global batches (:func:`geoanom.nn.train` draws them from a
  generator seeded by ``(seed, epoch)``) and takes an even share of each batch's normal and
  seismic windows;
* the loss of a rank is its share of the *global* batch loss: the sum of its normal errors over
  the global count of normal windows, plus ``lambda`` times the sum of its seismic penalties
  over the global count of seismic windows. Multiplied by the world size, DDP's gradient
  average is the sum over ranks: exactly the gradient of the global batch loss;
* the running median of normal errors (the hinge margin) is updated from the normal errors of
  the whole global batch (gathered from all ranks), as in the single-process run;
* clipping, Adam, validation, early stopping and model selection then see identical values on
  every rank; rank 0 writes the checkpoints and the artifact.

The loss curve equals the single-process one up to floating-point summation order (the
all-reduce adds the ranks' gradients in another order than one backward pass does):
``tests/test_ddp.py`` asserts agreement within 1e-4 relative over the first epochs.
Resuming from a checkpoint works as in :func:`~geoanom.nn.train.train` (same checkpoint file).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from geoanom.errors import ConfigError, ValidationError
from geoanom.nn.artifact import save_model
from geoanom.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.nn.losses import NegativeLearningLoss, penalty
from geoanom.nn.train import (
    CHECKPOINT,
    TrainConfig,
    TrainResult,
    _checkpoint_state,
    _deterministic,
    _epoch_batches,
    _epoch_row,
    _fingerprint,
    _Progress,
    _save_checkpoint,
    _validate,
    _ws_meta,
    window_set_arrays,
)
from geoanom.provenance import provenance


def launched_distributed() -> bool:
    """True when this process was started by ``torchrun`` with more than one process."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _gather_1d(x: torch.Tensor, world: int) -> torch.Tensor:
    """All ranks' 1-D tensors, concatenated in rank order (sizes may differ)."""
    n = torch.tensor([x.numel()], dtype=torch.int64)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(sizes, n)
    m = int(max(int(s) for s in sizes))
    pad = torch.full((m,), float("nan"), dtype=x.dtype)
    pad[: x.numel()] = x.detach().cpu()
    out = [torch.empty(m, dtype=x.dtype) for _ in range(world)]
    dist.all_gather(out, pad)
    return torch.cat([o[: int(s)] for o, s in zip(out, sizes, strict=True)])


def rank_share(batch: np.ndarray, n_normal: int, rank: int, world: int) -> np.ndarray:
    """This rank's windows of a global batch: an even, contiguous share of its normal part
    (the first ``n_normal`` indices) and of its seismic part (the rest)."""
    part_n = np.array_split(batch[:n_normal], world)[rank]
    part_s = np.array_split(batch[n_normal:], world)[rank]
    return np.concatenate([part_n, part_s])


def train_ddp(
    ws,
    config: TrainConfig | None = None,
    *,
    out_dir: str | os.PathLike,
    device: str | torch.device | None = None,
    resume: bool = True,
    progress: bool = True,
    inputs: Iterable[str | os.PathLike] = (),
) -> TrainResult:
    """Train the negative-learning autoencoder with DistributedDataParallel.

    Call it in every process of a ``torchrun`` launch (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``
    and the rendezvous variables set); the process group is initialised here if needed
    (``nccl`` on CUDA, ``gloo`` on the CPU) and torn down at the end.

    Parameters
    ----------
    ws, config, out_dir, resume, progress, inputs
        As in :func:`geoanom.nn.train.train`.
    device
        ``None``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; ``"cuda"`` means
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    TrainResult
        The same on every rank (the selected weights, the log); only rank 0 writes files.
    """
    from torch.nn.parallel import DistributedDataParallel

    from geoanom.windows import check_no_leakage

    cfg = config or TrainConfig()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        dev = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:  # "cuda": this rank's own GPU
            dev = torch.device(f"cuda:{local_rank}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    own_group = not dist.is_initialized()
    if own_group:
        if "MASTER_ADDR" not in os.environ:
            raise ConfigError("train_ddp needs a torchrun launch (no MASTER_ADDR in the "
                              "environment)", expected="torchrun --nproc_per_node N ...")
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        return _train(ws, cfg, out_dir, dev, resume, progress, inputs, check_no_leakage,
                      DistributedDataParallel)
    finally:
        if own_group:
            dist.destroy_process_group()


def _train(ws, cfg, out_dir, dev, resume, progress, inputs, check_no_leakage, DDP):
    rank, world = dist.get_rank(), dist.get_world_size()
    check_no_leakage(ws)
    out = Path(out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    arrays = window_set_arrays(ws)
    meta_ws = _ws_meta(ws, arrays)
    label, split, valid = arrays["label"], arrays["split"], arrays["valid"]
    has_data = valid.reshape(valid.shape[0], -1).any(axis=1)
    idx_n = np.flatnonzero((split == "train") & (label == 0) & has_data)
    idx_s = np.flatnonzero((split == "train") & (label == 1) & has_data)
    idx_val = np.flatnonzero((split == "val") & (label >= 0) & has_data)
    if idx_n.size == 0 or idx_val.size == 0 or (cfg.lam > 0 and idx_s.size == 0):
        raise ValidationError("the window set lacks normal training, seismic training (when "
                              "lam > 0) or labelled validation windows")
    use_s = cfg.lam > 0 and idx_s.size > 0
    n_s = max(1, round(cfg.batch_size * cfg.seismic_fraction)) if use_s else 0
    n_n = max(1, cfg.batch_size - n_s)
    if n_n < world or (use_s and n_s < world):
        raise ConfigError("each rank needs at least one normal (and one seismic) window per "
                          "batch", expected=f"batch_size >= {2 * world}",
                          found=str(cfg.batch_size))
    fp = _fingerprint(arrays, cfg)

    X = torch.from_numpy(arrays["data"]).to(dev)
    V = torch.from_numpy(valid).to(dev)
    Y = torch.from_numpy(label.astype(np.int64)).to(dev)
    val_lab = label[idx_val]
    iv = torch.from_numpy(idx_val).to(dev)
    Xv, Vv = X[iv], V[iv]

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = BiLSTMAutoencoder(int(X.shape[-1]), cfg.hidden_size, cfg.num_layers,
                                  cfg.latent_size, cfg.output_bound)
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = NegativeLearningLoss(cfg.penalty, cfg.lam, cfg.ramp_epochs,
                                   margin_factor=cfg.margin_factor, eps=cfg.eps)
    both_classes = bool(np.any(val_lab == 1) and np.any(val_lab == 0))
    metric_name = "val_auc" if both_classes else "neg_val_normal_error"

    start_epoch, log = 0, []
    best_metric, best_epoch, best_state, finished = -math.inf, -1, None, False
    ckpt_path = out / CHECKPOINT
    dist.barrier()  # rank 0 made the folder; everyone sees the same checkpoint (or none)
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ck.get("fingerprint") != fp:
            raise ConfigError("the checkpoint in this folder comes from a different "
                              "configuration or window set", path=ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        loss_fn.load_state_dict(ck["loss_state"])
        start_epoch, log = int(ck["epoch"]) + 1, list(ck["log"])
        best_metric, best_epoch = float(ck["best_metric"]), int(ck["best_epoch"])
        best_state, finished = ck["best_state"], bool(ck["finished"])
    ddp = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    stopped_early = False
    with _deterministic(cfg.deterministic, dev):
        epoch = start_epoch
        while not finished and epoch < cfg.max_epochs:
            t0 = time.perf_counter()
            batches = _epoch_batches(cfg, epoch, idx_n, idx_s)
            bar = _Progress(len(batches), f"epoch {epoch + 1}/{cfg.max_epochs} "
                            f"({world} ranks)", progress and rank == 0)
            ddp.train()
            sums = {"loss": 0.0, "normal": 0.0, "penalty": 0.0, "grad_norm": 0.0}
            n_win = 0
            lam = loss_fn.lam_at(epoch)
            for b in batches:
                n_norm = b.size - (n_s if use_s else 0)
                mine = rank_share(b, n_norm, rank, world)
                ib = torch.from_numpy(mine).to(dev)
                xb, vb, yb = X[ib], V[ib], Y[ib]
                e, _ = window_errors(xb, ddp(xb, vb), vb)
                e_n, e_s = e[yb == 0], e[yb == 1]
                loss_fn.update_running(_gather_1d(e_n, world))
                normal_part = e_n.sum() / n_norm
                if lam > 0 and use_s:
                    margin = loss_fn.margin if math.isfinite(loss_fn.margin) else 1.0
                    pen_part = penalty(e_s, cfg.penalty, margin=margin, eps=cfg.eps).sum() / n_s
                else:
                    pen_part = e.new_zeros(())
                loss = normal_part + lam * pen_part
                opt.zero_grad(set_to_none=True)
                # DDP averages gradients over ranks; times world, that is their sum
                (loss * world).backward()
                gn = torch.nn.utils.clip_grad_norm_(ddp.parameters(), cfg.clip_norm)
                opt.step()
                parts = torch.stack([loss.detach(), normal_part.detach(),
                                     pen_part.detach()]).double().cpu()
                dist.all_reduce(parts)
                sums["loss"] += float(parts[0])
                sums["normal"] += float(parts[1])
                sums["penalty"] += float(parts[2])
                sums["grad_norm"] += float(gn)
                n_win += b.size
                bar.update(1, f"loss={float(parts[0]):.4g}")
            # every rank scores the whole validation split: the same weights give the same
            # decision everywhere, with no broadcast
            val = _validate(model, Xv, Vv, val_lab, cfg, both_classes)
            metric = val[3]
            improved = math.isfinite(metric) and metric > best_metric
            if improved:
                best_metric, best_epoch = metric, epoch
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            row = _epoch_row(epoch, lam, loss_fn.margin, sums, len(batches), n_win, val,
                             improved, t0)
            row["world_size"] = world
            log.append(row)
            bar.note = f"loss={row['train_loss']:.4g} val_auc={val[0]:.3f}"
            bar.update(0)
            bar.close()
            if loss_fn.lam_at(epoch) >= loss_fn.lam and epoch - best_epoch >= cfg.patience:
                stopped_early = finished = True
            if epoch + 1 >= cfg.max_epochs:
                finished = True
            if rank == 0:
                _save_checkpoint(ckpt_path, _checkpoint_state(
                    model, opt, epoch, loss_fn, best_metric=best_metric,
                    best_epoch=best_epoch, best_state=best_state, log=log, fp=fp,
                    finished=finished, stopped_early=stopped_early))
            epoch += 1
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    metrics = {"metric": metric_name, "best_metric": best_metric, "best_epoch": best_epoch,
               "epochs_run": len(log), "stopped_early": stopped_early,
               "val_auc": log[best_epoch]["val_auc"] if 0 <= best_epoch < len(log) else None}
    meta = dict(meta_ws)
    meta.update({
        "training": cfg.to_dict(), "metrics": metrics, "log": log, "device": str(dev),
        "provenance": provenance(
            config={"training": cfg.to_dict(), "windows": meta_ws["windows"]},
            seeds={"train": cfg.seed}, inputs=inputs,
            extra={"window_set_fingerprint": fp,
                   "distributed": {"world_size": world, "backend": dist.get_backend()}}),
    })
    if rank == 0:
        save_model(out, model, meta)
    dist.barrier()
    return TrainResult(model=model, log=log, best_epoch=best_epoch, best_metric=best_metric,
                       metric_name=metric_name, config=cfg, device=str(dev), out_dir=out,
                       epochs_run=len(log), stopped_early=stopped_early, meta=meta)
