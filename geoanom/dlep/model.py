"""DLEP networks: stream encoders, attention-gated fusion, classifier.

Architecture (DLEP paper section III, METHODS.md section 4)::

    EF = IndicatorEncoder(indicators, mask)   # explicit features, width Indim1 (600)
    IF = PatternCNN(pattern)                  # implicit features, width Indim2 (600)
    F_c = [EF, IF]
    U = sigmoid(F_c W_U),  V = sigmoid(F_c W_V)
    FF = [EF * U, IF * V]                     # gated=False (DLEP(-Att)): FF = F_c
    logits = Classifier(FF)                   # softmax over 5 classes outside the module

Interface contract (shared with :mod:`geoanom.dlep.fusion`)
-----------------------------------------------------------
``FusionNet(stream_encoders, stream_dims, n_classes=5, gated=True, ...)`` takes any number
of named streams. Each encoder is a ``torch.nn.Module`` mapping its input batch to a
``(batch, stream_dims[name])`` vector. With gates, every stream ``s`` gets
``gate_s = sigmoid(F_c W_s)`` where ``F_c`` is the concatenation of *all* stream vectors, and
``FF = concat(v_s * gate_s)`` in the order of ``stream_encoders``; ``gated=False`` is the
-Att variant (plain concatenation). :meth:`FusionNet.forward` takes a dict
``{name: tensor}``; an optional mask for stream ``name`` rides under ``f"{name}_mask"`` and
the encoder is then called as ``encoder(x, mask)`` (else ``encoder(x)``), so an encoder that
accepts a mask must take it as its second positional argument. DLEP itself is
``FusionNet({"EF": IndicatorEncoder, "IF": PatternCNN})`` (:func:`build_dlep`); the fused
variant adds ``"GF"``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from geoanom.errors import ValidationError


class IndicatorEncoder(nn.Module):
    """Projection of the (z-scored, imputed) indicators and their mask to ``dim`` features:
    ``Linear -> ReLU -> BatchNorm -> Dropout`` (the paper's explicit feature layer, Indim1).

    Parameters
    ----------
    n_indicators
        Number of indicator columns (9).
    dim
        Output width (paper: 600).
    dropout
        Dropout probability.
    """

    def __init__(self, n_indicators: int, dim: int = 600, dropout: float = 0.3) -> None:
        super().__init__()
        self.n_indicators = int(n_indicators)
        self.net = nn.Sequential(nn.Linear(2 * self.n_indicators, dim), nn.ReLU(),
                                 nn.BatchNorm1d(dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (batch, k) values; ``mask``: (batch, k), 1 where defined (default all)."""
        if mask is None:
            mask = torch.ones_like(x)
        return self.net(torch.cat([x, mask.to(x.dtype)], dim=1))


class _EventConv(nn.Module):
    """A 1-D convolution over events, ``(batch, w, c_in) -> (batch, w, c_out)`` with zero
    padding ("same" length): the ``kernel_size`` neighbouring events are gathered into one
    vector and mapped by one shared linear layer. Mathematically ``nn.Conv1d``; written this
    way because on a CPU a small ``Conv1d`` costs several times a matrix product of the same
    size, and DLEP trains thousands of tiny batches."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.k = int(kernel_size)
        self.lin = nn.Linear(c_in * self.k, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = (self.k - 1) // 2
        xp = nn.functional.pad(x, (0, 0, left, self.k - 1 - left))
        win = torch.cat([xp[:, i:i + x.shape[1]] for i in range(self.k)], dim=2)
        return self.lin(win)


class _ChannelNorm(nn.Module):
    """Batch normalisation of the channels of ``(batch, w, c)`` (as BatchNorm1d on
    ``(batch, c, w)``)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, w, c = x.shape
        return self.bn(x.reshape(b * w, c)).reshape(b, w, c)


def _pool_matrix(w: int, pooled: int) -> torch.Tensor:
    """(pooled, w) averaging weights of ``AdaptiveAvgPool1d(pooled)`` on length ``w``."""
    m = torch.zeros(pooled, w)
    for i in range(pooled):
        a, b = (i * w) // pooled, -((-(i + 1) * w) // pooled)
        m[i, a:b] = 1.0 / (b - a)
    return m


class PatternCNN(nn.Module):
    """1-D CNN over the ``w`` events of a pattern (channels = event features): two
    ``conv -> ReLU -> BatchNorm`` blocks, adaptive average pooling to ``pooled`` steps
    (keeps coarse order), then ``Linear -> ReLU -> BatchNorm -> Dropout`` to ``dim`` (the
    paper's implicit feature layer, Indim2).

    Parameters
    ----------
    n_features
        Event features per pattern step (5).
    w
        Pattern length (events).
    dim
        Output width (paper: 600).
    channels
        Convolution channels.
    kernel_size
        Convolution kernel (events).
    pooled
        Steps kept after adaptive pooling (at most ``w``).
    dropout
        Dropout probability.
    """

    def __init__(self, n_features: int, w: int, dim: int = 600,
                 channels: tuple[int, int] = (32, 64), kernel_size: int = 3, pooled: int = 4,
                 dropout: float = 0.3) -> None:
        super().__init__()
        c1, c2 = channels
        pooled = max(1, min(int(pooled), int(w)))
        self.w = int(w)
        self.conv = nn.Sequential(
            _EventConv(n_features, c1, kernel_size), nn.ReLU(), _ChannelNorm(c1),
            _EventConv(c1, c2, kernel_size), nn.ReLU(), _ChannelNorm(c2))
        self.register_buffer("pool", _pool_matrix(self.w, pooled), persistent=False)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c2 * pooled, dim), nn.ReLU(),
                                  nn.BatchNorm1d(dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, w, features) -> (batch, dim)."""
        if x.shape[1] != self.w:
            raise ValidationError("pattern length differs from the model's",
                                  expected=str(self.w), found=str(x.shape[1]))
        h = self.conv(x)  # (batch, w, c2)
        return self.head(torch.matmul(self.pool, h))


class FusionNet(nn.Module):
    """Streams -> (gated) fusion -> classifier (see the module docstring for the contract).

    Parameters
    ----------
    stream_encoders
        Name -> encoder module (order fixes the order of ``FF``).
    stream_dims
        Name -> output width of that encoder.
    n_classes
        Output classes (5).
    gated
        Attention gates (DLEP) or plain concatenation (DLEP(-Att)).
    hidden
        Width of the hidden fully connected layer of the classifier.
    dropout
        Dropout before the output layer.
    """

    def __init__(self, stream_encoders: Mapping[str, nn.Module], stream_dims: Mapping[str, int],
                 n_classes: int = 5, gated: bool = True, hidden: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        if not stream_encoders:
            raise ValidationError("FusionNet needs at least one stream")
        missing = [k for k in stream_encoders if k not in stream_dims]
        if missing:
            raise ValidationError("stream_dims lacks streams", found=", ".join(missing))
        self.names = list(stream_encoders)
        self.dims = {k: int(stream_dims[k]) for k in self.names}
        self.encoders = nn.ModuleDict({k: stream_encoders[k] for k in self.names})
        total = sum(self.dims.values())
        self.gated = bool(gated)
        if self.gated:
            # one gate matrix per stream, W_s in R^{(sum d) x d_s}, as U and V in the paper
            self.gates = nn.ModuleDict({k: nn.Linear(total, self.dims[k]) for k in self.names})
        self.classifier = nn.Sequential(nn.Linear(total, hidden), nn.ReLU(),
                                        nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        self.fused_dim = total

    def encode(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Stream vectors ``{name: (batch, d_name)}``."""
        out = {}
        for k in self.names:
            if k not in inputs:
                raise ValidationError("FusionNet input lacks a stream",
                                      expected=", ".join(self.names), found=", ".join(inputs))
            mk = f"{k}_mask"
            enc = self.encoders[k]
            out[k] = enc(inputs[k], inputs[mk]) if mk in inputs else enc(inputs[k])
        return out

    def fuse(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The fused feature vector ``FF`` (batch, sum of dims): the layer the paper's
        t-SNE figure shows."""
        vec = self.encode(inputs)
        f_c = torch.cat([vec[k] for k in self.names], dim=1)
        if not self.gated:
            return f_c
        return torch.cat([vec[k] * torch.sigmoid(self.gates[k](f_c)) for k in self.names],
                         dim=1)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Class logits (batch, n_classes); apply softmax for probabilities."""
        return self.classifier(self.fuse(inputs))


def build_dlep(n_indicators: int, n_pattern_features: int, w: int, *, indim: int = 600,
               gated: bool = True, hidden: int = 128, dropout: float = 0.3,
               channels: tuple[int, int] = (32, 64),
               extra: Mapping[str, tuple[nn.Module, int]] | None = None,
               catalog_streams: bool = True) -> FusionNet:
    """DLEP (``gated=True``) or DLEP(-Att) (``gated=False``), optionally with extra streams
    ``{name: (encoder, dim)}`` (e.g. the geomagnetic ``"GF"``); ``catalog_streams=False``
    keeps only the extra streams (e.g. "geomag-only").

    Widths: ``indim`` is the paper's Indim1 = Indim2 (600).
    """
    enc: dict[str, nn.Module] = {}
    dims: dict[str, int] = {}
    if catalog_streams:
        enc["EF"] = IndicatorEncoder(n_indicators, indim, dropout)
        enc["IF"] = PatternCNN(n_pattern_features, w, indim, channels=channels,
                               dropout=dropout)
        dims.update(EF=indim, IF=indim)
    for k, (e, d) in (extra or {}).items():
        enc[k], dims[k] = e, int(d)
    return FusionNet(enc, dims, gated=gated, hidden=hidden, dropout=dropout)


# --------------------------------------------------------------------------- fold-parallel


def _uniform_groups(shape: tuple[int, ...], bound: float,
                    generators: list[torch.Generator] | None) -> torch.Tensor:
    """U(-bound, bound) of ``shape`` (leading group axis); with ``generators`` group ``g``
    is drawn from ``generators[g]`` alone, so its values do not depend on the other groups."""
    if generators is None:
        return torch.empty(shape).uniform_(-bound, bound)
    if len(generators) != shape[0]:
        raise ValidationError("one generator per group", expected=str(shape[0]),
                              found=str(len(generators)))
    return torch.stack([torch.empty(shape[1:]).uniform_(-bound, bound, generator=gen)
                        for gen in generators])


#: Row counts (samples in a batch) at which every group position of a :class:`GroupedDLEP`
#: gives the bits a network alone gives. Measured with MKL on x86-64 CPUs: at multiples of
#: 4 the batched products (forward and backward) of any group position equal the lone
#: product, at any thread count; at other counts (a 13-row evaluation tail, batches of 18)
#: the batched kernel handles the leftover rows differently by position and the last float
#: bits move (``tests/test_dlep_model.py`` checks every position at both kinds of counts).
ROW_MULTIPLE = 4


def rows_group_invariant(n_rows: int) -> bool:
    """Whether batches of ``n_rows`` give each group's numbers independently of the group
    count and position (the one rule :func:`geoanom.dlep.grouped.job_groups` and
    :meth:`GroupedDLEP.predict` follow)."""
    return int(n_rows) % ROW_MULTIPLE == 0


def _pad_rows(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x`` (G, B, ...) with zero rows appended along B up to ``n`` rows."""
    if x.shape[1] == n:
        return x
    pad = x.new_zeros((x.shape[0], n - x.shape[1], *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


class _GLinear(nn.Module):
    """``G`` independent linear layers applied to ``(G, N, in)`` at once (one batched
    matrix product). Initialised like ``nn.Linear``: U(-1/sqrt(in), 1/sqrt(in)), group ``g``
    from ``generators[g]`` when given."""

    def __init__(self, groups: int, d_in: int, d_out: int,
                 generators: list[torch.Generator] | None = None) -> None:
        super().__init__()
        bound = 1.0 / d_in ** 0.5
        self.weight = nn.Parameter(_uniform_groups((groups, d_in, d_out), bound, generators))
        self.bias = nn.Parameter(_uniform_groups((groups, 1, d_out), bound, generators))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class _GBatchNorm(nn.Module):
    """``G`` independent BatchNorm1d over ``(G, N, C)`` (statistics over N per group);
    running statistics move only for the groups marked active (PyTorch conventions:
    momentum 0.1, unbiased running variance, eps 1e-5)."""

    def __init__(self, groups: int, c: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(groups, 1, c))
        self.bias = nn.Parameter(torch.zeros(groups, 1, c))
        self.register_buffer("running_mean", torch.zeros(groups, 1, c))
        self.register_buffer("running_var", torch.ones(groups, 1, c))
        self.momentum, self.eps = momentum, eps
        self.active: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(dim=1, keepdim=True)
            var = x.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = x.shape[1]
                act = (torch.ones(x.shape[0], 1, 1, dtype=torch.bool) if self.active is None
                       else self.active.view(-1, 1, 1))
                mom = self.momentum
                self.running_mean.copy_(torch.where(
                    act, (1 - mom) * self.running_mean + mom * mean, self.running_mean))
                self.running_var.copy_(torch.where(
                    act, (1 - mom) * self.running_var + mom * var * n / max(n - 1, 1),
                    self.running_var))
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


_MASK32 = 0xFFFFFFFF
_HASH_MUL = 0x45D9F3B


def _hash32(x):
    """A 32-bit integer mixing function (works on Python ints and int64 tensors holding
    values below 2**32; products stay below 2**63)."""
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    x = ((x >> 16) ^ x) * _HASH_MUL & _MASK32
    return (x >> 16) ^ x


def _mix32(h: np.ndarray) -> np.ndarray:
    """:func:`_hash32` on a ``uint32`` array, in place (unsigned products wrap modulo
    2**32, which is what the int64 form's ``& _MASK32`` does)."""
    t = h >> np.uint32(16)
    h ^= t
    h *= np.uint32(_HASH_MUL)
    np.right_shift(h, np.uint32(16), out=t)
    h ^= t
    h *= np.uint32(_HASH_MUL)
    np.right_shift(h, np.uint32(16), out=t)
    h ^= t
    return h


_POSITIONS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _positions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(idx * 0x9E3779B1 mod 2**32, idx >> 16)`` as ``uint32`` for ``idx < n`` (cached)."""
    if n not in _POSITIONS:
        if len(_POSITIONS) > 64:
            _POSITIONS.clear()
        idx = np.arange(n, dtype=np.uint32)
        _POSITIONS[n] = (idx * np.uint32(0x9E3779B1), idx >> np.uint32(16))
    return _POSITIONS[n]


def group_uniform(keys: torch.Tensor, counter: int, shape: tuple[int, ...] | torch.Size
                  ) -> torch.Tensor:
    """Uniform numbers in [0, 1) of shape ``(len(keys), *shape)``: row ``g`` is a function
    of ``keys[g]``, ``counter`` and the element position only (counter-based hashing), so
    it does not depend on the other rows or on any global generator state.

    Element ``i`` of row ``g`` is ``H(H((base_g + i * 0x9E3779B1) mod 2**32) ^ (i >> 16))
    / 2**32`` with ``H`` = :func:`_hash32` and ``base_g = H(keys[g] ^ H(counter))``,
    computed in unsigned 32-bit arithmetic (the same bits as the int64 form, half the
    memory traffic; tested against it)."""
    n = 1
    for d in shape:
        n *= int(d)
    c = _hash32(int(counter) & _MASK32)
    base = np.array([_hash32((int(k) & _MASK32) ^ c) for k in keys.tolist()],
                    dtype=np.uint32)
    spread, high = _positions(n)
    h = _mix32(base[:, None] + spread[None, :])
    h ^= high[None, :]
    h = _mix32(h)
    return (torch.from_numpy(h.astype(np.float32)) * (1.0 / 4294967296.0)).view(
        len(keys), *shape)


def group_uniform_int64(keys: torch.Tensor, counter: int,
                        shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """The reference form of :func:`group_uniform` in int64 tensor arithmetic (slower;
    kept to test that the fast form gives the same bits)."""
    n = 1
    for d in shape:
        n *= int(d)
    c = _hash32(int(counter) & _MASK32)
    base = _hash32(keys.to(torch.int64) ^ c)  # (G,)
    idx = torch.arange(n, dtype=torch.int64)
    h = _hash32((base[:, None] + idx[None, :] * 0x9E3779B1) & _MASK32)
    h = _hash32(h ^ (idx[None, :] >> 16))
    return (h.to(torch.float32) * (1.0 / 4294967296.0)).view(len(keys), *shape)


class GroupedDLEP(nn.Module):
    """``G`` independent DLEP (or DLEP(-Att)) networks trained side by side, one per
    (seed, fold): the same layers as :func:`build_dlep`'s :class:`FusionNet`, with every
    weight carrying a leading group axis, so one batched matrix product replaces ``G`` small
    ones (on a CPU, per-operation overhead dominates DLEP's tiny batches). Group ``g`` is
    mathematically the network :meth:`to_fusionnet` returns (tested), and with
    :class:`GroupAdam` and per-group losses its training equals separate training.

    Inputs: ``{"EF": (G, B, k), "EF_mask": (G, B, k), "IF": (G, B, w, F)}``; output logits
    ``(G, B, n_classes)``.

    Seeds belong to groups: with ``seeds`` (one integer per group), group ``g``'s initial
    weights come from a generator seeded with ``seeds[g]`` and its dropout masks from a
    counter-based hash of ``(seeds[g], step, layer, element)`` (:meth:`set_step`), so a
    group's numbers are the same whether it is trained alone or beside others. Without
    ``seeds`` the weights come from torch's global generator and dropout from
    ``nn.functional.dropout`` (group results then depend on the grouping).
    """

    def __init__(self, groups: int, n_indicators: int, n_pattern_features: int, w: int, *,
                 indim: int = 600, gated: bool = True, hidden: int = 128,
                 dropout: float = 0.3, channels: tuple[int, int] = (32, 64),
                 kernel_size: int = 3, pooled: int = 4, n_classes: int = 5,
                 seeds: list[int] | None = None) -> None:
        super().__init__()
        g, c1, c2 = int(groups), channels[0], channels[1]
        self.groups, self.w, self.k, self.gated = g, int(w), int(kernel_size), bool(gated)
        self.dropout = float(dropout)
        gens = None
        if seeds is not None:
            if len(seeds) != g:
                raise ValidationError("one seed per group", expected=str(g),
                                      found=str(len(seeds)))
            gens = [torch.Generator().manual_seed(int(sd)) for sd in seeds]
            self.register_buffer("noise_keys", torch.as_tensor(
                [_hash32(int(sd) & _MASK32) for sd in seeds], dtype=torch.int64),
                persistent=False)
        else:
            self.noise_keys = None
        self._step = 0
        self.ef = _GLinear(g, 2 * n_indicators, indim, gens)
        self.ef_bn = _GBatchNorm(g, indim)
        self.conv1 = _GLinear(g, n_pattern_features * self.k, c1, gens)
        self.bn1 = _GBatchNorm(g, c1)
        self.conv2 = _GLinear(g, c1 * self.k, c2, gens)
        self.bn2 = _GBatchNorm(g, c2)
        pooled = max(1, min(int(pooled), self.w))
        self.register_buffer("pool", _pool_matrix(self.w, pooled), persistent=False)
        self.if_lin = _GLinear(g, c2 * pooled, indim, gens)
        self.if_bn = _GBatchNorm(g, indim)
        if self.gated:
            self.gate_ef = _GLinear(g, 2 * indim, indim, gens)
            self.gate_if = _GLinear(g, 2 * indim, indim, gens)
        self.fc1 = _GLinear(g, 2 * indim, hidden, gens)
        self.fc2 = _GLinear(g, hidden, n_classes, gens)
        self.init_args = dict(n_indicators=n_indicators, n_pattern_features=n_pattern_features,
                              w=self.w, indim=indim, gated=self.gated, hidden=hidden,
                              dropout=self.dropout, channels=(c1, c2))

    @staticmethod
    def weights_per_group(n_indicators: int, n_pattern_features: int, w: int,
                          **kwargs) -> int:
        """Trainable weights of one group (one network) with these arguments, counted on
        the ``meta`` device (no memory, no random numbers drawn)."""
        return int(sum(GroupedDLEP.weight_sizes(n_indicators, n_pattern_features, w,
                                                **kwargs)))

    @staticmethod
    def weight_sizes(n_indicators: int, n_pattern_features: int, w: int, **kwargs
                     ) -> list[int]:
        """Size of each trainable tensor of one group (one network), on the ``meta``
        device."""
        with torch.device("meta"):
            net = GroupedDLEP(1, n_indicators, n_pattern_features, w, **kwargs)
        return [int(p.numel()) for p in net.parameters()]

    def set_active(self, active: torch.Tensor | None) -> None:
        """Groups whose batch-norm running statistics may move in the next forward."""
        for mod in self.modules():
            if isinstance(mod, _GBatchNorm):
                mod.active = active

    def set_step(self, step: int) -> None:
        """The training step number that keys the next forward's dropout masks (with
        ``seeds``); callers number steps the same way whatever the grouping."""
        self._step = int(step)

    def _drop(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        if not self.training or self.dropout <= 0.0:
            return x
        if self.noise_keys is None:
            return nn.functional.dropout(x, self.dropout, True)
        u = group_uniform(self.noise_keys, self._step * 16 + layer, x.shape[1:])
        keep = (u >= self.dropout).to(x.dtype)
        return x * keep / (1.0 - self.dropout)

    def _conv(self, lin: _GLinear, x: torch.Tensor) -> torch.Tensor:
        # x: (G, B, w, c) -> windows (G, B*w, k*c), same layout as _EventConv
        g, b, w, c = x.shape
        flat = x.reshape(g * b, w, c)
        left = (self.k - 1) // 2
        xp = nn.functional.pad(flat, (0, 0, left, self.k - 1 - left))
        win = torch.cat([xp[:, i:i + w] for i in range(self.k)], dim=2)
        return lin(win.reshape(g, b * w, self.k * c))

    def fuse(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fused features ``FF`` (G, B, 2 * indim)."""
        x_ef = inputs["EF"]
        mask = inputs.get("EF_mask")
        if mask is None:
            mask = torch.ones_like(x_ef)
        ef = self._drop(self.ef_bn(torch.relu(self.ef(torch.cat([x_ef, mask], dim=2)))), 0)
        pat = inputs["IF"]
        g, b, w, _ = pat.shape
        if w != self.w:
            raise ValidationError("pattern length differs from the model's",
                                  expected=str(self.w), found=str(w))
        h = self.bn1(torch.relu(self._conv(self.conv1, pat))).reshape(g, b, w, -1)
        h = self.bn2(torch.relu(self._conv(self.conv2, h))).reshape(g, b, w, -1)
        h = torch.matmul(self.pool, h).reshape(g, b, -1)
        f_if = self._drop(self.if_bn(torch.relu(self.if_lin(h))), 1)
        f_c = torch.cat([ef, f_if], dim=2)
        if not self.gated:
            return f_c
        return torch.cat([ef * torch.sigmoid(self.gate_ef(f_c)),
                          f_if * torch.sigmoid(self.gate_if(f_c))], dim=2)

    def classify(self, ff: torch.Tensor) -> torch.Tensor:
        """Logits from fused features."""
        return self.fc2(self._drop(torch.relu(self.fc1(ff)), 2))

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.classify(self.fuse(inputs))

    @torch.no_grad()
    def predict(self, inputs: Mapping[str, torch.Tensor], *, chunk: int = 512
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused features ``(G, B, 2 * indim)`` and class probabilities ``(G, B, classes)``
        in evaluation mode, ``chunk`` samples at a time. Each chunk is padded with zero rows
        to a multiple of :data:`ROW_MULTIPLE` (rows are independent in evaluation mode; the
        padding is dropped), so a group's numbers do not depend on its position or on the
        group count whatever ``B`` is."""
        if chunk <= 0 or not rows_group_invariant(chunk):
            raise ValidationError("evaluation chunk must be a positive multiple of "
                                  f"{ROW_MULTIPLE}", expected=f"k*{ROW_MULTIPLE}",
                                  found=str(chunk))
        was_training = self.training
        self.eval()
        n = next(iter(inputs.values())).shape[1]
        ffs, probs = [], []
        try:
            for c0 in range(0, n, chunk):
                m = min(chunk, n - c0)
                rows = -(-m // ROW_MULTIPLE) * ROW_MULTIPLE
                ff = self.fuse({k: _pad_rows(v[:, c0:c0 + m], rows)
                                for k, v in inputs.items()})
                p = torch.softmax(self.classify(ff), dim=-1)
                ffs.append(ff[:, :m])
                probs.append(p[:, :m])
        finally:
            self.train(was_training)
        return torch.cat(ffs, dim=1), torch.cat(probs, dim=1)

    @torch.no_grad()
    def to_fusionnet(self, g: int) -> FusionNet:
        """Group ``g`` as a standalone :class:`FusionNet` from :func:`build_dlep`."""
        a = self.init_args
        net = build_dlep(a["n_indicators"], a["n_pattern_features"], a["w"], indim=a["indim"],
                         gated=a["gated"], hidden=a["hidden"], dropout=a["dropout"],
                         channels=a["channels"])

        def lin(dst: nn.Linear, src: _GLinear) -> None:
            dst.weight.copy_(src.weight[g].T)
            dst.bias.copy_(src.bias[g, 0])

        def bn(dst: nn.BatchNorm1d, src: _GBatchNorm) -> None:
            dst.weight.copy_(src.weight[g, 0])
            dst.bias.copy_(src.bias[g, 0])
            dst.running_mean.copy_(src.running_mean[g, 0])
            dst.running_var.copy_(src.running_var[g, 0])

        ef, pat = net.encoders["EF"].net, net.encoders["IF"]
        lin(ef[0], self.ef)
        bn(ef[2], self.ef_bn)
        lin(pat.conv[0].lin, self.conv1)
        bn(pat.conv[2].bn, self.bn1)
        lin(pat.conv[3].lin, self.conv2)
        bn(pat.conv[5].bn, self.bn2)
        lin(pat.head[1], self.if_lin)
        bn(pat.head[3], self.if_bn)
        if self.gated:
            lin(net.gates["EF"], self.gate_ef)
            lin(net.gates["IF"], self.gate_if)
        lin(net.classifier[0], self.fc1)
        lin(net.classifier[3], self.fc2)
        return net


class GroupAdam:
    """Adam (as ``torch.optim.Adam``, no weight decay) over parameters with a leading group
    axis, updating only the groups marked active at each step, with a step count per group
    (so a group that sits out a step is left exactly as it was).

    Uses torch's fused CPU Adam kernel on the per-group slices when available (about 6x
    faster than element-wise tensor code; the update of a group depends on that group's
    slices only), else the same update written with tensor operations.
    """

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        n_groups = self.params[0].shape[0]
        self.t = torch.zeros(n_groups, dtype=torch.float64)
        self._steps = [torch.zeros((), dtype=torch.float32) for _ in range(n_groups)]
        self._fused = hasattr(torch, "_fused_adam_")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """One update of the active groups (bool tensor of length G)."""
        active = torch.as_tensor(active, dtype=torch.bool)
        if not bool(active.any()):
            return
        self.t += active.to(torch.float64)
        if self._fused:
            self._step_fused(active)
        else:
            self._step_tensor(active)

    def _step_fused(self, active: torch.Tensor) -> None:
        groups = torch.nonzero(active).flatten().tolist()
        for g in groups:
            self._steps[g].add_(1.0)
        ps, gs, ms, vs, ts = [], [], [], [], []
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            for g in groups:
                ps.append(p.data[g])
                gs.append(p.grad[g])
                ms.append(m[g])
                vs.append(v[g])
                ts.append(self._steps[g])
        if ps:
            torch._fused_adam_(ps, gs, ms, vs, [], ts, lr=self.lr, beta1=self.b1,
                               beta2=self.b2, weight_decay=0.0, eps=self.eps, amsgrad=False,
                               maximize=False)

    def _step_tensor(self, active: torch.Tensor) -> None:
        everyone = bool(active.all())
        sel = None if everyone else torch.nonzero(active).flatten()
        t = self.t if everyone else self.t[sel]
        dtype = self.params[0].dtype
        step_size = (self.lr / (1 - self.b1 ** t)).to(dtype)
        bc2_sqrt = torch.sqrt(1 - self.b2 ** t).to(dtype)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            if everyone:
                g = p.grad
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = v.sqrt().div_(bc2_sqrt.view(shape)).add_(self.eps)
                p.sub_(m.mul(step_size.view(shape)).div_(denom))
            else:
                g = p.grad[sel]
                ms = m[sel].mul_(self.b1).add_(g, alpha=1 - self.b1)
                vs = v[sel].mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                denom = vs.sqrt().div_(bc2_sqrt.view(shape)).add_(self.eps)
                p[sel] = p[sel] - ms * step_size.view(shape) / denom
                m[sel] = ms
                v[sel] = vs
