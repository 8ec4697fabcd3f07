"""The jobs behind the CLI: index a dataset, train + cross-validate, evaluate a saved model, predict files.

Each takes typed configuration and returns plain results; the CLI only parses options and prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.dataset.index import DatasetIndex, build_index
from soundsort.dataset.tasks import get_task
from soundsort.errors import ConfigError, DatasetError
from soundsort.evaluation.crossval import cross_validate, learning_curve, predict_files
from soundsort.evaluation.metrics import classification_metrics
from soundsort.evaluation.report import new_run_dir, write_evaluation
from soundsort.features.registry import featurize_file, featurizer_from_params, get_featurizer
from soundsort.features.table import FeatureTable, build_feature_table
from soundsort.models.classical import make_model
from soundsort.models.io import ModelCard, check_featurizer, load_model, save_model
from soundsort.models.segments import aggregate, proba_matrix

Progress = Callable[[int, int, str], None]


def _hidden(p: Path) -> bool:
    return p.name.startswith(".")


def label_mapping(roots: Sequence[str | Path]) -> dict[str, list[Path]]:
    """``{label: [folders]}`` from one or more dataset roots (each root's sub-folders are labels)."""
    mapping: dict[str, list[Path]] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise DatasetError("not a folder", root)
        subs = sorted(d for d in root.iterdir() if d.is_dir() and not _hidden(d))
        if not subs:
            raise DatasetError("has no label sub-folders (expected ROOT/<label>/<files>)", root)
        for d in subs:
            mapping.setdefault(d.name, []).append(d)
    return mapping


def index_dataset(roots: Sequence[str | Path], *, group_pattern: str | None = None,
                  groups_csv: str | Path | None = None, jobs: int = 1,
                  progress: Callable[[int, int, Path], Any] | None = None) -> DatasetIndex:
    """Index (and validate) the files under one or more dataset roots."""
    if len(roots) == 1:
        return build_index(roots[0], group_pattern=group_pattern, groups_csv=groups_csv, jobs=jobs, progress=progress)
    return build_index(label_mapping(roots), group_pattern=group_pattern, groups_csv=groups_csv, jobs=jobs,
                       progress=progress)


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved verbatim in the run folder and the model card)."""

    task: str = "music"
    features: str = "handcrafted"
    feature_params: dict[str, Any] = field(default_factory=dict)
    model: str = "logreg"
    model_params: dict[str, Any] = field(default_factory=dict)
    folds: int = 5
    repeats: int = 1
    seed: int = 0
    group_pattern: str | None = None
    groups_csv: str | None = None
    learning_curve: bool = True
    jobs: int = 1
    cache: bool = True


@dataclass
class Prepared:
    index: DatasetIndex
    table: FeatureTable
    labels: list[str]
    y_file: np.ndarray
    groups: np.ndarray
    positive: int | None
    featurizer: Any


def _cache(enabled: bool):
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
        raise DatasetError("the music task needs a 'music' folder and at least one other folder", index.root)
    table = build_feature_table([index.abs_path(it) for it in index.items], featurizer, cache=_cache(cache),
                                jobs=jobs, progress=progress)
    return Prepared(index, table, classes, y_file, index.groups(), pos, featurizer)


def train(roots: Sequence[str | Path], cfg: TrainConfig, *, model_dir: str | Path | None, runs_dir: str | Path = "runs",
          overwrite: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Cross-validate ``cfg`` on the data, fit the final model on all of it, save model and run folder."""
    featurizer = get_featurizer(cfg.features, **cfg.feature_params)
    estimator = make_model(cfg.model, seed=cfg.seed, n_jobs=cfg.jobs, **cfg.model_params)
    t0 = time.perf_counter()
    prep = prepare(roots, cfg.task, featurizer, group_pattern=cfg.group_pattern, groups_csv=cfg.groups_csv,
                   jobs=cfg.jobs, cache=cfg.cache, progress=progress)
    t_feat = time.perf_counter() - t0
    ok = np.unique(prep.table.file_index)
    if len(ok) == 0:
        raise DatasetError("no file could be featurized", prep.index.root)
    table, y, groups = prep.table, prep.y_file, prep.groups
    log(f"{len(ok)} files, {len(table.values)} segments × {table.values.shape[1]} features "
        f"({t_feat:.1f}s); {len(prep.index.skipped) + len(table.failed)} skipped")

    cv = cross_validate(estimator, table.values, table.file_index, y, groups, prep.labels, n_splits=cfg.folds,
                        n_repeats=cfg.repeats, seed=cfg.seed, positive=prep.positive)
    oof_files = np.flatnonzero(~np.isnan(cv.oof_proba[:, 0]))
    overall = classification_metrics(y[oof_files], cv.oof_proba[oof_files], prep.labels, positive=prep.positive)
    learn = None
    if cfg.learning_curve:
        learn = learning_curve(estimator, table.values, table.file_index, y, groups, prep.labels,
                               n_splits=cfg.folds, seed=cfg.seed, positive=prep.positive)
    t1 = time.perf_counter()
    final = estimator.fit(table.values, y[table.file_index])
    t_fit = time.perf_counter() - t1

    audio_seconds = float(sum(it.duration for it in prep.index.items))
    timing = {"feature_seconds": round(t_feat, 2), "final_fit_seconds": round(t_fit, 2),
              "cv_fit_seconds_per_fold": round(cv.fit_seconds, 3),
              "cv_predict_seconds_per_fold": round(cv.predict_seconds, 3),
              "audio_seconds": round(audio_seconds, 1)}
    config = {"command": "train", "data": [str(r) for r in roots], **asdict(cfg),
              "featurizer_params": featurizer.params(), "labels": prep.labels}
    run_dir = new_run_dir(runs_dir, f"train-{cfg.task}-{cfg.features}-{cfg.model}")
    skipped = [(s.path, f"{s.path}: {s.reason}") for s in prep.index.skipped] + list(table.failed)
    report = write_evaluation(run_dir, title=f"Training report: {cfg.task} / {cfg.features} / {cfg.model}",
                              config=config, overall=overall, y_true=y[oof_files], proba=cv.oof_proba[oof_files],
                              labels=prep.labels, paths=[table.paths[i] for i in oof_files], positive=prep.positive,
                              cv_summary=cv.summary, cv_folds=cv.folds, learning=learn, timing=timing,
                              failed=skipped)
    saved = None
    if model_dir is not None:
        card = ModelCard(task=cfg.task, labels=prep.labels, featurizer=featurizer.name,
                         featurizer_params=featurizer.params(), model=cfg.model, model_params=cfg.model_params,
                         positive_label=prep.labels[prep.positive] if prep.positive is not None else None,
                         metrics={"cv": cv.summary, "folds": cfg.folds, "repeats": cfg.repeats},
                         training_data={"roots": [str(r) for r in roots], "files": int(len(ok)),
                                        "per_class": {c: int((y[ok] == i).sum()) for i, c in enumerate(prep.labels)},
                                        "group_pattern": cfg.group_pattern, "audio_hours": round(audio_seconds / 3600, 3)})
        saved = save_model(model_dir, final, card, overwrite=overwrite)
    return {"run_dir": run_dir, "report": report, "model_dir": saved, "cv": cv.summary, "overall": overall,
            "skipped": skipped, "labels": prep.labels}


