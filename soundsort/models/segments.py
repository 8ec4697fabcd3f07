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


def short_rule(estimator: Any) -> tuple[int, int] | None:
    """``(min_segments, positive_index)`` when ``estimator`` gives a file of fewer than ``min_segments``
    segments less than its full probability (a zero-shot rule's ``min_segments``,
    :mod:`soundsort.models.zeroshot`); ``None`` when it has no such rule."""
    m = getattr(estimator, "min_segments", None)
    if m is None or int(m) <= 1:
        return None
    return int(m), int(getattr(estimator, "positive_index_", 0))


def shrink_short(p: np.ndarray, n_segments: np.ndarray | int, rule: tuple[int, int] | None) -> np.ndarray:
    """File probabilities ``p`` of files of ``n_segments`` segments under ``rule`` (:func:`short_rule`).

    A file of fewer than ``min_segments`` segments is judged as if padded to ``min_segments`` with segments
    certainly negative: its positive probability is scaled by ``n / min_segments`` and the other class gets
    the rest. ``p``: the positive probability alone (scalar or ``(n_files,)``), or the two classes' (``(2,)``
    or ``(n_files, 2)``: one axis more than ``n_segments``). Unchanged when ``rule`` is None.
    """
    p = np.asarray(p, dtype=np.float64)
    if rule is None:
        return p
    m, pos = rule
    scale = np.minimum(1.0, np.asarray(n_segments, dtype=np.float64) / m)
    if p.ndim == scale.ndim:  # the positive class alone
        return p * scale
    out = p.copy()
    out[..., pos] = p[..., pos] * scale
    out[..., 1 - pos] = 1.0 - out[..., pos]
    return out


def file_mean(proba: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """One file's probability: the mean of its segments' ``proba`` (``(n,)`` or ``(n, K)``) over the segments
    that count (``counts``), or over all of them when none does or ``counts`` is None."""
    proba = np.asarray(proba)
    if counts is not None and counts.any():
        return proba[counts].mean(axis=0)
    return proba.mean(axis=0)


def shrink_short_file(proba: np.ndarray, rule: tuple[int, int] | None) -> np.ndarray:
    """One file's segment probabilities (``(n,)`` positive class, or ``(n, 2)``), each scaled as
    :func:`shrink_short` scales the file's when the file has fewer than ``min_segments`` segments, so its
    timeline and its file probability (:func:`file_mean` of these) say the same; unchanged otherwise."""
    proba = np.asarray(proba)
    if rule is None or len(proba) >= rule[0]:
        return proba
    return shrink_short(proba, np.full(len(proba), len(proba)), rule)  # each segment as its file


def aggregate(proba: np.ndarray, file_index: np.ndarray, n_files: int, how: str = "mean",
              counts: np.ndarray | None = None, short: tuple[int, int] | None = None) -> np.ndarray:
    """Combine segment probabilities into one row per file (``mean`` of probabilities or ``vote`` share).

    ``counts`` (bool per segment, see :func:`segment_counts`): a file's row is taken over its segments that
    count, or over all of them when none of its segments does (as :func:`file_mean`); ``short``
    (:func:`short_rule`): files of few segments get less (:func:`shrink_short`). Files without segments get
    NaN rows.
    """
    n_all = np.bincount(file_index, minlength=n_files)
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
        rows = sums / n[:, None]
    return rows if short is None else shrink_short(rows, n_all, short)
