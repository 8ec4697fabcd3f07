"""PNG plots for reports: confusion matrix, precision-recall curve, learning curve (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    from soundsort.atomic import atomic_open

    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                          title: str = "Confusion matrix") -> Path:
    """Counts with row-normalized colour (recall per true class)."""
    plt = _plt()
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    return _save(fig, path)


def plot_pr_curve(precision: Sequence[float], recall: Sequence[float], path: str | Path, *,
                  pr_auc: float | None = None, positive: str = "positive", threshold_point: tuple[float, float] | None = None
                  ) -> Path:
    """Precision against recall of the positive class; ``threshold_point`` marks the chosen operating point."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    label = f"PR-AUC {pr_auc:.3f}" if pr_auc is not None else None
    ax.plot(recall, precision, lw=2, label=label)
    if threshold_point is not None:
        ax.plot([threshold_point[0]], [threshold_point[1]], "o", color="crimson", label="operating point")
    ax.set_xlabel(f"recall ({positive})")
    ax.set_ylabel(f"precision ({positive})")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    if label or threshold_point is not None:
        ax.legend(loc="lower left")
    ax.set_title("Precision-recall curve")
    return _save(fig, path)


def plot_learning_curve(sizes: Sequence[int], train_scores: np.ndarray, val_scores: np.ndarray, path: str | Path,
                        metric: str = "score") -> Path:
    """Mean ± std of train and validation score against the number of training recordings."""
    plt = _plt()
    tr, va = np.asarray(train_scores, float), np.asarray(val_scores, float)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for scores, name in ((tr, "train"), (va, "validation")):
        mean, std = scores.mean(axis=1), scores.std(axis=1)
        ax.plot(sizes, mean, "o-", label=name)
        ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
    ax.set_ylim(max(0.0, float(np.min(np.concatenate([tr, va]))) - 0.05), 1.02)  # scores live in [0, 1]
    ax.set_xlabel("training recordings")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Learning curve")
    return _save(fig, path)
