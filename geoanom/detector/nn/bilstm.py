"""The BiLSTM autoencoder that reconstructs masked geomagnetic windows.

Encoder: a bidirectional LSTM reads the window (the scaled components, zero where invalid, and
the validity mask as extra channels, so that an invalid zero is not mistaken for a measured
one); its last forward and backward states go through a linear layer to a latent vector.
Decoder: the latent vector, repeated at every step, feeds a second bidirectional LSTM and a
linear layer per step. The output is ``bound * tanh(y / bound)``: the decoder cannot inflate
its output beyond ``bound`` (normalised units), whatever the loss rewards.
"""

from __future__ import annotations

import torch
from torch import nn

from geoanom.errors import ConfigError


class BiLSTMAutoencoder(nn.Module):
    """Bidirectional LSTM encoder -> latent -> bidirectional LSTM decoder -> bounded output.

    Parameters
    ----------
    n_components
        Number of components per sample (e.g. 4 for X Y Z F).
    hidden_size
        LSTM hidden units per direction.
    num_layers
        Stacked LSTM layers in encoder and decoder.
    latent_size
        Size of the latent vector of a window.
    output_bound
        The decoder output lies in ``(-output_bound, output_bound)`` (normalised units).
    """

    def __init__(self, n_components: int, hidden_size: int = 32, num_layers: int = 1,
                 latent_size: int = 16, output_bound: float = 10.0) -> None:
        super().__init__()
        for name, v in (("n_components", n_components), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("latent_size", latent_size)):
            if int(v) != v or v < 1:
                raise ConfigError(f"{name} must be a positive integer", found=str(v))
        if not output_bound > 0:
            raise ConfigError("output_bound must be > 0", found=str(output_bound))
        self.n_components = int(n_components)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.latent_size = int(latent_size)
        self.output_bound = float(output_bound)
        self.encoder = nn.LSTM(2 * n_components, hidden_size, num_layers, batch_first=True,
                               bidirectional=True)
        self.to_latent = nn.Linear(2 * hidden_size, latent_size)
        self.decoder = nn.LSTM(latent_size, hidden_size, num_layers, batch_first=True,
                               bidirectional=True)
        self.to_output = nn.Linear(2 * hidden_size, n_components)

    def arch_args(self) -> dict:
        """The constructor arguments (what ``model.json`` stores to rebuild the model)."""
        return {"n_components": self.n_components, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "latent_size": self.latent_size,
                "output_bound": self.output_bound}

    def encode(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Latent vectors ``(batch, latent_size)`` of windows ``x`` ``(batch, step, comp)``."""
        v = valid.to(x.dtype)
        _, (h, _) = self.encoder(torch.cat([x * v, v], dim=-1))
        # h: (num_layers * 2, batch, hidden); the last layer's forward and backward states.
        last = torch.cat([h[-2], h[-1]], dim=-1)
        return self.to_latent(last)

    def decode(self, z: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Reconstruction ``(batch, n_steps, comp)`` from latent vectors ``z``."""
        y, _ = self.decoder(z.unsqueeze(1).expand(-1, n_steps, -1))
        out = self.to_output(y)
        return self.output_bound * torch.tanh(out / self.output_bound)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct windows.

        Parameters
        ----------
        x
            Scaled windows, ``(batch, step, component)``, float.
        valid
            Boolean mask of the same shape; invalid samples are zeroed before the encoder.
            ``None``: every sample valid.

        Returns
        -------
        torch.Tensor
            Reconstruction, same shape as ``x``, bounded by ``output_bound``.
        """
        if x.dim() != 3 or x.shape[-1] != self.n_components:
            raise ConfigError("model input must be (window, step, component)",
                              expected=f"(*, *, {self.n_components})", found=str(tuple(x.shape)))
        if valid is None:
            valid = torch.ones_like(x, dtype=torch.bool)
        return self.decode(self.encode(x, valid), x.shape[1])


def window_errors(x: torch.Tensor, x_hat: torch.Tensor,
                  valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared reconstruction error of each window over its valid samples.

    Parameters
    ----------
    x, x_hat
        Windows and reconstructions, ``(batch, step, component)`` (normalised units).
    valid
        Boolean mask, same shape; invalid samples enter neither error.

    Returns
    -------
    e, e_comp
        ``e``: ``(batch,)`` mean over all valid samples and components; ``e_comp``:
        ``(batch, component)`` mean over the valid samples of each component. NaN where a
        window (component) has no valid sample.
    """
    v = valid.to(x.dtype)
    sq = (x_hat - x) ** 2 * v
    n_comp = v.sum(dim=1)
    s_comp = sq.sum(dim=1)
    nan = torch.full_like(n_comp, float("nan"))
    e_comp = torch.where(n_comp > 0, s_comp / n_comp.clamp(min=1), nan)
    n = n_comp.sum(dim=1)
    e = torch.where(n > 0, s_comp.sum(dim=1) / n.clamp(min=1), nan[:, 0])
    return e, e_comp
