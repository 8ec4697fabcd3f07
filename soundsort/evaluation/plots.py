"""PNG plots for reports: confusion matrix, precision-recall curve, learning curve, reliability diagram, t-SNE
map, and classify's per-file timeline (matplotlib, no display)."""

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
                  pr_auc: float | None = None, positive: str = "positive", threshold_point: tuple[float, float] | None = None,
                  title: str = "Precision-recall curve") -> Path:
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
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_learning_curve(sizes: Sequence[int], train_scores: np.ndarray, val_scores: np.ndarray, path: str | Path,
                        metric: str = "score", title: str = "Learning curve") -> Path:
    """Mean ± std of train and validation score against the number of training recordings."""
    plt = _plt()
    tr, va = np.asarray(train_scores, float), np.asarray(val_scores, float)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for scores, name in ((tr, "train"), (va, "validation")):
        mean, std = np.nanmean(scores, axis=1), np.nanstd(scores, axis=1)  # NaN: a size the model could not fit
        ax.plot(sizes, mean, "o-", label=name)
        ax.fill_between(sizes, mean - std, mean + std, alpha=0.2)
    ax.set_ylim(max(0.0, float(np.nanmin(np.concatenate([tr, va]))) - 0.05), 1.02)  # scores live in [0, 1]
    ax.set_xlabel("training recordings")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_reliability(curves: dict[str, dict[str, list[float]]], path: str | Path,
                     title: str = "Reliability diagram") -> Path:
    """Reliability diagram: mean confidence vs accuracy per bin, one line per named curve, each point labelled
    with its bin's number of files (a bin of 2 files says little)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfectly calibrated")
    for name, c in curves.items():
        ece = c.get("ece", [None])[0]
        label = f"{name} (ECE {ece:.3f})" if ece is not None else name
        (line,) = ax.plot(c["confidence"], c["accuracy"], "o-", label=label)
        for x, y, n in zip(c["confidence"], c["accuracy"], c.get("count") or []):
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                        color=line.get_color())
    ax.set_xlabel("confidence (top-class probability; numbers: files per bin)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_embedding_map(X: np.ndarray, labels: Sequence[str], path: str | Path, *, seed: int = 0,
                       title: str = "t-SNE map of the files' features", sources: Sequence[str] | None = None) -> Path:
    """A 2-D t-SNE map of per-file feature vectors (standardized, PCA to 50 dims first), coloured by label;
    with ``sources`` (each file's source folder) a second panel colours the same map by source."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    plt = _plt()
    X = StandardScaler().fit_transform(np.asarray(X, dtype=float))
    if X.shape[1] > 50 and len(X) > 50:
        X = PCA(n_components=50, random_state=seed).fit_transform(X)
    perplexity = float(min(30.0, max(2.0, (len(X) - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(X)
    panels = [("by label", labels)] + ([("by source folder", sources)] if sources is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, (what, values) in zip(axes[0], panels):
        names = sorted(set(values))
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        lab = np.asarray(values)
        for i, name in enumerate(names):
            m = lab == name
            ax.scatter(xy[m, 0], xy[m, 1], s=14, color=cmap(i % cmap.N), label=f"{name} ({m.sum()})", alpha=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="best", markerscale=1.2)
        ax.set_title(what, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_timeline(record: dict, path: str | Path, *, title: str | None = None) -> Path:
    """One file's classify timeline: music / non-music segments along time, each bar as high as its
    confidence, music segments named with their own top genre."""
    plt = _plt()
    duration = max([float(record.get("duration") or 0.0)] + [float(s["end"]) for s in record.get("timeline", [])])
    fig, ax = plt.subplots(figsize=(10, 2.4))
    colours = {"music": "#2a7ab9", "non-music": "#b0b0b0"}
    for s in record.get("timeline", []):
        width = float(s["end"]) - float(s["start"])
        ax.bar(float(s["start"]), float(s["confidence"]), width=width, align="edge",
               color=colours.get(s["label"], "#888888"), edgecolor="white", linewidth=0.5)
        genre = (s.get("genre") or [{}])[0].get("label")
        if genre and width > duration / 40:
            ax.text(float(s["start"]) + width / 2, float(s["confidence"]) + 0.03, genre, ha="center", va="bottom",
                    fontsize=7)
    ax.set_xlim(0, duration or 1.0)
    ax.set_ylim(0, 1.2)
    ax.set_xlabel("seconds")
    ax.set_ylabel("confidence")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, list(colours), loc="upper right", fontsize=7, ncol=2)
    share = record.get("music_share")
    top = (record.get("genre") or [{}])[0].get("label")
    ax.set_title((title or str(record.get("path", ""))) + (f" — {100 * share:.0f}% music" if share is not None else "")
                 + (f", {top}" if top else ""), fontsize=9)
    return _save(fig, path)