def featurizer_for(card: ModelCard) -> Any:
    """Rebuild the featurizer a model was trained with, and check it matches exactly."""
    from soundsort.errors import ModelError

    try:
        featurizer = featurizer_from_params(card.featurizer_params)
    except ConfigError as exc:
        raise ModelError(f"cannot rebuild the model's features: {exc.reason}") from None
    check_featurizer(card, featurizer.name, featurizer.params())
    return featurizer


def evaluate(model_dir: str | Path, roots: Sequence[str | Path], *, runs_dir: str | Path = "runs",
             group_pattern: str | None = None, jobs: int = 1, cache: bool = True,
             progress: Progress | None = None) -> dict[str, Any]:
    """Score a saved model on a labelled dataset (all files are test files); write a run folder."""
    estimator, card = load_model(model_dir)
    featurizer = featurizer_for(card)
    prep = prepare(roots, card.task, featurizer, labels=card.labels, group_pattern=group_pattern, jobs=jobs,
                   cache=cache, progress=progress)
    table = prep.table
    ok = np.unique(table.file_index)
    if len(ok) == 0:
        raise DatasetError("no file could be featurized", prep.index.root)
    t0 = time.perf_counter()
    proba = predict_files(estimator, table.values, table.file_index, ok, len(card.labels), table.n_files)
    t_pred = time.perf_counter() - t0
    overall = classification_metrics(prep.y_file[ok], proba[ok], card.labels, positive=prep.positive,
                                     threshold=card.threshold)
    audio_seconds = float(sum(it.duration for it in prep.index.items))
    timing = {"predict_seconds": round(t_pred, 3), "audio_seconds": round(audio_seconds, 1)}
    run_dir = new_run_dir(runs_dir, f"evaluate-{card.task}-{card.featurizer}-{card.model}")
    skipped = [(s.path, f"{s.path}: {s.reason}") for s in prep.index.skipped] + list(table.failed)
    config = {"command": "evaluate", "model": str(model_dir), "data": [str(r) for r in roots],
              "card": asdict(card)}
    report = write_evaluation(run_dir, title=f"Evaluation: {Path(model_dir).name} on {', '.join(map(str, roots))}",
                              config=config, overall=overall, y_true=prep.y_file[ok], proba=proba[ok],
                              labels=card.labels, paths=[table.paths[i] for i in ok], positive=prep.positive,
                              timing=timing, failed=skipped)
    return {"run_dir": run_dir, "report": report, "overall": overall, "skipped": skipped}


@dataclass
class FilePrediction:
    """One file's prediction: the label, every class probability, and the per-segment probabilities."""

    path: str
    label: str
    probabilities: dict[str, float]
    segments: list[dict[str, Any]]
    duration: float


class Predictor:
    """A loaded model ready to predict files (loads once, predicts many)."""

    def __init__(self, model_dir: str | Path, *, cache: bool = False) -> None:
        self.estimator, self.card = load_model(model_dir)
        self.featurizer = featurizer_for(self.card)
        self.cache = _cache(cache)

    def predict_file(self, path: str | Path) -> FilePrediction:
        seg = featurize_file(self.featurizer, path, cache=self.cache)
        labels = self.card.labels
        if len(seg.values) == 0:
            raise DatasetError("too short for one analysis segment", path)
        proba = proba_matrix(self.estimator, seg.values, len(labels))
        file_p = aggregate(proba, np.zeros(len(proba), dtype=int), 1)[0]
        if self.card.positive_label is not None and len(labels) == 2:
            pos = labels.index(self.card.positive_label)
            label = labels[pos] if file_p[pos] >= self.card.threshold else labels[1 - pos]
        else:
            label = labels[int(np.argmax(file_p))]
        segments = [{"start": round(float(t[0]), 3), "end": round(float(t[1]), 3),
                     "label": labels[int(np.argmax(p))],
                     "probabilities": {c: round(float(v), 4) for c, v in zip(labels, p)}}
                    for t, p in zip(seg.times, proba)]
        duration = float(seg.times[-1][1]) if len(seg.times) else 0.0
        return FilePrediction(str(path), label, {c: float(v) for c, v in zip(labels, file_p)}, segments, duration)
