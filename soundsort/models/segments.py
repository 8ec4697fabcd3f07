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


def segment_counts(estimator: Any, X: np.ndarray) -> np.ndarray | None:
    """Which segments count towards their file's probability (bool ``(n,)``), from the estimator's
    ``segment_counts`` (a zero-shot rule with a silence or noise column, :mod:`soundsort.models.zeroshot`); ``None``
    when it has none: every segment counts."""
    method = getattr(estimator, "segment_counts", None)
    return None if method is None else np.asarray(method(X), dtype=bool)


def file_mean(proba: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """One file's probability: the mean of its segments' ``proba`` (``(n,)`` or ``(n, K)``) over the segments
    that count (``counts``), or over all of them when none does or ``counts`` is None."""
    proba = np.asarray(proba)
    if counts is not None and counts.any():
        return proba[counts].mean(axis=0)
    return proba.mean(axis=0)


def aggregate(proba: np.ndarray, file_index: np.ndarray, n_files: int, how: str = "mean",
              counts: np.ndarray | None = None) -> np.ndarray:
    """Combine segment probabilities into one row per file (``mean`` of probabilities or ``vote`` share).

    ``counts`` (bool per segment, see :func:`segment_counts`): a file's row is taken over its segments that
    count, or over all of them when none of its segments does (as :func:`file_mean`). Files without
    segments get NaN rows.
    """
    k = proba.shape[1]
    if how == "vote":
        proba = np.eye(k)[proba.argmax(axis=1)]
    elif how != "mean":
        raise ValueError(f"unknown aggregation {how!r}")
    if counts is not None:
        counts = np.asarray(counts, dtype=bool)
        some = np.bincount(file_index[counts], minlength=n_files) > 0  # files with a segment that counts
        use = counts | ~some[file_index]
        proba, file_index = proba[use], file_index[use]
    sums = np.zeros((n_files, k))
    np.add.at(sums, file_index, proba)
    n = np.bincount(file_index, minlength=n_files).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / n[:, None]
