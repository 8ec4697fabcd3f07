"""Grouped, stratified splits over files (scikit-learn's ``StratifiedGroupKFold`` underneath).

Splits are made at file level, with a group per recording / source / artist so that no group is on both
sides of a split; :func:`expand_to_segments` then carries file indices over to the segments cut from
those files, so segments of one recording follow their file. :func:`leave_source_out` holds out one whole
data source (collection) at a time instead, to measure how a model does on audio from elsewhere.
:func:`validation_split` carves a validation part from training rows (the neural heads' early stopping,
the calibration split), by group when groups are given.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from soundsort.errors import ConfigError, DatasetError

Split = tuple[np.ndarray, np.ndarray]


def _encode(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConfigError(f"{what} must be one-dimensional, got shape {arr.shape}")
    try:
        _, inv = np.unique(arr, return_inverse=True)
    except TypeError:  # mixed types in an object array
        _, inv = np.unique(arr.astype(str), return_inverse=True)
    return inv.reshape(-1).astype(np.int64)


def _prepare(labels: Any, groups: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """→ (label names, label codes, group codes), checked for equal length and non-emptiness."""
    lab = np.asarray(labels)
    y = _encode(lab, "labels")
    g = _encode(groups, "groups")
    if len(y) != len(g):
        raise ConfigError(f"labels and groups differ in length ({len(y)} vs {len(g)})")
    if len(y) == 0:
        raise DatasetError("nothing to split: no files")
    try:
        names = np.unique(lab)
    except TypeError:
        names = np.unique(lab.astype(str))
    return names, y, g


def _groups_per_label(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Number of distinct groups holding each label code."""
    pairs = np.unique(np.stack([y, g], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=int(y.max()) + 1)


def _kfold(y: np.ndarray, g: np.ndarray, n_splits: int, random_state: int | None, shuffle: bool) -> list[Split]:
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=shuffle, random_state=random_state if shuffle else None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        folds = [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64))
                 for tr, te in cv.split(np.zeros(len(y)), y, g)]
    return folds


