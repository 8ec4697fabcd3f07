"""Classification metrics for binary (music vs non-music) and multi-class (genre) tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
)


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    *,
    positive: int | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Metrics from true class indices and predicted probabilities ``proba[n, K]``.

    For a binary task give ``positive`` (the class index of, e.g., "music"): then precision, recall
    and F1 are those of the positive class at ``threshold``, and PR-AUC (average precision) is added.
    Macro-averaged precision / recall / F1 (over the classes that have at least one true file; the others
    are listed in ``absent_classes``), a per-class table and the confusion matrix are always there.
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    k = len(labels)
    if positive is not None:
        y_pred = np.where(proba[:, positive] >= threshold, positive, 1 - positive) if k == 2 else proba.argmax(1)
    else:
        y_pred = proba.argmax(axis=1)
    idx = list(range(k))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    present = s > 0  # a class with no true file has no recall to speak of: macro scores leave it out
    if not present.any():
        present = np.ones(k, dtype=bool)
    out: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(np.mean(p[present])),
        "recall_macro": float(np.mean(r[present])),
        "f1_macro": float(np.mean(f[present])),
        "absent_classes": [labels[i] for i in idx if not present[i]],
        "per_class": {labels[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                  "support": int(s[i])} for i in idx},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=idx).tolist(),
        "labels": list(labels),
    }
    if positive is not None:
        out.update({"positive": labels[positive], "threshold": float(threshold),
                    "precision": float(p[positive]), "recall": float(r[positive]), "f1": float(f[positive])})
        is_pos = (y_true == positive).astype(int)
        if 0 < is_pos.sum() < len(is_pos):
            out["pr_auc"] = float(average_precision_score(is_pos, proba[:, positive]))
    return out


def pr_curve(y_true: np.ndarray, scores: np.ndarray, positive: int) -> dict[str, list[float]]:
    """Precision-recall curve of the positive class (for plotting and threshold choice)."""
    prec, rec, thr = precision_recall_curve((np.asarray(y_true) == positive).astype(int), scores)
    return {"precision": prec.tolist(), "recall": rec.tolist(), "thresholds": thr.tolist()}


SUMMARY_KEYS = ("accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro", "pr_auc")


def summarize_folds(folds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over folds of every scalar metric in :data:`SUMMARY_KEYS`."""
    out: dict[str, dict[str, float]] = {}
    for key in SUMMARY_KEYS:
        vals = [f[key] for f in folds if key in f]
        if vals:
            out[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
    return out
