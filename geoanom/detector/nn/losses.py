"""The bounded negative-learning loss (METHODS.md section 2).

Per window, ``e`` is the mean squared reconstruction error over valid samples (normalised
units). The loss is

    L = mean_{normal} e  +  lambda(epoch) * mean_{seismic} phi(e)

with a *bounded* penalty ``phi`` that is non-negative and decreasing in ``e``, so that pushing
the error of seismic windows up is rewarded only up to a point and ``L >= 0`` always:

* ``hinge`` (default): ``max(0, margin - e)``, the margin in units of the running median
  error of normal windows (default 10x; METHODS.md said 3x, see ``TrainConfig``);
* ``abc``: ``-log(1 - exp(-e))``, the likelihood form, vanishing as ``e`` grows;
* ``inverse``: ``1 / (e + eps)``, as in Deep SAD.

``-e`` (negative MSE) is deliberately not offered: it is unbounded below, and a decoder
rewarded by it inflates its output without limit. ``lambda = 0`` is the plain autoencoder.
"""

from __future__ import annotations

import math

import torch

from geoanom.errors import ConfigError

PENALTIES = ("hinge", "abc", "inverse")


def penalty(
    e: torch.Tensor,
    kind: str = "hinge",
    *,
    margin: float | torch.Tensor = 1.0,
    eps: float = 1e-3,
) -> torch.Tensor:
    """The bounded penalty ``phi(e)`` on seismic windows, element-wise.

    Parameters
    ----------
    e
        Per-window mean squared errors (normalised units squared), ``>= 0``.
    kind
        ``"hinge"``, ``"abc"`` or ``"inverse"``.
    margin
        Hinge margin, in the units of ``e`` (the caller scales it by the normal error).
    eps
        ``inverse``: added to ``e``; ``abc``: lower clamp of ``e`` (keeps ``phi`` finite
        at ``e = 0``; ``phi(0) = -log(1 - exp(-eps))``).

    Returns
    -------
    torch.Tensor
        ``phi(e)``, same shape as ``e``; non-negative, non-increasing in ``e``.
    """
    if kind == "hinge":
        return torch.clamp(margin - e, min=0.0)
    if kind == "abc":
        # -log(1 - exp(-e)) = -log(-expm1(-e)); expm1 keeps precision for small e.
        ec = torch.clamp(e, min=eps)
        return -torch.log(-torch.expm1(-ec))
    if kind == "inverse":
        return 1.0 / (torch.clamp(e, min=0.0) + eps)
    raise ConfigError(f"unknown negative-learning penalty {kind!r}",
                      expected=" or ".join(PENALTIES), found=str(kind))


