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

from soundsort.audio.augment import augment_config
from soundsort.dataset.index import DatasetIndex, build_index, parse_roots
from soundsort.dataset.splits import SourceSplit, leave_source_out
from soundsort.dataset.table import LabelsTable
from soundsort.dataset.tasks import get_task
from soundsort.errors import ConfigError, DatasetError, ModelError
from soundsort.evaluation.crossval import (
    cross_validate,
    ensemble_cv,
    fit_on_files,
    learning_curve,
    predict_files,
    source_cv_summary,
)
from soundsort.evaluation.metrics import classification_metrics
from soundsort.evaluation.report import new_run_dir, write_evaluation
from soundsort.evaluation.tracking import summary_metrics
from soundsort.features.augmented import AugmentedTable, build_augmented_table, noise_files
from soundsort.features.registry import featurize_file, featurizer_from_params, get_featurizer
from soundsort.features.table import FeatureTable, build_feature_table
from soundsort.models.classical import make_model
from soundsort.models.io import ModelCard, check_featurizer, load_model, save_model
from soundsort.models.segments import proba_matrix
from soundsort.inference.predict import (  # noqa: F401  (where they lived before: kept importable)
    MAX_ENSEMBLE_DEPTH,
    FilePrediction,
    Predictor,
    featurizer_for,
)

Progress = Callable[[int, int, str], None]


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

    Every root is a data source named by its folder (see :func:`~soundsort.dataset.index.parse_roots`),
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


#: ``TrainConfig.cv`` values: grouped k-fold only, or grouped k-fold and leave-source-out
CV_METHODS = ("grouped", "leave-source-out")


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
    members: list[str] = field(default_factory=list)  # ensembles: FEATURES:MODEL
    calibration: str | None = None  # "sigmoid" (Platt) or "isotonic", fitted on a held-out part of each fit
    optimize: str | None = None  # binary: choose the threshold maximizing f1 / precision (F0.5) / recall (F2)
    min_precision: float | None = None  # binary: the threshold with the best recall at this precision
    embedding_map: bool = True  # a t-SNE map of the files' features in the report
    profile: bool = True  # time per second of audio and peak memory of the saved model, in the report
    mlflow: bool | None = None  # log to MLflow (None: when MLFLOW_TRACKING_URI is set)
    augment: int = 0  # augmented copies of every training file (crop, telephone band, noise, gain); 0 = off
    augment_noise: list[str] = field(default_factory=list)  # folders / files of noise mixed into the copies
    augment_params: dict[str, Any] = field(default_factory=dict)  # AugmentConfig overrides, e.g. {"p_crop": 0}
    #: "grouped" (k-fold) or "leave-source-out" (also: one fold per data source, tested on that whole source)
    cv: str = "grouped"
    sources_csv: str | None = None  # path,source CSV naming each file's data source (default: its dataset root)
    #: labels (and groups) from a table instead of folders: {"csv", "path_column", "label_column",
    #: "group_column", "header_rows", "missing_files"} (soundsort.dataset.table.LabelsTable's fields)
    labels_csv: dict[str, Any] | None = None


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
        raise DatasetError("the music task needs music (a 'music' or 'music_*' folder, or music=PATH) and at least "
                           "one other folder", index.root)
    table = build_feature_table([index.abs_path(it) for it in index.items], featurizer, cache=_cache(cache),
                                jobs=jobs, progress=progress)
    return Prepared(index, table, classes, y_file, index.groups(), pos, featurizer)


def augmented_for(prep: Prepared, cfg: TrainConfig, noises: Sequence[Path], *,
                  progress: Progress | None = None) -> AugmentedTable:
    """``cfg.augment`` augmented copies of every featurized file of ``prep``, with the ``noises`` mixed in.

    Noise recordings that are also dataset files are tracked, so cross-validation only trains on a copy
    whose noise is on the training side too.
    """
    return build_augmented_table(prep.table.paths, prep.featurizer, copies=cfg.augment, noises=noises,
                                 seed=cfg.seed, cfg=augment_config(cfg.augment_params), cache=_cache(cfg.cache),
                                 jobs=cfg.jobs, progress=progress)


