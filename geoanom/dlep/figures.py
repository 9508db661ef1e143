"""Figures of a DLEP evaluation: the t-SNE embedding of fused features (the paper's Fig. 6)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from geoanom._atomic import atomic_path
from geoanom.dlep.methods import METHOD_LABELS
from geoanom.dlep.results import MethodResult
from geoanom.dlep.segment import N_CLASSES
from geoanom.errors import ValidationError


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
