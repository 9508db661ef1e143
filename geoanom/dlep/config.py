"""DLEP hyper-parameters (:class:`DLEPConfig`): training, protocols, baselines, grouping."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class DLEPConfig:
    """Hyper-parameters (defaults: the paper's Table II where it gives them).

    Attributes
    ----------
    epochs, batch_size, lr
        Paper's Table II: 65 epochs, batch 24, learning rate 0.00025.
    indim
        Width of the EF and IF layers. The paper's Indim1 = Indim2 = 600
        (:data:`geoanom.dlep.paper.PAPER_INDIM`); the default is 128 because at 600 one
        10-fold run on the Japan samples costs about 740 CPU-seconds (2.5 times the 5-minute
        budget; the gates alone hold 2 x 1200 x 600 weights) against about 80 at 128
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
        (:func:`geoanom.dlep.grouped.fit_predict_grouped`; same mathematics, far less CPU
        overhead).
    group_size
        At most this many (seed, fold) networks side by side in one group; 0 (default)
        picks the largest group whose weights stay within
        :data:`geoanom.dlep.grouped.GROUP_WEIGHT_BUDGET` and
        :data:`geoanom.dlep.grouped.GROUP_TENSOR_BYTES` (9 gated networks at Indim 600,
        every job at Indim 128). Results do not depend on it (tested); only the speed does.
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