def parse_members(spec: Sequence[str]) -> list[tuple[str, str]]:
    """Ensemble members from ``FEATURES:MODEL`` strings, e.g. ``["handcrafted:svm", "yamnet:logreg"]``."""
    members = []
    for item in spec:
        for part in str(item).split(","):
            if not part.strip():
                continue
            if ":" not in part:
                raise ConfigError(f"ensemble member {part!r} is not FEATURES:MODEL (e.g. yamnet:logreg)")
            feat, model = part.split(":", 1)
            members.append((feat.strip(), model.strip()))
    if len(members) < 2:
        raise ConfigError("an ensemble needs at least two members (--member FEATURES:MODEL, repeatable)")
    return members


def ensemble_method(model: str) -> str | None:
    """``ensemble-mean`` → ``mean`` (``vote``, ``max``); None for a single model."""
    if not model.startswith("ensemble"):
        return None
    from soundsort.models.ensembles import METHODS

    method = model.split("-", 1)[1] if "-" in model else "mean"
    if method not in METHODS:
        raise ConfigError(f"unknown ensemble {model!r}; use ensemble-mean, ensemble-vote or ensemble-max")
    return method


def train(roots: Sequence[str | Path], cfg: TrainConfig, *, model_dir: str | Path | None, runs_dir: str | Path = "runs",
          overwrite: bool = False, progress: Progress | None = None,
          log: Callable[[str], None] = lambda s: None, notes: str = "") -> dict[str, Any]:
    """Cross-validate ``cfg`` on the data, fit the final model on all of it, save model and run folder.

    ``cfg.model`` may be ``ensemble-mean|vote|max`` with ``cfg.members`` (``FEATURES:MODEL``): every member
    is cross-validated on the same splits and the ensemble's scores come from combining their predictions.
    ``cfg.cv="leave-source-out"`` also holds out each data source in turn (same estimators, calibration and
    threshold); its pooled and per-source scores (:func:`~soundsort.evaluation.crossval.source_cv_summary`) are
    returned as ``"leave_source_out"`` and written to the report, metrics.json and the model card.
    """
    from soundsort.dataset.tasks import check_task

    cfg.task = check_task(cfg.task)  # a typo ("musik") is an error naming the close task, never a new task
    method = ensemble_method(cfg.model)
    specs = parse_members(cfg.members) if method else [(cfg.features, cfg.model)]
    if model_dir is not None and (Path(model_dir) / "model.json").exists() and not overwrite:
        raise ModelError("a model already exists here (use --overwrite to replace it)", model_dir)
    featurizers = [get_featurizer(f, **(cfg.feature_params if not method else {})) for f, _ in specs]
    estimators = [make_model(m, seed=cfg.seed, n_jobs=cfg.jobs, **(cfg.model_params if not method else {}))
                  for _, m in specs]
    raw_estimators = estimators
    if cfg.calibration:
        from soundsort.models.calibration import CalibratedHead

        estimators = [CalibratedHead(e, method=cfg.calibration, seed=cfg.seed) for e in estimators]
    if cfg.augment < 0:
        raise ConfigError(f"--augment takes a number of copies (0 = off), got {cfg.augment}")
    noises: list[Path] = []
    if cfg.augment:  # settings and noise folders checked before any audio is decoded
        augment_config(cfg.augment_params)
        noises = noise_files(cfg.augment_noise)
    wants_threshold = cfg.optimize is not None or cfg.min_precision is not None
    if wants_threshold and cfg.task != "music":
        raise ConfigError("--optimize / --min-precision choose the threshold of the binary music task only")
    if cfg.cv not in CV_METHODS:
        raise ConfigError(f"unknown --cv {cfg.cv!r}; use {' or '.join(CV_METHODS)}")
    by_source = cfg.cv == "leave-source-out"
    if cfg.sources_csv and not by_source:
        raise ConfigError("--sources-csv names the data sources for --cv leave-source-out; it does nothing here")
    t0 = time.perf_counter()
    index = index_dataset(roots, group_pattern=cfg.group_pattern, groups_csv=cfg.groups_csv,
                          sources_csv=cfg.sources_csv, jobs=cfg.jobs,
                          labels_table=LabelsTable(**cfg.labels_csv) if cfg.labels_csv else None)
    for note in index.notes:
        log(note)
    if by_source:  # before any audio is featurized: enough sources, and at least one testable
        task = get_task(cfg.task)
        _testable_sources(leave_source_out([task.class_of(it.label) for it in index.items], index.groups(),
                                           index.sources()))
    preps = [prepare(roots, cfg.task, fz, jobs=cfg.jobs, cache=cfg.cache, progress=progress, index=index)
             for fz in featurizers]
    augs = [augmented_for(pr, cfg, noises, progress=progress) for pr in preps] if cfg.augment else [None] * len(preps)
    t_feat = time.perf_counter() - t0
    prep = preps[0]
    y, groups, labels, pos = prep.y_file, prep.groups, prep.labels, prep.positive
    ok = np.unique(prep.table.file_index)
    for other in preps[1:]:
        ok = np.intersect1d(ok, np.unique(other.table.file_index))
    if len(ok) == 0:
        raise DatasetError("no file could be featurized", index.root)
    for (feat, model), pr in zip(specs, preps):
        shape = "×".join(str(d) for d in pr.table.values.shape[1:])
        log(f"{feat}/{model}: {len(ok)} files, {len(pr.table.values)} segments × {shape} features")
    if cfg.augment:
        log(f"augmentation: {cfg.augment} copies per file, {len(augs[0])} extra training segments"
            + (f", noise from {len(noises)} recordings" if noises else ", no noise"))
    log(f"features took {t_feat:.1f}s; {len(index.skipped) + len(set(p for pr in preps for p, _ in pr.table.failed))} "
        "files skipped")

    log(f"cross-validating: {cfg.folds} folds" + (f" × {cfg.repeats} repeats" if cfg.repeats > 1 else "")
        + (f", {len(specs)} members" if method else "") + f" on {len(ok)} files")
    cvs = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, n_splits=cfg.folds,
                          n_repeats=cfg.repeats, seed=cfg.seed, positive=pos, files=ok, augmented=aug)
           for est, pr, aug in zip(estimators, preps, augs)]
    cv = ensemble_cv(cvs, y, labels, method, positive=pos) if method else cvs[0]
    oof_files = np.flatnonzero(~np.isnan(cv.oof_proba[:, 0]))
    calib = _calibration_summary(cv.oof_proba, y, oof_files)
    if cfg.calibration:  # the same CV without calibration, to show what calibration changed
        log("cross-validating again without calibration (to show what calibration changed)")
        raw = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, n_splits=cfg.folds,
                              n_repeats=1, seed=cfg.seed, positive=pos, files=ok, augmented=aug)
               for est, pr, aug in zip(raw_estimators, preps, augs)]
        raw_cv = ensemble_cv(raw, y, labels, method, positive=pos) if method else raw[0]
        calib = {"method": cfg.calibration, "calibrated": calib,
                 "uncalibrated": _calibration_summary(raw_cv.oof_proba, y, oof_files)}
    else:
        calib = {"method": None, "uncalibrated": calib}
    threshold, operating = 0.5, None
    if wants_threshold:
        from soundsort.models.calibration import choose_threshold

        operating = choose_threshold(y[oof_files] == pos, cv.oof_proba[oof_files, pos], optimize=cfg.optimize or "f1",
                                     min_precision=cfg.min_precision)
        threshold = operating["threshold"]
        log(f"threshold {threshold:.3f} ({operating['rule']}): precision {operating['precision']:.3f}, "
            f"recall {operating['recall']:.3f} on out-of-fold predictions")
    overall = classification_metrics(y[oof_files], cv.oof_proba[oof_files], labels, positive=pos,
                                     threshold=threshold)
    lso, lso_members = None, []
    if by_source:  # the same estimators (calibrated when asked) and threshold, one whole source held out per fold
        source_splits = _testable_sources(leave_source_out(y[ok], groups[ok], index.sources()[ok]))
        explicit = [(ok[sp.train], ok[sp.test]) for sp in source_splits if sp.testable]
        log(f"leave-source-out: holding out each of {len(explicit)} sources in turn")
        lso_cvs = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, positive=pos,
                                  files=ok, augmented=aug, splits=explicit)
                   for est, pr, aug in zip(estimators, preps, augs)]
        lso_cv = ensemble_cv(lso_cvs, y, labels, method, positive=pos) if method else lso_cvs[0]
        lso = source_cv_summary(lso_cv, source_splits, y, labels, files=ok, positive=pos, threshold=threshold)
        if method:
            lso_members = [source_cv_summary(c, source_splits, y, labels, files=ok, positive=pos) for c in lso_cvs]
            lso["members"] = {f"{f}:{m}": _headline(ms["pooled"]) for (f, m), ms in zip(specs, lso_members)}
        untested = [f"{name} ({e['reason']})" for name, e in lso["per_source"].items() if not e["tested"]]
        log(f"leave-source-out: {lso['tested']} of {lso['sources']} sources tested"
            + (f"; not tested: {'; '.join(untested)}" if untested else ""))
    learn = None
    if cfg.learning_curve and not method:
        log("learning curve (--no-learning-curve skips it)")
        learn = learning_curve(estimators[0], prep.table.values, prep.table.file_index, y, groups, labels,
                               n_splits=cfg.folds, seed=cfg.seed, positive=pos, augmented=augs[0])
    log(f"fitting the final model on all {len(ok)} files")
    t1 = time.perf_counter()
    finals = [fit_on_files(est, pr.table.values, pr.table.file_index, y, ok, groups, aug)
              for est, pr, aug in zip(estimators, preps, augs)]
    t_fit = time.perf_counter() - t1

    audio_seconds = float(sum(it.duration for it in index.items))
    timing = {"feature_seconds": round(t_feat, 2), "final_fit_seconds": round(t_fit, 2),
              "cv_fit_seconds_per_fold": round(cv.fit_seconds, 3),
              "cv_predict_seconds_per_fold": round(cv.predict_seconds, 3),
              "audio_seconds": round(audio_seconds, 1)}
    config = {"command": "train", "data": [str(r) for r in roots], **asdict(cfg),
              "featurizer_params": [fz.params() for fz in featurizers] if method else featurizers[0].params(),
              "labels": labels}
    name = f"{cfg.task}-{cfg.model}" if method else f"{cfg.task}-{cfg.features}-{cfg.model}"
    run_dir = new_run_dir(runs_dir, f"train-{name}")
    failed = {p: r for pr in preps for p, r in pr.table.failed}
    for aug in augs:  # a file whose copies failed still trains on its clean segments
        for p, r in (aug.failed if aug is not None else []):
            failed.setdefault(p, f"augmented copies not made: {r}")
    skipped = [(s.path, f"{s.path}: {s.reason}") for s in index.skipped] + sorted(failed.items())
    members_summary = None
    if method:
        members_summary = {f"{f}:{m}": c.summary for (f, m), c in zip(specs, cvs)}
        timing["members"] = ", ".join(f"{f}:{m}" for f, m in specs)
    saved = None
    if model_dir is None:  # never a trained model thrown away: it goes into the run folder
        model_dir = run_dir / "model"
    if model_dir is not None:
        data_info = {"roots": [str(r) for r in roots], "files": int(len(ok)),
                     "per_class": {c: int((y[ok] == i).sum()) for i, c in enumerate(labels)},
                     "group_pattern": cfg.group_pattern, "audio_hours": round(audio_seconds / 3600, 3),
                     "augmentation": ({"copies": cfg.augment, "noise": list(cfg.augment_noise),
                                       "config": asdict(augment_config(cfg.augment_params))} if cfg.augment else None),
                     "file_hashes": _training_hashes([prep.table.paths[i] for i in ok])}

        def card_for(fz: Any, model: str, params: dict, summary: dict) -> ModelCard:
            return ModelCard(task=cfg.task, labels=labels, featurizer=fz.name, featurizer_params=fz.params(),
                             model=model, model_params=params,
                             positive_label=labels[pos] if pos is not None else None, threshold=threshold,
                             metrics={"cv": summary, "folds": cfg.folds, "repeats": cfg.repeats,
                                      "calibration": calib, "operating_point": operating,
                                      **({"leave_source_out": lso} if lso is not None else {})},
                             training_data=data_info, notes=notes)

        if method:
            folder = Path(model_dir)
            for i, ((f, m), fz, est, c) in enumerate(zip(specs, featurizers, finals, cvs)):
                member = card_for(fz, m, {}, c.summary)
                member.threshold = 0.5  # the ensemble's threshold applies to the combined probability
                if lso_members:
                    member.metrics["leave_source_out"] = lso_members[i]
                save_model(folder / f"member-{i}", est, member, overwrite=overwrite)
            top = card_for(featurizers[0], cfg.model, {"method": method,
                                                       "members": [f"member-{i}" for i in range(len(specs))]},
                           cv.summary)
            top.featurizer, top.featurizer_params = "+".join(f for f, _ in specs), {}
            saved = save_model(folder, None, top, overwrite=overwrite)
        else:
            saved = save_model(model_dir, finals[0], card_for(featurizers[0], cfg.model, cfg.model_params,
                                                               cv.summary), overwrite=overwrite)
    figures = []
    if cfg.embedding_map and prep.table.values.ndim == 2 and len(ok) >= 5:
        from soundsort.evaluation.plots import plot_embedding_map
        from soundsort.models.segments import aggregate

        log("t-SNE map of the files' features (--no-embedding-map skips it)")
        per_file = aggregate(prep.table.values, prep.table.file_index, prep.table.n_files)[ok]
        sources = index.sources()[ok]
        plot_embedding_map(per_file, [labels[i] for i in y[ok]], run_dir / "embedding_map.png", seed=cfg.seed,
                           title=f"{run_dir.name}: t-SNE map of the files' {featurizers[0].name} features",
                           sources=[str(x) for x in sources] if len(set(sources.tolist())) > 1 else None)
        figures.append("embedding_map.png")
    if saved is not None and cfg.profile:
        from soundsort.evaluation.profile import profile_model

        log("profiling the saved model in a fresh process (--no-profile skips it)")
        sample = [prep.table.paths[i] for i in ok[:: max(1, len(ok) // 5)][:5]]
        timing["inference"] = profile_model(saved, sample)
    fold_of = {int(f): int(fold) for rep, fold, test, _ in cv.split_proba if rep == 0 for f in test}
    log("writing the report")
    report = write_evaluation(run_dir, title=f"Training report: {cfg.task} / "
                              + (f"{cfg.model} of {', '.join(f'{f}:{m}' for f, m in specs)}" if method
                                 else f"{cfg.features} / {cfg.model}"),
                              folds=[fold_of.get(int(i)) for i in oof_files],
                              model_name=f"{cfg.task} {cfg.model}" if method else
                              f"{cfg.task} {cfg.features}/{cfg.model}",
                              config=config, overall=overall, y_true=y[oof_files], proba=cv.oof_proba[oof_files],
                              labels=labels, paths=[prep.table.paths[i] for i in oof_files], positive=pos,
                              cv_summary=cv.summary, cv_folds=cv.folds, learning=learn, timing=timing,
                              failed=skipped, members=members_summary, calibration=calib, operating=operating,
                              figures=figures, leave_source_out=lso)
    _track(cfg.mlflow, run_dir, runs_dir, name=f"train-{name}", params=config,
           metrics={**summary_metrics(cv.summary, overall), **_calibration_metrics(calib),
                    **({f"lso_{k}": v for k, v in _headline(lso["pooled"]).items()} if lso else {})})
    return {"run_dir": run_dir, "report": report, "model_dir": saved, "cv": cv.summary, "overall": overall,
            "skipped": skipped, "labels": labels, "members": members_summary, "leave_source_out": lso}


#: content hashes kept in a model card: the first 16 hex digits (64 bits) of each training file's blake2b
HASH_DIGITS = 16


def _training_hashes(paths: Sequence[str | Path]) -> list[str]:
    """Short content hashes of the training files (sorted), so ``evaluate`` can tell a file it was trained on."""
    from soundsort.cache import content_hash
    from soundsort.errors import AudioError

    out = set()
    for p in paths:
        try:
            out.add(content_hash(p)[:HASH_DIGITS])
        except AudioError:
            continue
    return sorted(out)


def _seen_in_training(card: ModelCard, paths: Sequence[str | Path]) -> list[str]:
    """The ``paths`` whose content is among the training files of ``card`` (empty when the card keeps none)."""
    known = set(card.training_data.get("file_hashes") or [])
    if not known:
        return []
    from soundsort.cache import content_hash
    from soundsort.errors import AudioError

    seen = []
    for p in paths:
        try:
            if content_hash(p)[:HASH_DIGITS] in known:
                seen.append(str(p))
        except AudioError:
            continue
    return seen


def _testable_sources(splits: list[SourceSplit]) -> list[SourceSplit]:
    """``splits`` unchanged when at least one source can be tested, else a one-line :class:`DatasetError`."""
    if not any(sp.testable for sp in splits):
        why = "; ".join(f"{sp.source}: {sp.reason}" for sp in splits)
        raise DatasetError(f"leave-source-out: no source can be held out ({why})")
    return splits


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar scores of a metrics dict (accuracy, F1, precision, recall, PR-AUC, macro scores, Brier)."""
    keys = ("accuracy", "precision", "recall", "f1", "pr_auc", "precision_macro", "recall_macro", "f1_macro", "brier")
    return {k: float(metrics[k]) for k in keys if metrics.get(k) is not None}


def _calibration_summary(proba: np.ndarray, y: np.ndarray, files: np.ndarray) -> dict[str, Any]:
    """Brier score, expected calibration error and reliability curve of file probabilities ``proba``."""
    from soundsort.models.calibration import brier_score, reliability

    rel = reliability(y[files], proba[files])
    return {"brier": brier_score(y[files], proba[files]), "ece": rel["ece"][0], "reliability": rel}


def _calibration_metrics(calib: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key in ("calibrated", "uncalibrated"):
        if key in calib:
            out[f"brier_{key}"] = calib[key]["brier"]
            out[f"ece_{key}"] = calib[key]["ece"]
    return out


def _track(flag: bool | None, run_dir: Path, runs_dir: str | Path, *, name: str, params: dict[str, Any],
           metrics: dict[str, float]) -> None:
    from soundsort.evaluation.tracking import log_run, tracking_wanted

    if tracking_wanted(flag):
        log_run(run_dir, name=name, params=params, metrics=metrics, runs_dir=runs_dir)


def evaluate(model_dir: str | Path, roots: Sequence[str | Path], *, runs_dir: str | Path = "runs",
             group_pattern: str | None = None, jobs: int = 1, cache: bool = True,
             progress: Progress | None = None, profile: bool = True, mlflow: bool | None = None,
             log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Score a saved model (or ensemble) on a labelled dataset (all files are test files); write a run folder.

    Said through ``log`` and at the top of the report: classes of the model with no file in the data (left
    out of the macro averages), and files the model was trained on (by content hash, when its card keeps
    them): scores on those are no test."""
    predictor = Predictor(model_dir)
    card = predictor.card
    parts = predictor.members or [predictor]
    index = index_dataset(roots, group_pattern=group_pattern, jobs=jobs)
    preps = [prepare(roots, card.task, m.featurizer, labels=card.labels, jobs=jobs, cache=cache, progress=progress,
                     index=index) for m in parts]
    prep, table = preps[0], preps[0].table
    ok = np.unique(table.file_index)
    for other in preps[1:]:
        ok = np.intersect1d(ok, np.unique(other.table.file_index))
    if len(ok) == 0:
        raise DatasetError("no file could be featurized", index.root)
    t0 = time.perf_counter()
    probas = [predict_files(m.estimator, pr.table.values, pr.table.file_index, ok, len(card.labels),
                            pr.table.n_files) for m, pr in zip(parts, preps)]
    if predictor.members:
        from soundsort.models.ensembles import combine

        proba = np.full_like(probas[0], np.nan)
        proba[ok] = combine([p[ok] for p in probas], predictor.method)
    else:
        proba = probas[0]
    t_pred = time.perf_counter() - t0
    overall = classification_metrics(prep.y_file[ok], proba[ok], card.labels, positive=prep.positive,
                                     threshold=card.threshold)
    warnings = []
    if overall.get("absent_classes"):
        warnings.append(f"{len(overall['absent_classes'])} of the model's {len(card.labels)} classes have no file "
                        f"in this data ({', '.join(overall['absent_classes'])}): they are left out of the macro "
                        "averages (a file predicted as one of them still counts as an error)")
    seen = _seen_in_training(card, [table.paths[i] for i in ok])
    if seen:
        warnings.append(f"{len(seen)} of {len(ok)} files are in the model's training data (same content): scores "
                        "on them are no test" + (" — all of them: this evaluates the model on what it learned"
                                                 if len(seen) == len(ok) else ""))
    for w in warnings:
        log(f"warning: {w}")
    overall["trained_on"] = len(seen)
    audio_seconds = float(sum(it.duration for it in prep.index.items))
    timing = {"predict_seconds": round(t_pred, 3), "audio_seconds": round(audio_seconds, 1)}
    run_dir = new_run_dir(runs_dir, f"evaluate-{card.task}-{card.featurizer}-{card.model}")
    failed = {p: r for pr in preps for p, r in pr.table.failed}
    skipped = [(s.path, f"{s.path}: {s.reason}") for s in index.skipped] + sorted(failed.items())
    card_doc = asdict(card)
    hashes = card_doc["training_data"].pop("file_hashes", None)
    if hashes is not None:
        card_doc["training_data"]["file_hashes"] = f"{len(hashes)} content hashes (in the model card)"
    config = {"command": "evaluate", "model": str(model_dir), "data": [str(r) for r in roots], "card": card_doc}
    if profile:
        from soundsort.evaluation.profile import profile_model

        timing["inference"] = profile_model(model_dir, [table.paths[i] for i in ok[:: max(1, len(ok) // 5)][:5]])
    calib = {"method": None, "model": _calibration_summary(proba, prep.y_file, ok)}
    report = write_evaluation(run_dir, title=f"Evaluation: {Path(model_dir).name} on {', '.join(map(str, roots))}",
                              config=config, overall=overall, y_true=prep.y_file[ok], proba=proba[ok],
                              labels=card.labels, paths=[table.paths[i] for i in ok], positive=prep.positive,
                              timing=timing, failed=skipped, calibration=calib, warnings=warnings,
                              trained_on=seen, model_name=f"{Path(model_dir).name}: {card.featurizer}/{card.model}")
    _track(mlflow, run_dir, runs_dir, name=f"evaluate-{Path(model_dir).name}", params=config,
           metrics={**summary_metrics(None, overall), "brier": calib["model"]["brier"]})
    return {"run_dir": run_dir, "report": report, "overall": overall, "skipped": skipped, "warnings": warnings}
