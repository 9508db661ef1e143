"""Training on several processes (GPUs, or CPU cores) with PyTorch DistributedDataParallel.

Launch with ``torchrun``; each process calls :func:`train_ddp` (``geoanom train`` does when
``WORLD_SIZE`` > 1). The run is the single-process run of :func:`geoanom.detector.nn.train.train`,
spread over ranks:

* every rank draws the same global batches (:func:`geoanom.detector.nn.train` draws them from a
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
The loop itself is :func:`geoanom.detector.nn.train.fit`, the same one the single-process run uses;
this module only supplies :class:`Distributed` (how a batch is shared over the ranks, the loss
of a share from :class:`~geoanom.detector.nn.losses.NegativeLearningLoss`, who writes). Resuming from
a checkpoint, callbacks and model selection therefore work exactly as in
:func:`~geoanom.detector.nn.train.train` (same checkpoint file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.distributed as dist

from geoanom.detector.nn.bilstm import window_errors
from geoanom.detector.nn.losses import NegativeLearningLoss
from geoanom.detector.nn.train import SingleProcess, TrainConfig, TrainResult, fit
from geoanom.errors import ConfigError


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


class Distributed(SingleProcess):
    """:func:`geoanom.detector.nn.train.fit` over the ranks of an initialised process group."""

    def __init__(self, ddp_class: type, device: torch.device) -> None:
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self._ddp, self._device = ddp_class, device
        self.log_extra = {"world_size": self.world}
        self.provenance_extra = {"distributed": {"world_size": self.world,
                                                 "backend": dist.get_backend()}}

    def check(self, n_normal: int, n_seismic: int, batch_size: int) -> None:
        """Each rank needs at least one normal (and one seismic) window of every batch."""
        if n_normal < self.world or (n_seismic and n_seismic < self.world):
            raise ConfigError("each rank needs at least one normal (and one seismic) window "
                              "per batch", expected=f"batch_size >= {2 * self.world}",
                              found=str(batch_size))

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        dev = self._device
        return self._ddp(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def barrier(self) -> None:
        dist.barrier()

    def batch_loss(self, net: torch.nn.Module, loss_fn: NegativeLearningLoss, batch: np.ndarray,
                   n_seismic: int, tensors: tuple[torch.Tensor, ...], epoch: int
                   ) -> tuple[torch.Tensor, dict[str, float]]:
        """This rank's share of the global batch loss, times the world size (DDP averages
        gradients over ranks: times world, that is their sum, the gradient of the global
        loss); the parts are the global batch's, summed over ranks."""
        X, V, Y = tensors
        n_norm = batch.size - n_seismic
        ib = torch.from_numpy(rank_share(batch, n_norm, self.rank, self.world)).to(X.device)
        xb, vb, yb = X[ib], V[ib], Y[ib]
        e, _ = window_errors(xb, net(xb, vb), vb)
        loss, parts = loss_fn(e, yb, epoch, counts=(n_norm, n_seismic),
                              running_errors=_gather_1d(e[yb == 0], self.world))
        keys = ("loss", "normal", "penalty", "n_seismic", "seismic_error_sum",
                "seismic_active")
        summed = torch.tensor([parts[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(summed)
        parts.update({k: float(v) for k, v in zip(keys, summed, strict=True)})
        return loss * self.world, parts


def train_ddp(
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
    """Train the negative-learning autoencoder with DistributedDataParallel.

    Call it in every process of a ``torchrun`` launch (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``
    and the rendezvous variables set); the process group is initialised here if needed
    (``nccl`` on CUDA, ``gloo`` on the CPU) and torn down at the end.

    Parameters
    ----------
    ws, config, out_dir, resume, progress, callback, inputs
        As in :func:`geoanom.detector.nn.train.train` (``callback`` is called on every rank).
    device
        ``None``: ``cuda:LOCAL_RANK`` when CUDA is available, else CPU; ``"cuda"`` means
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    TrainResult
        The same on every rank (the selected weights, the log); only rank 0 writes files.
    """
    from torch.nn.parallel import DistributedDataParallel

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
        return fit(ws, cfg, out_dir=out_dir, device=dev,
                   runner=Distributed(DistributedDataParallel, dev), resume=resume,
                   progress=progress, callback=callback, inputs=inputs)
    finally:
        if own_group:
            dist.destroy_process_group()
