"""The methods an evaluation can run, their labels, and which input streams each uses.

Methods: ``"dlep"``, ``"dlep-att"`` (no gates), ``"dlep-dyn"`` (plain cross-entropy),
``"2016n"``, ``"2019f"``, ``"2018cnn"`` (:mod:`geoanom.dlep.baselines`), the trivial
references of :data:`TRIVIAL_METHODS`, and with ``extra_streams`` (contract
:class:`StreamProvider`, shared with :mod:`geoanom.dlep.fusion`) ``"dlep+<anything>"`` (EF,
IF and every extra stream) and ``"<anything>-only"`` (extra streams only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import numpy as np

from geoanom.dlep.segment import Samples
from geoanom.errors import ValidationError

if TYPE_CHECKING:
    import torch

METHODS = ("dlep", "dlep-att", "dlep-dyn", "2016n", "2019f", "2018cnn")
#: Trivial references every table carries: the training fold's commonest class, the class
#: of the largest event of the pattern, and the training fold's class frequencies
#: (climatology, a constant probabilistic forecast: its MAUC is 50 % by construction, its
#: Brier score is the reference a forecast must beat).
TRIVIAL_METHODS = ("majority", "pattern-max", "climatology")
#: The DLEP family: trained side by side (:mod:`geoanom.dlep.grouped`) when
#: ``DLEPConfig.fold_parallel``.
GROUPED_METHODS = ("dlep", "dlep-att", "dlep-dyn")
METHOD_LABELS = {"majority": "majority", "pattern-max": "pattern max",
                 "climatology": "climatology",
                 "dlep": "DLEP", "dlep-att": "DLEP(-Att)", "dlep-dyn": "DLEP(-Dyn)",
                 "2016n": "2016N", "2019f": "2019F", "2018cnn": "2018CNN"}


class StreamProvider(Protocol):
    """An extra feature stream (contract shared with :mod:`geoanom.dlep.fusion`)."""

    dim: int

    def encoder(self) -> torch.nn.Module: ...

    def features(self, samples: Samples, train_idx: np.ndarray, test_idx: np.ndarray,
                 fold: int) -> tuple[np.ndarray, np.ndarray | None]: ...


def streams_of(method: str, extra: Mapping[str, StreamProvider] | None
               ) -> tuple[bool, bool, list[str]]:
    """(catalog streams?, gated?, extra stream names) of a network method; ValidationError
    for an unknown method or a fused one without ``extra``."""
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