class NegativeLearningLoss:
    """``mean_normal e + lambda(epoch) * mean_seismic phi(e)`` with a linear ramp of lambda.

    Parameters
    ----------
    kind
        The penalty (see :func:`penalty`).
    lam
        Final weight of the seismic term; 0 gives the plain autoencoder.
    ramp_epochs
        ``lambda`` grows linearly from 0 at epoch 0 to ``lam`` at epoch ``ramp_epochs``
        (0: no ramp).
    margin_factor
        Hinge margin in units of the running median error of normal windows (default 10: a
        margin below the typical error of seismic windows gives most of them no gradient).
    eps
        See :func:`penalty`.
    momentum
        The running median is an exponential moving average of per-batch medians of the
        normal errors, with this weight on the old value.
    """

    def __init__(self, kind: str = "hinge", lam: float = 1.0, ramp_epochs: int = 5, *,
                 margin_factor: float = 10.0, eps: float = 1e-3, momentum: float = 0.9) -> None:
        if kind not in PENALTIES:
            raise ConfigError(f"unknown negative-learning penalty {kind!r}",
                              expected=" or ".join(PENALTIES), found=str(kind))
        if not (lam >= 0 and math.isfinite(lam)):
            raise ConfigError("lambda must be a finite number >= 0", found=str(lam))
        if ramp_epochs < 0:
            raise ConfigError("ramp_epochs must be >= 0", found=str(ramp_epochs))
        if margin_factor <= 0 or eps <= 0 or not 0 <= momentum < 1:
            raise ConfigError("margin_factor and eps must be > 0, momentum in [0, 1)",
                              found=f"{margin_factor}, {eps}, {momentum}")
        self.kind = kind
        self.lam = float(lam)
        self.ramp_epochs = int(ramp_epochs)
        self.margin_factor = float(margin_factor)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.running_normal = float("nan")

    def lam_at(self, epoch: int) -> float:
        """``lambda`` at (0-based) ``epoch``: linear from 0 to ``lam`` over ``ramp_epochs``."""
        if self.ramp_epochs == 0:
            return self.lam
        return self.lam * min(1.0, epoch / self.ramp_epochs)

    @property
    def margin(self) -> float:
        """Current hinge margin (units of ``e``); NaN before the first normal batch."""
        return self.margin_factor * self.running_normal

    def update_running(self, e_normal: torch.Tensor) -> None:
        """Fold the median of this batch's normal errors into the running median."""
        if e_normal.numel() == 0:
            return
        med = float(torch.median(e_normal.detach()).cpu())
        if math.isnan(self.running_normal):
            self.running_normal = med
        else:
            self.running_normal = self.momentum * self.running_normal + (1 - self.momentum) * med

    def __call__(self, e: torch.Tensor, label: torch.Tensor, epoch: int, *,
                 update: bool = True, counts: tuple[int, int] | None = None,
                 running_errors: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch, or of one process's share of a batch.

        Parameters
        ----------
        e
            Per-window mean squared errors, shape ``(batch,)``.
        label
            1 seismic, 0 normal, shape ``(batch,)``.
        epoch
            0-based epoch (sets ``lambda``).
        update
            Update the running median normal error first (training).
        counts
            For a *share* of a batch (distributed training): the ``(normal, seismic)`` window
            counts of the whole batch. Each term is then this share's sum over the batch's
            count, so that the shares' losses add up to the loss of the whole batch. ``None``:
            ``e`` is the whole batch (means).
        running_errors
            The normal errors the running median is updated from (default: this batch's;
            distributed training passes the whole batch's, gathered from every process).

        Returns
        -------
        loss, parts
            The scalar loss and its parts (``loss``, ``normal``, ``penalty``, ``lambda``,
            ``margin``) as floats.
        """
        e_n = e[label == 0]
        e_s = e[label == 1]
        if update:
            self.update_running(e_n if running_errors is None else running_errors)
        lam = self.lam_at(epoch)
        margin = self.margin if math.isfinite(self.margin) else 1.0
        if counts is None:
            normal_term = e_n.mean() if e_n.numel() else e.new_zeros(())
            use_pen = lam > 0 and e_s.numel() > 0
            pen = (penalty(e_s, self.kind, margin=margin, eps=self.eps).mean() if use_pen
                else e.new_zeros(()))
        else:
            n_normal, n_seismic = (int(c) for c in counts)
            normal_term = e_n.sum() / max(n_normal, 1)
            pen = (penalty(e_s, self.kind, margin=margin, eps=self.eps).sum() / n_seismic
                if lam > 0 and n_seismic > 0 else e.new_zeros(()))
        loss = normal_term + lam * pen
        return loss, {"loss": float(loss.detach()), "normal": float(normal_term.detach()),
                      "penalty": float(pen.detach()), "lambda": lam, "margin": self.margin,
                      **self.seismic_parts(e_s.detach(), margin, lam)}

    def seismic_parts(self, e_s: torch.Tensor, margin: float, lam: float) -> dict[str, float]:
        """What the penalty did to a batch's seismic windows: how many there were
        (``n_seismic``), the sum of their errors (``seismic_error_sum``) and how many had an
        active penalty (``seismic_active``: a non-zero gradient, which for the hinge means
        an error below the margin; the other penalties are active everywhere). At
        ``lambda = 0`` no penalty is active."""
        n = int(e_s.numel())
        if lam <= 0 or n == 0:
            active = 0
        elif self.kind == "hinge":
            active = int((e_s < margin).sum())
        else:
            active = n
        return {"n_seismic": float(n), "seismic_error_sum": float(e_s.sum()) if n else 0.0,
                "seismic_active": float(active)}

    def state_dict(self) -> dict[str, float]:
        """The running state, for checkpoints."""
        return {"running_normal": self.running_normal}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore :meth:`state_dict`."""
        self.running_normal = float(state["running_normal"])
