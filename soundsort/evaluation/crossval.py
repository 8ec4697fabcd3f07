"""Grouped cross-validation and learning curves at the file level.

Models are trained on segments; a file's prediction is the mean of its segments' probabilities; metrics
are computed per file (clip). Folds are built on files, grouped (a recording, or a group such as an
ESC-10 fold or an artist, is never on both sides) and stratified by class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from soundsort.dataset.splits import SourceSplit, grouped_kfold, repeated_grouped_kfold
from soundsort.errors import ConfigError
from soundsort.evaluation.metrics import classification_metrics, summarize_folds
from soundsort.features.augmented import AugmentedTable, augmented_rows
from soundsort.models.fitting import fit_with_groups
from soundsort.models.segments import aggregate, proba_matrix, segment_counts, short_rule


@dataclass
class CVResult:
    folds: list[dict[str, Any]]
    summary: dict[str, dict[str, float]]
    oof_proba: np.ndarray  # out-of-fold file probabilities of the first repeat
    fit_seconds: float  # mean per fold
    predict_seconds: float  # mean per fold
    #: every split's (repeat, fold, test file indices, their probabilities [len(test), K])
    split_proba: list[tuple[int, int, np.ndarray, np.ndarray]] = field(default_factory=list)


def _segment_rows(file_index: np.ndarray, files: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(file_index, files))


def fit_on_files(estimator: BaseEstimator, X: np.ndarray, file_index: np.ndarray, y_file: np.ndarray,
                 files: np.ndarray, groups_file: np.ndarray | None = None,
                 augmented: AugmentedTable | None = None) -> BaseEstimator:
    """Fit a clone of ``estimator`` on every segment of ``files`` (each labelled with its file's class).

    Estimators whose ``fit`` takes ``groups`` (the neural heads, for their early-stopping split) get
    each segment's group, so segments of one recording never sit on both sides of it. ``augmented``
    copies join the training data when their source file and the noise mixed into them are both among
    ``files`` (:func:`~soundsort.features.augmented.augmented_rows`); they carry their source's label and group.
    """
    rows = _segment_rows(file_index, files)
    Xf, src = X[rows], file_index[rows]
    extra = augmented_rows(augmented, files)
    if len(extra):
        Xf = np.concatenate([Xf, augmented.values[extra]])
        src = np.concatenate([src, augmented.source[extra]])
    groups = src if groups_file is None else groups_file[src]
    return fit_with_groups(clone(estimator), Xf, y_file[src], groups)


def predict_files(estimator: BaseEstimator, X: np.ndarray, file_index: np.ndarray, files: np.ndarray,
                  n_classes: int, n_files: int, how: str = "mean") -> np.ndarray:
    """File-level probabilities ``[n_files, K]`` (rows of files not in ``files`` are NaN)."""
    rows = _segment_rows(file_index, files)
    seg = proba_matrix(estimator, X[rows], n_classes)
    return aggregate(seg, file_index[rows], n_files, how, counts=segment_counts(estimator, X[rows]),
                     short=short_rule(estimator))


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
    random_state: int = 0,
    positive: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    files: np.ndarray | None = None,
    augmented: AugmentedTable | None = None,
    splits: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    on_fold: Callable[[int, dict[str, Any]], None] | None = None,
) -> CVResult:
    """Grouped, stratified k-fold CV (optionally repeated with new shuffles); metrics per fold at file level.

    ``files`` restricts the CV to these file indices (default: every file that has segments); models
    compared or ensembled on the same ``files`` and ``random_state`` see exactly the same splits. ``augmented``
    copies of training files join each fold's training data (never the test part; see :func:`fit_on_files`).
    ``splits`` gives the folds explicitly instead, as ``(train, test)`` file indices (e.g. from
    :func:`~soundsort.dataset.splits.leave_source_out`), each restricted to ``files``; they are all
    repeat 0, folds numbered in order, and ``n_splits`` / ``n_repeats`` / ``random_state`` are not used.

    ``on_fold(done, metrics)`` is called after each split with the number of splits done so far (1 to
    ``n_splits * n_repeats``) and that split's metrics (see :func:`classification_metrics`, plus ``repeat``,
    ``fold``, ``n_train_files``); an exception it raises (e.g. ``optuna.TrialPruned``) stops the CV and
    propagates. ``progress(done, total)`` is called after it.
    """
    files = np.unique(file_index) if files is None else np.asarray(files)
    k = len(labels)
    oof = np.full((len(y_file), k), np.nan)
    folds: list[dict[str, Any]] = []
    split_proba: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    fit_t, pred_t = [], []
    if splits is None:
        runs = [(rep, fold, files[tr], files[te]) for rep, fold, tr, te
                in repeated_grouped_kfold(y_file[files], groups_file[files], n_splits, n_repeats, random_state)]
    else:
        runs = [(0, i, np.intersect1d(tr, files), np.intersect1d(te, files)) for i, (tr, te) in enumerate(splits)]
        empty = [i for i, (_, _, tr, te) in enumerate(runs) if len(tr) == 0 or len(te) == 0]
        if empty:
            raise ConfigError(f"explicit split {empty[0]} has no training or no test files among the CV's files")
    for i, (rep, fold, tr_files, te_files) in enumerate(runs):
        t0 = time.perf_counter()
        model = fit_on_files(estimator, X, file_index, y_file, tr_files, groups_file, augmented)
        t1 = time.perf_counter()
        proba = predict_files(model, X, file_index, te_files, k, len(y_file))
        t2 = time.perf_counter()
        fit_t.append(t1 - t0)
        pred_t.append(t2 - t1)
        m = classification_metrics(y_file[te_files], proba[te_files], labels, positive=positive)
        m.update({"repeat": rep, "fold": fold, "n_train_files": int(len(tr_files))})
        folds.append(m)
        split_proba.append((rep, fold, te_files, proba[te_files]))
        if rep == 0:
            oof[te_files] = proba[te_files]
        if on_fold is not None:
            on_fold(i + 1, m)
        if progress:
            progress(i + 1, len(runs))
    return CVResult(folds, summarize_folds(folds), oof, float(np.mean(fit_t)), float(np.mean(pred_t)), split_proba)


def ensemble_cv(members: list[CVResult], y_file: np.ndarray, labels: list[str], method: str, *,
                positive: int | None = None) -> CVResult:
    """Cross-validated scores of an ensemble, from its members' CV runs on the same splits.

    Each split's test files get the members' probabilities combined by ``method`` (see
    :func:`soundsort.models.ensembles.combine`); no model is refitted.
    """
    from soundsort.models.ensembles import combine

    first = members[0]
    k = len(labels)
    oof = np.full((len(y_file), k), np.nan)
    folds, split_proba = [], []
    for i, (rep, fold, te_files, _) in enumerate(first.split_proba):
        parts = []
        for mem in members:
            r, f, te, p = mem.split_proba[i]
            if r != rep or f != fold or not np.array_equal(te, te_files):
                raise ValueError("ensemble members were cross-validated on different splits")
            parts.append(p)
        proba = combine(parts, method)
        m = classification_metrics(y_file[te_files], proba, labels, positive=positive)
        m.update({"repeat": rep, "fold": fold})
        folds.append(m)
        split_proba.append((rep, fold, te_files, proba))
        if rep == 0:
            oof[te_files] = proba
    return CVResult(folds, summarize_folds(folds), oof, float(sum(m.fit_seconds for m in members)),
                    float(sum(m.predict_seconds for m in members)), split_proba)


def _file_predictions(proba: np.ndarray, positive: int | None, threshold: float) -> np.ndarray:
    if positive is not None and proba.shape[1] == 2:
        return np.where(proba[:, positive] >= threshold, positive, 1 - positive)
    return proba.argmax(axis=1)


def source_cv_summary(
    cv: CVResult,
    splits: Sequence[SourceSplit],
    y_file: np.ndarray,
    labels: list[str],
    *,
    files: np.ndarray | None = None,
    positive: int | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Pooled and per-source scores of a leave-source-out CV.

    ``splits`` come from :func:`~soundsort.dataset.splits.leave_source_out` on ``y_file[files]`` (positions
    into ``files``; default every file); ``cv`` is :func:`cross_validate` (or :func:`ensemble_cv`) run on
    the testable ones, in order. Returns ``{"sources", "tested", "threshold", "pooled": metrics of every
    held-out prediction together (see :func:`classification_metrics`) plus ``brier``, "per_source": {name:
    {"files", "tested", "train_files", "accuracy", "unseen_labels"}}}``; for a binary task each source also
    has ``music_files``, ``non_music_files``, ``music_recall`` (share of its positive-class files called
    positive) and ``non_music_called_music`` (share of its other files called positive), None where the
    source has no such files. A source that could not be tested has ``"tested": false`` and its
    ``reason``. Binary decisions use ``threshold``.
    """
    from soundsort.models.calibration import brier_score

    files = np.arange(len(y_file)) if files is None else np.asarray(files)
    testable = [s for s in splits if s.testable]
    if not testable:
        raise ConfigError("no source could be tested (see each source's reason)")
    if len(testable) != len(cv.split_proba):
        raise ConfigError(f"{len(testable)} testable sources but {len(cv.split_proba)} CV splits")
    per_source: dict[str, dict[str, Any]] = {}
    held_files, held_proba = [], []
    results = iter(zip(testable, cv.split_proba, cv.folds))
    for split in splits:
        entry: dict[str, Any] = {"files": int(len(split.test)), "tested": split.testable}
        per_source[split.source] = entry
        if not split.testable:
            entry["reason"] = split.reason
            continue
        _, (_, _, te_files, proba), fold = next(results)
        if not np.array_equal(te_files, files[split.test]):
            raise ConfigError(f"CV split for source {split.source!r} tested other files than the source's")
        y_true = y_file[te_files]
        y_pred = _file_predictions(proba, positive, threshold)
        entry.update({"files": int(len(te_files)), "train_files": int(fold.get("n_train_files", len(split.train))),
                      "accuracy": float(np.mean(y_pred == y_true)), "unseen_labels": list(split.unseen_labels)})
        if positive is not None:
            pos, neg = y_true == positive, y_true != positive
            entry.update({
                "music_files": int(pos.sum()), "non_music_files": int(neg.sum()),
                "music_recall": float(np.mean(y_pred[pos] == positive)) if pos.any() else None,
                "non_music_called_music": float(np.mean(y_pred[neg] == positive)) if neg.any() else None,
            })
        held_files.append(te_files)
        held_proba.append(proba)
    all_files, all_proba = np.concatenate(held_files), np.concatenate(held_proba)
    pooled = classification_metrics(y_file[all_files], all_proba, labels, positive=positive, threshold=threshold)
    pooled["brier"] = brier_score(y_file[all_files], all_proba)
    return {"sources": len(splits), "tested": len(testable), "threshold": float(threshold) if positive is not None
            else None, "pooled": pooled, "per_source": per_source}


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
    random_state: int = 0,
    positive: int | None = None,
    augmented: AugmentedTable | None = None,
) -> dict[str, Any]:
    """Train on growing shares of each CV training fold (whole groups at a time); score train and validation.

    The score is F1 of the positive class for a binary task, else macro-F1. ``random_state`` seeds the
    folds and which groups each share takes.
    """
    files = np.unique(file_index)
    key = "f1" if positive is not None else "f1_macro"
    rng = np.random.default_rng(random_state)
    sizes: list[list[int]] = [[] for _ in fractions]
    train_scores = np.zeros((len(fractions), n_splits))
    val_scores = np.zeros((len(fractions), n_splits))
    folds = grouped_kfold(y_file[files], groups_file[files], n_splits, random_state=random_state)
    for f, (tr, te) in enumerate(folds):
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
            try:
                model = fit_on_files(estimator, X, file_index, y_file, sub, groups_file, augmented)
            except ValueError:  # too few examples for this model (e.g. its inner CV) at this size: no point
                train_scores[j, f] = val_scores[j, f] = np.nan
                sizes[j].append(len(sub))
                continue
            k = len(labels)
            p_tr = predict_files(model, X, file_index, sub, k, len(y_file))
            p_te = predict_files(model, X, file_index, te_files, k, len(y_file))
            train_scores[j, f] = classification_metrics(y_file[sub], p_tr[sub], labels, positive=positive)[key]
            val_scores[j, f] = classification_metrics(y_file[te_files], p_te[te_files], labels, positive=positive)[key]
            sizes[j].append(len(sub))
    return {"sizes": [int(np.mean(s)) for s in sizes], "train": train_scores.tolist(),
            "validation": val_scores.tolist(), "metric": key}
