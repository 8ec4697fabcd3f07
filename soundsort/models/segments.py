"""From segment predictions to file predictions."""

from __future__ import annotations

from typing import Any

import numpy as np


def proba_matrix(estimator: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` with one column per class index 0..n_classes-1 (zeros for classes unseen in training)."""
    raw = np.asarray(estimator.predict_proba(X), dtype=float)
    classes = np.asarray(getattr(estimator, "classes_", np.arange(raw.shape[1])), dtype=int)
    if raw.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return raw
    out = np.zeros((len(X), n_classes))
    out[:, classes] = raw
    return out


def aggregate(proba: np.ndarray, file_index: np.ndarray, n_files: int, how: str = "mean") -> np.ndarray:
    """Combine segment probabilities into one row per file (``mean`` of probabilities or ``vote`` share).

    Files without segments get NaN rows.
    """
    k = proba.shape[1]
    if how == "vote":
        proba = np.eye(k)[proba.argmax(axis=1)]
    elif how != "mean":
        raise ValueError(f"unknown aggregation {how!r}")
    sums = np.zeros((n_files, k))
    np.add.at(sums, file_index, proba)
    counts = np.bincount(file_index, minlength=n_files).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]
