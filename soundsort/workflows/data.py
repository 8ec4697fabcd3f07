"""The data side of a training or evaluation run: index the dataset roots (``PATH`` or ``LABEL=PATH``), map
their folder labels to a task's classes, featurize every file (:func:`prepare`) and make augmented copies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.augment import augment_config
from soundsort.dataset.build import build_index
from soundsort.dataset.index import DatasetIndex
from soundsort.dataset.sources import parse_roots
from soundsort.dataset.table import LabelsTable
from soundsort.dataset.tasks import get_task
from soundsort.errors import ConfigError, DatasetError
from soundsort.features.augmented import AugmentedTable, build_augmented_table
from soundsort.features.table import FeatureTable, build_feature_table
from soundsort.workflows.config import TrainConfig

#: ``progress(done, total, path)``: called as files are featurized
Progress = Callable[[int, int, str], None]

__all__ = ["Prepared", "Progress", "augmented_for", "feature_cache", "index_dataset", "label_mapping", "prepare"]


def _hidden(p: Path) -> bool:
    return p.name.startswith(".")


def label_mapping(roots: Sequence[str | Path]) -> dict[str, list[Path]]:
    """``{label: [folders]}`` from one or more dataset roots: each ``PATH``'s sub-folders are labels, and a
    ``LABEL=PATH`` root is one folder whose files (at any depth) all have label ``LABEL``."""
    mapping: dict[str, list[Path]] = {}
    for root in parse_roots(roots):
        if not root.path.is_dir():
            raise DatasetError("not a folder", root.path)
        if root.label is not None:
            mapping.setdefault(root.label, []).append(root.path)
            continue
        subs = sorted(d for d in root.path.iterdir() if d.is_dir() and not _hidden(d))
        if not subs:
            raise DatasetError("has no label sub-folders (expected ROOT/<label>/<files>, or LABEL=ROOT)", root.path)
        for d in subs:
            mapping.setdefault(d.name, []).append(d)
    return mapping


def index_dataset(roots: Sequence[str | Path], *, group_pattern: str | None = None,
                  groups_csv: str | Path | None = None, sources_csv: str | Path | None = None, jobs: int = 1,
                  progress: Callable[[int, int, Path], Any] | None = None,
                  labels_table: LabelsTable | None = None) -> DatasetIndex:
    """Index (and validate) the files under one or more dataset roots (``PATH`` or ``LABEL=PATH``).

    Every root is a data source named by its folder (see :func:`~soundsort.dataset.sources.parse_roots`),
    unless ``sources_csv`` (``path,source``) names a file's source. With ``labels_table`` the labels (and
    groups) come from a CSV whose paths are relative to the one root given (FMA's ``tracks.csv``).
    """
    parsed = parse_roots(roots)
    sources = {r.source: r.path for r in parsed}
    if labels_table is not None:
        if len(parsed) != 1 or parsed[0].label is not None:
            raise ConfigError("--labels-csv takes exactly one dataset folder (the table's paths are relative to it)")
        return build_index(parsed[0].path, group_pattern=group_pattern, groups_csv=groups_csv, sources=sources,
                           sources_csv=sources_csv, labels_table=labels_table, jobs=jobs, progress=progress)
    if len(parsed) == 1 and parsed[0].label is None:
        return build_index(parsed[0].path, group_pattern=group_pattern, groups_csv=groups_csv, sources=sources,
                           sources_csv=sources_csv, jobs=jobs, progress=progress)
    return build_index(label_mapping(roots), group_pattern=group_pattern, groups_csv=groups_csv, sources=sources,
                       sources_csv=sources_csv, jobs=jobs, progress=progress)


@dataclass
class Prepared:
    """A featurized dataset for one task: the index, the feature table, the classes and the file labels."""

    index: DatasetIndex
    table: FeatureTable
    labels: list[str]
    y_file: np.ndarray
    groups: np.ndarray
    positive: int | None
    featurizer: Any


def feature_cache(enabled: bool) -> Any:
    """The on-disk feature cache when ``enabled`` (else None)."""
    from soundsort.cache import FeatureCache

    return FeatureCache() if enabled else None


def prepare(roots: Sequence[str | Path], task_name: str, featurizer: Any, *, labels: list[str] | None = None,
            group_pattern: str | None = None, groups_csv: str | None = None, jobs: int = 1, cache: bool = True,
            progress: Progress | None = None, index: DatasetIndex | None = None) -> Prepared:
    """Index the data, map folder labels to the task's classes and featurize every file."""
    task = get_task(task_name)
    if index is None:
        index = index_dataset(roots, group_pattern=group_pattern, groups_csv=groups_csv, jobs=jobs)
    classes = labels if labels is not None else task.classes(it.label for it in index.items)
    if len(classes) < 2:
        raise DatasetError(f"task {task.name!r} needs at least 2 classes, found {classes}", index.root)
    pos = classes.index(task.positive_label) if task.binary else None
    unknown = sorted({task.class_of(it.label) for it in index.items} - set(classes))
    if unknown:
        raise DatasetError(f"labels the model does not know: {', '.join(unknown)} (model knows {', '.join(classes)})",
                           index.root)
    y_file = np.array([classes.index(task.class_of(it.label)) for it in index.items], dtype=int)
    if task.binary and len(np.unique(y_file)) < 2:
        raise DatasetError("the music task needs music (a 'music' or 'music_*' folder, or music=PATH) and at least "
                           "one other folder", index.root)
    table = build_feature_table([index.abs_path(it) for it in index.items], featurizer, cache=feature_cache(cache),
                                jobs=jobs, progress=progress)
    return Prepared(index, table, classes, y_file, index.groups(), pos, featurizer)


def augmented_for(prep: Prepared, cfg: TrainConfig, noises: Sequence[Path], *,
                  progress: Progress | None = None) -> AugmentedTable:
    """``cfg.augment`` augmented copies of every featurized file of ``prep``, with the ``noises`` mixed in.

    Noise recordings that are also dataset files are tracked, so cross-validation only trains on a copy
    whose noise is on the training side too.
    """
    return build_augmented_table(prep.table.paths, prep.featurizer, copies=cfg.augment, noises=noises,
                                 seed=cfg.random_state, cfg=augment_config(cfg.augment_params),
                                 cache=feature_cache(cfg.cache), jobs=cfg.jobs, progress=progress)