def grouped_kfold(
    labels: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    n_splits: int = 5,
    *,
    random_state: int = 0,
    shuffle: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds ``[(train_idx, test_idx), ...]``, stratified by label and grouped by ``groups``.

    No group is ever on both sides of a fold, every index is in exactly one test fold, and the same
    ``random_state`` gives the same folds. Raises :class:`DatasetError` when a label is held by fewer than
    ``n_splits`` groups (it could not appear in every test fold).
    """
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    names, y, g = _prepare(labels, groups)
    per_label = _groups_per_label(y, g)
    short = [(names[i], int(n)) for i, n in enumerate(per_label) if n < n_splits]
    if short:
        listed = ", ".join(f"{name!s} has {n}" for name, n in short)
        raise DatasetError(f"{n_splits}-fold split needs at least {n_splits} groups per label; {listed} "
                           f"(use fewer folds or more recordings)")
    return _kfold(y, g, int(n_splits), random_state, shuffle)


def repeated_grouped_kfold(
    labels: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    n_splits: int = 5,
    n_repeats: int = 3,
    random_state: int = 0,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(repeat, fold, train_idx, test_idx)`` for ``n_repeats`` differently shuffled
    :func:`grouped_kfold` runs (for "mean ± std over repeated shuffles"). Reproducible for ``random_state``."""
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ConfigError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    states = np.random.SeedSequence(random_state).generate_state(int(n_repeats), dtype=np.uint32)
    for r, s in enumerate(states):
        for k, (train, test) in enumerate(grouped_kfold(labels, groups, n_splits, random_state=int(s),
                                                        shuffle=True)):
            yield r, k, train, test


@dataclass(frozen=True)
class SourceSplit:
    """One leave-source-out fold: test on every file of ``source``, train on files of the other sources.

    ``train`` leaves out any file sharing a group with a test file (a group never straddles the split).
    ``reason`` says why the source cannot be tested (too few classes would be left to train on); then
    ``train`` is empty and no model is fitted for it. ``unseen_labels`` are labels of the test files
    that no training file has (the model cannot get those right).
    """

    source: str
    train: np.ndarray
    test: np.ndarray
    reason: str | None = None
    unseen_labels: tuple[str, ...] = ()

    @property
    def testable(self) -> bool:
        """True when a model can be trained for this fold."""
        return self.reason is None


def leave_source_out(
    labels: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    sources: Sequence[Any] | np.ndarray,
    *,
    min_train_classes: int = 2,
) -> list[SourceSplit]:
    """One fold per source (sorted by name), testing on that whole source and training on the rest.

    Every file of a testable source is tested exactly once (in its source's fold), no source and no
    group is ever on both sides of a fold, and a source lacking some class still gets its fold. A source
    whose training side would keep fewer than ``min_train_classes`` labels is returned with a
    ``reason`` instead. Raises :class:`DatasetError` for fewer than two sources.
    """
    if isinstance(min_train_classes, bool) or not isinstance(min_train_classes, (int, np.integer)) \
            or min_train_classes < 1:
        raise ConfigError(f"min_train_classes must be a positive integer, got {min_train_classes!r}")
    names, y, g = _prepare(labels, groups)
    src = np.asarray(sources).astype(str)
    if src.ndim != 1 or len(src) != len(y):
        raise ConfigError(f"sources must be one-dimensional and as long as labels ({len(y)}), got shape {src.shape}")
    uniq = np.unique(src)
    if len(uniq) < 2:
        raise DatasetError(f"leave-source-out needs at least 2 data sources, found {len(uniq)} "
                           f"({', '.join(map(str, uniq))}); give several dataset roots or a sources CSV")
    out: list[SourceSplit] = []
    for name in uniq:
        test = np.flatnonzero(src == name).astype(np.int64)
        train = np.flatnonzero((src != name) & ~np.isin(g, g[test])).astype(np.int64)
        kept = np.unique(y[train])
        unseen = tuple(str(names[c]) for c in np.setdiff1d(np.unique(y[test]), kept))
        reason = None
        if len(kept) < min_train_classes:
            held = ", ".join(str(names[c]) for c in kept) or "no files"
            reason = (f"training on the other sources leaves {len(kept)} class{'es' if len(kept) != 1 else ''} "
                      f"({held}); at least {min_train_classes} needed")
            train = np.zeros(0, np.int64)
        out.append(SourceSplit(str(name), train, test, reason, unseen))
    return out


def _fraction_as_folds(frac: float, max_folds: int) -> tuple[int, int]:
    """``(k, n)`` with ``k / n`` close to ``frac`` (within 0.02 when possible), ``n`` as small as that allows."""
    best: tuple[float, int, int] | None = None
    for n in range(2, max(2, max_folds) + 1):
        k = min(n - 1, max(1, round(frac * n)))
        err = abs(k / n - frac)
        if err <= 0.02:
            return k, n
        if best is None or err < best[0] - 1e-12:
            best = (err, k, n)
    assert best is not None
    return best[1], best[2]


def _carve(y: np.ndarray, g: np.ndarray, frac: float, random_state: int, max_folds: int = 20) -> np.ndarray:
    """Indices of a grouped, stratified part of about ``frac`` of the samples (empty for ``frac == 0``)."""
    if frac <= 0:
        return np.zeros(0, dtype=np.int64)
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise DatasetError(f"cannot split {n_groups} group into parts without sharing it")
    largest = int(np.bincount(y).max())
    if largest < 2:  # every label has one file: nothing to stratify, split by groups alone
        y = np.zeros_like(y)
        largest = len(y)
    k, n = _fraction_as_folds(frac, min(max_folds, n_groups, largest))
    folds = [te for _, te in _kfold(y, g, n, random_state, True)]
    # the k folds, taken cyclically from the first, that see the most labels (a greedy stratified fold
    # may miss a label another fold holds); the first such run keeps the common case as it was
    runs = [np.concatenate([folds[(i + j) % n] for j in range(k)]) for i in range(n)]
    best = max(range(n), key=lambda i: (len(np.unique(y[runs[i]])), -i))
    return np.sort(runs[best])


def grouped_train_val_test_split(
    labels: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    *,
    val_size: float = 0.15,
    test_size: float = 0.15,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split indices into ``(train_idx, val_idx, test_idx)``: disjoint, covering every index, no group
    in two parts, stratified by label as well as the groups allow, reproducible for ``random_state``.

    Sizes are fractions of the files and are met approximately (whole groups, stratified folds):
    the test part is ``k`` of ``n`` stratified group folds with ``k/n`` ≈ ``test_size``, then the
    validation part is carved the same way from the rest. A size of 0 gives an empty part.
    """
    for name, v in (("val_size", val_size), ("test_size", test_size)):
        if not isinstance(v, (int, float, np.floating)) or not 0.0 <= float(v) < 1.0:
            raise ConfigError(f"{name} must be a fraction in [0, 1), got {v!r}")
    if val_size + test_size >= 1.0:
        raise ConfigError(f"val_size + test_size must be below 1, got {val_size} + {test_size}")
    _, y, g = _prepare(labels, groups)
    n_groups = len(np.unique(g))
    needed = 1 + (val_size > 0) + (test_size > 0)
    if n_groups < needed:
        raise DatasetError(f"a {needed}-way split needs at least {needed} groups, found {n_groups}")

    rng = np.random.SeedSequence(random_state).generate_state(2, dtype=np.uint32)
    test_idx = _carve(y, g, float(test_size), int(rng[0]))
    rest = np.setdiff1d(np.arange(len(y)), test_idx, assume_unique=True)
    val_idx = np.zeros(0, dtype=np.int64)
    if val_size > 0:
        rel = float(val_size) / (1.0 - float(test_size))
        _, y_rest = np.unique(y[rest], return_inverse=True)
        val_idx = rest[_carve(y_rest.reshape(-1), g[rest], min(rel, 0.95), int(rng[1]))]
    train_idx = np.setdiff1d(rest, val_idx, assume_unique=True)
    return train_idx.astype(np.int64), np.sort(val_idx).astype(np.int64), test_idx.astype(np.int64)


def expand_to_segments(file_idx: Sequence[int] | np.ndarray, segments_per_file: Sequence[int] | np.ndarray) -> np.ndarray:
    """Segment indices belonging to the files ``file_idx``.

    ``segments_per_file`` holds, for each segment, the index of the file it was cut from
    (shape ``(n_segments,)``). Returns the sorted indices of every segment whose file is in
    ``file_idx``, so all segments of a recording land on the same side as their file.
    """
    owner = np.asarray(segments_per_file)
    if owner.ndim != 1:
        raise ConfigError(f"segments_per_file must be one-dimensional, got shape {owner.shape}")
    files = np.asarray(file_idx)
    if files.size == 0 or owner.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.isin(owner, files)).astype(np.int64)


def validation_split(y: Any, groups: Any = None, fraction: float = 0.15,
                     random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation part from training rows → ``(train_idx, val_idx)`` (sorted, disjoint, covering).

    With ``groups``, whole groups go to one side (stratified by class as far as the groups allow); without,
    a stratified random split. Every class present in ``y`` keeps at least one training row (validation
    groups holding a class's last rows are moved back). ``val_idx`` is empty when ``fraction`` is 0 or there
    are too few rows or groups to split.
    """
    from sklearn.model_selection import (GroupShuffleSplit, ShuffleSplit, StratifiedGroupKFold,
                                         StratifiedShuffleSplit)

    y = np.asarray(y).reshape(-1)
    n = len(y)
    everything = np.arange(n)
    if not 0.0 <= float(fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction!r}")
    if groups is not None and len(np.asarray(groups).reshape(-1)) != n:
        raise ValueError(f"groups has {len(np.asarray(groups).reshape(-1))} entries for {n} rows")
    empty = np.zeros(0, dtype=np.int64)
    if fraction == 0 or n < 4:
        return everything, empty
    _, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    y_idx = y_idx.reshape(-1)
    rs = None if random_state is None else int(random_state) % (2**32)
    X_dummy = np.zeros((n, 1))
    if groups is not None:
        g = np.asarray(groups).reshape(-1)
        _, g_idx = np.unique(g, return_inverse=True)
        g_idx = g_idx.reshape(-1)
        n_groups = int(g_idx.max()) + 1
        if n_groups < 2:
            return everything, empty
        n_splits = min(max(2, int(round(1.0 / fraction))), n_groups)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "least populated class has only k members"
                splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=rs)
                val = next(iter(splitter.split(X_dummy, y_idx, g_idx)))[1]
        except ValueError:
            gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=rs)
            val = next(iter(gss.split(X_dummy, y_idx, g_idx)))[1]
        key = g_idx
    else:
        n_val = int(math.ceil(fraction * n))
        if counts.min() >= 2 and len(counts) <= n_val <= n - len(counts):
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=rs)
        else:
            splitter = ShuffleSplit(n_splits=1, test_size=n_val, random_state=rs)
        val = next(iter(splitter.split(X_dummy, y_idx)))[1]
        key = everything
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    # every class keeps training rows: move back the validation groups (rows) of classes missing in train
    for c in range(len(counts)):
        if not np.any(~is_val & (y_idx == c)):
            back = np.isin(key, key[is_val & (y_idx == c)])
            is_val[back] = False
    if not is_val.any() or is_val.all():
        return everything, empty
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
