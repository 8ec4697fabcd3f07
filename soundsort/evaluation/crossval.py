"""Grouped cross-validation and learning curves at the file level.

Models are trained on segments; a file's prediction is the mean of its segments' probabilities; metrics
are computed per file (clip). Folds are built on files, grouped (a recording, or a group such as an
ESC-10 fold or an artist, is never on both sides) and stratified by class.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from soundsort.dataset.splits import grouped_kfold, repeated_grouped_kfold
from soundsort.evaluation.metrics import classification_metrics, summarize_folds
from soundsort.models.segments import aggregate, proba_matrix


@dataclass
class CVResult:
    folds: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]
    oof_proba: np.ndarray  # out-of-fold file probabilities of the first repeat
    fit_seconds: float  # mean per fold
    predict_seconds: float  # mean per fold
    extra: dict[str, Any] = field(default_factory=dict)


def _segment_rows(file_index: np.ndarray, files: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(file_index, files))


def fit_on_files(estimator: BaseEstimator, X: np.ndarray, file_index: np.ndarray, y_file: np.ndarray,
                 files: np.ndarray) -> BaseEstimator:
    """Fit a clone of ``estimator`` on every segment of ``files`` (each labelled with its file's class)."""
    rows = _segment_rows(file_index, files)
    return clone(estimator).fit(X[rows], y_file[file_index[rows]])


def predict_files(estimator: BaseEstimator, X: np.ndarray, file_index: np.ndarray, files: np.ndarray,
                  n_classes: int, n_files: int, how: str = "mean") -> np.ndarray:
    """File-level probabilities ``[n_files, K]`` (rows of files not in ``files`` are NaN)."""
    rows = _segment_rows(file_index, files)
    seg = proba_matrix(estimator, X[rows], n_classes)
    return aggregate(seg, file_index[rows], n_files, how)


def cross_validate(
    estimator: BaseEstimator,
    X: np.ndarray,
    file_index: np.ndarray,
    y_file: np.ndarray,
    groups_file: np.ndarray,
    labels: list[str],
    *,
    n_splits: int = 5,
    n_repeats: int = 1,
    seed: int = 0,
    positive: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CVResult:
    """Grouped, stratified k-fold CV (optionally repeated with new shuffles); metrics per fold at file level."""
    files = np.unique(file_index)
    k = len(labels)
    oof = np.full((len(y_file), k), np.nan)
    folds: list[dict[str, Any]] = []
    fit_t, pred_t = [], []
    splits = list(repeated_grouped_kfold(y_file[files], groups_file[files], n_splits, n_repeats, seed))
    for i, (rep, fold, tr, te) in enumerate(splits):
        tr_files, te_files = files[tr], files[te]
        t0 = time.perf_counter()
        model = fit_on_files(estimator, X, file_index, y_file, tr_files)
        t1 = time.perf_counter()
        proba = predict_files(model, X, file_index, te_files, k, len(y_file))
        t2 = time.perf_counter()
        fit_t.append(t1 - t0)
        pred_t.append(t2 - t1)
        m = classification_metrics(y_file[te_files], proba[te_files], labels, positive=positive)
        m.update({"repeat": rep, "fold": fold, "n_train_files": int(len(tr_files))})
        folds.append(m)
        if rep == 0:
            oof[te_files] = proba[te_files]
        if progress:
            progress(i + 1, len(splits))
    return CVResult(folds, summarize_folds(folds), oof, float(np.mean(fit_t)), float(np.mean(pred_t)))


def learning_curve(
    estimator: BaseEstimator,
    X: np.ndarray,
    file_index: np.ndarray,
    y_file: np.ndarray,
    groups_file: np.ndarray,
    labels: list[str],
    *,
    fractions: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0),
    n_splits: int = 5,
    seed: int = 0,
    positive: int | None = None,
) -> dict[str, Any]:
    """Train on growing shares of each CV training fold (whole groups at a time); score train and validation.

    The score is F1 of the positive class for a binary task, else macro-F1.
    """
    files = np.unique(file_index)
    key = "f1" if positive is not None else "f1_macro"
    rng = np.random.default_rng(seed)
    sizes: list[list[int]] = [[] for _ in fractions]
    train_scores = np.zeros((len(fractions), n_splits))
    val_scores = np.zeros((len(fractions), n_splits))
    for f, (tr, te) in enumerate(grouped_kfold(y_file[files], groups_file[files], n_splits, seed=seed)):
        tr_files, te_files = files[tr], files[te]
        uniq_groups = np.unique(groups_file[tr_files])
        order = rng.permutation(len(uniq_groups))
        for j, frac in enumerate(fractions):
            take = uniq_groups[order[: max(1, int(round(frac * len(uniq_groups))))]]
            sub = tr_files[np.isin(groups_file[tr_files], take)]
            # keep every class present so the model can be fitted
            missing = set(np.unique(y_file[tr_files])) - set(np.unique(y_file[sub]))
            for c in missing:
                sub = np.union1d(sub, tr_files[y_file[tr_files] == c][:1])
            model = fit_on_files(estimator, X, file_index, y_file, sub)
            k = len(labels)
            p_tr = predict_files(model, X, file_index, sub, k, len(y_file))
            p_te = predict_files(model, X, file_index, te_files, k, len(y_file))
            train_scores[j, f] = classification_metrics(y_file[sub], p_tr[sub], labels, positive=positive)[key]
            val_scores[j, f] = classification_metrics(y_file[te_files], p_te[te_files], labels, positive=positive)[key]
            sizes[j].append(len(sub))
    return {"sizes": [int(np.mean(s)) for s in sizes], "train": train_scores.tolist(),
            "validation": val_scores.tolist(), "metric": key}
