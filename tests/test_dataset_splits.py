"""Grouped, stratified splits: property-based checks with hypothesis plus a few fixed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.dataset import (
    expand_to_segments,
    grouped_kfold,
    grouped_train_val_test_split,
    leave_source_out,
    repeated_grouped_kfold,
)
from soundsort.errors import ConfigError, DatasetError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mixed_data(draw, min_groups_per_label: int = 5):
    """Labels and groups where a group may span labels (e.g. an artist across genres)."""
    n_labels = draw(st.integers(1, 4))
    n_groups = draw(st.integers(min_groups_per_label * n_labels, min_groups_per_label * n_labels + 12))
    # give every label at least `min_groups_per_label` groups, then add random files
    base = [(lab, lab * min_groups_per_label + k) for lab in range(n_labels) for k in range(min_groups_per_label)]
    extra = draw(st.lists(st.tuples(st.integers(0, n_labels - 1), st.integers(0, n_groups - 1)), max_size=60))
    pairs = base + extra
    order = draw(st.permutations(range(len(pairs))))
    labels = np.array([pairs[i][0] for i in order])
    groups = np.array([f"g{pairs[i][1]}" for i in order])
    return labels, groups


@st.composite
def single_label_groups(draw, min_groups_per_label: int = 5):
    """Every group holds one label (a recording / source), groups of random sizes."""
    n_labels = draw(st.integers(2, 4))
    labels: list[str] = []
    groups: list[int] = []
    gid = 0
    for lab in range(n_labels):
        for _ in range(draw(st.integers(min_groups_per_label, min_groups_per_label + 8))):
            size = draw(st.integers(1, 4))
            labels += [f"label{lab}"] * size
            groups += [gid] * size
            gid += 1
    order = draw(st.permutations(range(len(labels))))
    return np.array(labels)[order], np.array(groups)[order]


def _assert_fold_invariants(folds, labels, groups, n_splits):
    n = len(labels)
    assert len(folds) == n_splits
    all_test = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(all_test), np.arange(n))  # every index in exactly one test fold
    for train, test in folds:
        assert len(test) > 0 and len(train) > 0
        assert len(np.intersect1d(train, test)) == 0
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
        assert not set(groups[train].tolist()) & set(groups[test].tolist())


# --------------------------------------------------------------------------------------------------
# k-fold


@SETTINGS
@given(data=mixed_data(), n_splits=st.integers(2, 5), seed=st.integers(0, 2**31 - 1))
def test_kfold_grouped_and_covering(data, n_splits, seed) -> None:
    labels, groups = data
    folds = grouped_kfold(labels, groups, n_splits, random_state=seed)
    _assert_fold_invariants(folds, labels, groups, n_splits)
    again = grouped_kfold(labels, groups, n_splits, random_state=seed)
    assert all(np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0]) for a, b in zip(folds, again))


@SETTINGS
@given(data=single_label_groups(), n_splits=st.integers(2, 5), seed=st.integers(0, 1000))
def test_kfold_stratified(data, n_splits, seed) -> None:
    labels, groups = data
    folds = grouped_kfold(labels, groups, n_splits, random_state=seed)
    _assert_fold_invariants(folds, labels, groups, n_splits)
    for _, test in folds:  # every label has >= n_splits groups, so every test fold sees every label
        assert set(labels[test].tolist()) == set(labels.tolist())


@SETTINGS
@given(counts=st.lists(st.integers(5, 30), min_size=2, max_size=4), n_splits=st.integers(2, 5),
       seed=st.integers(0, 1000))
def test_kfold_one_file_per_group_is_exactly_stratified(counts, n_splits, seed) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    groups = np.arange(len(labels))
    for _, test in grouped_kfold(labels, groups, n_splits, random_state=seed):
        per = np.bincount(labels[test], minlength=len(counts))
        for c, got in zip(counts, per):
            assert c // n_splits <= got <= -(-c // n_splits)


def test_kfold_seed_changes_assignment() -> None:
    labels = np.repeat([0, 1], 30)
    groups = np.arange(60) // 2
    a = grouped_kfold(labels, groups, 5, random_state=1)
    b = grouped_kfold(labels, groups, 5, random_state=2)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    c = grouped_kfold(labels, groups, 5, shuffle=False)
    d = grouped_kfold(labels, groups, 5, shuffle=False, random_state=99)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(c, d))


def test_kfold_too_few_groups_names_the_label() -> None:
    labels = np.array(["rock"] * 10 + ["jazz"] * 6)
    groups = np.array([f"r{i}" for i in range(10)] + ["j1", "j1", "j2", "j2", "j3", "j3"])
    with pytest.raises(DatasetError, match=r"jazz has 3"):
        grouped_kfold(labels, groups, 5)
    assert len(grouped_kfold(labels, groups, 3)) == 3
    with pytest.raises(ConfigError):
        grouped_kfold(labels, groups, 1)
    with pytest.raises(ConfigError, match="length"):
        grouped_kfold(labels, groups[:-1], 3)


@SETTINGS
@given(data=single_label_groups(), seed=st.integers(0, 1000))
def test_repeated_kfold(data, seed) -> None:
    labels, groups = data
    runs = list(repeated_grouped_kfold(labels, groups, n_splits=3, n_repeats=3, random_state=seed))
    assert [(r, k) for r, k, _, _ in runs] == [(r, k) for r in range(3) for k in range(3)]
    for r in range(3):
        folds = [(tr, te) for rr, _, tr, te in runs if rr == r]
        _assert_fold_invariants(folds, labels, groups, 3)
    again = list(repeated_grouped_kfold(labels, groups, n_splits=3, n_repeats=3, random_state=seed))
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(runs, again))


def test_repeats_differ() -> None:
    labels = np.repeat([0, 1, 2], 20)
    groups = np.arange(60)
    runs = list(repeated_grouped_kfold(labels, groups, n_splits=5, n_repeats=2, random_state=0))
    first = [te for r, _, _, te in runs if r == 0]
    second = [te for r, _, _, te in runs if r == 1]
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


# --------------------------------------------------------------------------------------------------
# train / val / test


@SETTINGS
@given(data=mixed_data(min_groups_per_label=3), val=st.sampled_from([0.0, 0.1, 0.15, 0.2]),
       test=st.sampled_from([0.1, 0.15, 0.2, 0.3]), seed=st.integers(0, 2**31 - 1))
def test_train_val_test_grouped_disjoint_covering(data, val, test, seed) -> None:
    labels, groups = data
    parts = grouped_train_val_test_split(labels, groups, val_size=val, test_size=test, random_state=seed)
    tr, va, te = parts
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(labels)))
    assert len(tr) > 0 and len(te) > 0 and (len(va) > 0) == (val > 0)
    sets = [set(groups[p].tolist()) for p in parts]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] and not sets[1] & sets[2]
    again = grouped_train_val_test_split(labels, groups, val_size=val, test_size=test, random_state=seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


@SETTINGS
@given(data=single_label_groups(min_groups_per_label=8), seed=st.integers(0, 1000))
def test_train_val_test_stratified(data, seed) -> None:
    labels, groups = data
    parts = grouped_train_val_test_split(labels, groups, val_size=0.15, test_size=0.15, random_state=seed)
    for p in parts:  # enough groups per label: every part sees every label
        assert set(labels[p].tolist()) == set(labels.tolist())


@SETTINGS
@given(counts=st.lists(st.integers(40, 120), min_size=2, max_size=4), seed=st.integers(0, 1000),
       sizes=st.sampled_from([(0.15, 0.15), (0.1, 0.2), (0.2, 0.1), (0.0, 0.25)]))
def test_train_val_test_sizes_and_label_balance(counts, seed, sizes) -> None:
    val, test = sizes
    labels = np.repeat(np.arange(len(counts)), counts)
    groups = np.arange(len(labels))
    tr, va, te = grouped_train_val_test_split(labels, groups, val_size=val, test_size=test, random_state=seed)
    n = len(labels)
    assert abs(len(te) / n - test) <= 0.03
    assert abs(len(va) / n - val) <= 0.03
    for part, frac in ((te, test), (va, val)):
        per = np.bincount(labels[part], minlength=len(counts)) / np.array(counts)
        assert np.all(np.abs(per - frac) <= 0.04)


def test_train_val_test_errors() -> None:
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(DatasetError, match="groups"):
        grouped_train_val_test_split(labels, np.array([1, 1, 2, 2]))
    with pytest.raises(ConfigError):
        grouped_train_val_test_split(labels, np.arange(4), val_size=0.5, test_size=0.5)
    with pytest.raises(ConfigError):
        grouped_train_val_test_split(labels, np.arange(4), test_size=-0.1)
    with pytest.raises(DatasetError, match="no files"):
        grouped_train_val_test_split([], [])


# --------------------------------------------------------------------------------------------------
# leave-source-out


@st.composite
def sourced_data(draw):
    """Files with a label, a group and a source; groups may span sources and labels (a shared artist or an
    ESC-10-like fold number that another collection's names happen to match)."""
    n = draw(st.integers(2, 60))
    n_sources = draw(st.integers(2, 5))
    labels = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    sources = draw(st.lists(st.integers(0, n_sources - 1), min_size=n, max_size=n))
    groups = draw(st.lists(st.integers(0, draw(st.integers(0, n))), min_size=n, max_size=n))
    return (np.array([f"c{v}" for v in labels]), np.array([f"g{v}" for v in groups]),
            np.array([f"s{v}" for v in sources]))


@SETTINGS
@given(data=sourced_data(), min_classes=st.integers(1, 3))
def test_leave_source_out_never_leaks(data, min_classes) -> None:
    labels, groups, sources = data
    if len(np.unique(sources)) < 2:
        with pytest.raises(DatasetError, match="at least 2 data sources"):
            leave_source_out(labels, groups, sources, min_train_classes=min_classes)
        return
    splits = leave_source_out(labels, groups, sources, min_train_classes=min_classes)
    assert [s.source for s in splits] == sorted(set(sources.tolist()))  # one fold per source
    tested = np.concatenate([s.test for s in splits if s.testable] or [np.zeros(0, np.int64)])
    expected = np.flatnonzero(np.isin(sources, [s.source for s in splits if s.testable]))
    assert np.array_equal(np.sort(tested), expected)  # every file of a testable source tested exactly once
    for s in splits:
        assert np.array_equal(s.test, np.flatnonzero(sources == s.source))  # the whole source, only it
        assert not set(sources[s.train].tolist()) & set(sources[s.test].tolist())  # no source on both sides
        assert not set(groups[s.train].tolist()) & set(groups[s.test].tolist())  # no group straddles
        if s.testable:  # training keeps every other-source file whose group is not tested
            rest = np.flatnonzero((sources != s.source) & ~np.isin(groups, groups[s.test]))
            assert np.array_equal(s.train, rest)
            assert len(set(labels[s.train].tolist())) >= min_classes
            assert set(s.unseen_labels) == set(labels[s.test].tolist()) - set(labels[s.train].tolist())
        else:
            assert len(s.train) == 0 and "at least" in s.reason
            rest = (sources != s.source) & ~np.isin(groups, groups[s.test])
            assert len(set(labels[rest].tolist())) < min_classes


def test_leave_source_out_cases() -> None:
    # three collections: a mixed one, an all-music one, an all-noise one
    labels = np.array(["music", "speech", "music", "music", "noise", "noise"])
    sources = np.array(["gtzan", "gtzan", "instruments", "instruments", "esc", "esc"])
    groups = np.array(["a", "b", "c", "d", "1", "1"])
    splits = {s.source: s for s in leave_source_out(labels, groups, sources)}
    assert all(s.testable for s in splits.values())  # sources lacking a class still get their fold
    assert splits["instruments"].test.tolist() == [2, 3] and splits["instruments"].train.tolist() == [0, 1, 4, 5]
    assert splits["gtzan"].unseen_labels == ("speech",)
    # an all-music source whose removal leaves one class to train on: not testable, with the reason
    two = leave_source_out(["music", "music", "noise"], ["a", "b", "c"], ["x", "x", "y"])
    assert [s.testable for s in two] == [False, False]
    assert "1 class (noise)" in two[0].reason and "1 class (music)" in two[1].reason
    # a group spanning two sources keeps the other source's file out of training
    straddle = leave_source_out(["m", "n", "m", "n", "n"], ["g", "g", "h", "i", "j"], ["A", "B", "B", "A", "B"])
    assert straddle[0].test.tolist() == [0, 3] and straddle[0].train.tolist() == [2, 4]  # file 1 shares group g
    assert not straddle[1].testable and "1 class (n)" in straddle[1].reason  # file 0 shares g: only 3 (n) left
    with pytest.raises(DatasetError, match="at least 2 data sources"):
        leave_source_out(["m", "n"], ["a", "b"], ["one", "one"])
    with pytest.raises(ConfigError, match="sources"):
        leave_source_out(["m", "n"], ["a", "b"], ["one"])
    with pytest.raises(ConfigError, match="min_train_classes"):
        leave_source_out(["m", "n"], ["a", "b"], ["x", "y"], min_train_classes=0)


# --------------------------------------------------------------------------------------------------
# segments


def test_expand_to_segments() -> None:
    seg_file = np.array([0, 0, 0, 1, 2, 2, 3])
    assert expand_to_segments([0, 2], seg_file).tolist() == [0, 1, 2, 4, 5]
    assert expand_to_segments(np.array([3]), seg_file).tolist() == [6]
    assert expand_to_segments([], seg_file).tolist() == []
    with pytest.raises(ConfigError):
        expand_to_segments([0], np.zeros((2, 2)))


@SETTINGS
@given(segs=st.lists(st.integers(1, 5), min_size=10, max_size=30), seed=st.integers(0, 1000))
def test_segments_follow_their_file(segs, seed) -> None:
    n_files = len(segs)
    labels = np.arange(n_files) % 2
    seg_file = np.repeat(np.arange(n_files), segs)
    for train, test in grouped_kfold(labels, np.arange(n_files), 2, random_state=seed):
        s_tr, s_te = expand_to_segments(train, seg_file), expand_to_segments(test, seg_file)
        assert len(np.intersect1d(s_tr, s_te)) == 0
        assert len(s_tr) + len(s_te) == len(seg_file)
        assert set(seg_file[s_te].tolist()) == set(test.tolist())


def test_train_val_test_every_part_sees_every_label_regression() -> None:
    """The case hypothesis found where the first stratified group fold of the validation carve missed a label."""
    from numpy import array  # noqa: F401  (the repr below)

    data=(array(['label0', 'label0', 'label0', 'label0', 'label0', 'label0',
                           'label0', 'label0', 'label0', 'label0', 'label0', 'label0',
                           'label0', 'label0', 'label0', 'label0', 'label0', 'label0',
                           'label0', 'label0', 'label0', 'label1', 'label1', 'label1',
                           'label1', 'label0', 'label0', 'label1', 'label1', 'label1',
                           'label1', 'label1', 'label1', 'label1', 'label1', 'label1',
                           'label1', 'label1', 'label1', 'label1', 'label2', 'label2',
                           'label2', 'label2', 'label2', 'label2', 'label2', 'label2',
                           'label2', 'label2', 'label2', 'label2', 'label2', 'label2',
                           'label2', 'label2', 'label2', 'label2', 'label2', 'label2',
                           'label3', 'label3', 'label3', 'label3', 'label3', 'label3',
                           'label3', 'label3', 'label3', 'label3', 'label3', 'label3',
                           'label3', 'label3'], dtype='<U6'),
                    array([ 1,  1,  1,  1,  2,  3,  3,  3,  3,  4,  5,  6,  6,  6,  7,  8,  8,
                            8,  8,  9, 10, 11, 11, 12, 12,  0,  0, 13, 13, 13, 14, 15, 15, 15,
                           15, 16, 16, 16, 17, 18, 19, 19, 19, 20, 20, 21, 21, 21, 21, 22, 23,
                           23, 23, 23, 24, 24, 24, 24, 25, 26, 28, 28, 28, 28, 29, 29, 29, 30,
                           31, 32, 33, 34, 27, 27]))
    labels, groups = data
    parts = grouped_train_val_test_split(labels, groups, val_size=0.15, test_size=0.15, random_state=75)
    for p in parts:
        assert set(labels[p].tolist()) == set(labels.tolist())
