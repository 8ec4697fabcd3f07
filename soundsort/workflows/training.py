"""``soundsort train``: cross-validate a configuration on the data, fit the final model on all of it, save the
model and a run folder (report, metrics, figures).

:func:`train` runs the steps in order, each a function of its own with typed inputs and outputs:
:func:`plan_run` (check the configuration, build featurizers and estimators; no audio decoded),
:func:`featurize_data` (index, featurize, augment), :func:`score_cv` (grouped k-fold, calibration, threshold),
:func:`score_sources` (leave-source-out), :func:`fit_final`, :func:`save_trained` (model card and model
folder), then the figures, the profile, the report and tracking; the result is a :class:`TrainResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.augment import augment_config
from soundsort.dataset.index import DatasetIndex
from soundsort.dataset.splits import SourceSplit, leave_source_out
from soundsort.dataset.table import LabelsTable
from soundsort.dataset.tasks import get_task
from soundsort.errors import ConfigError, DatasetError, ModelError
from soundsort.evaluation.crossval import (
    cross_validate,
    ensemble_cv,
    fit_on_files,
    learning_curve,
    source_cv_summary,
)
from soundsort.evaluation.metrics import classification_metrics
from soundsort.evaluation.report import new_run_dir, write_evaluation
from soundsort.evaluation.tracking import summary_metrics
from soundsort.features.augmented import AugmentedTable, noise_files
from soundsort.features import get_featurizer
from soundsort.models.io import ModelCard, save_model
from soundsort.models.registry import make_model
from soundsort.workflows.config import CV_METHODS, TrainConfig, ensemble_method, parse_members
from soundsort.workflows.data import Prepared, Progress, augmented_for, index_dataset, prepare
from soundsort.workflows.records import calibration_metrics, calibration_summary, headline, track, training_hashes

__all__ = ["TrainResult", "train"]

Log = Callable[[str], None]


@dataclass
class TrainResult:
    """What :func:`train` made: the run folder and its report, the saved model, and the scores."""

    run_dir: Path
    report: Path
    #: the saved model's folder (``--output``, else ``RUN_FOLDER/model``)
    model_dir: Path | None
    #: the cross-validation summary: ``{metric: {"mean", "std"}}``
    cv: dict[str, Any]
    #: the out-of-fold scores of all files (at the chosen threshold)
    overall: dict[str, Any]
    #: ``(path, reason)`` of every file left out (not indexed, not featurized)
    skipped: list[tuple[str, str]]
    labels: list[str]
    #: ensembles: each member's CV summary by ``FEATURES:MODEL``
    members: dict[str, Any] | None
    #: ``cv="leave-source-out"``: pooled and per-source out-of-source scores
    leave_source_out: dict[str, Any] | None


@dataclass
class RunPlan:
    """The checked configuration: what to featurize and fit (built before any audio is decoded)."""

    method: str | None  # ensemble method, None for one model
    specs: list[tuple[str, str]]  # (features, model) per member
    featurizers: list[Any]
    estimators: list[Any]  # calibrated when asked
    raw_estimators: list[Any]  # the same, uncalibrated
    noises: list[Path]
    wants_threshold: bool
    by_source: bool


@dataclass
class FeaturizedData:
    """The indexed, featurized (and augmented) data, one :class:`Prepared` per member."""

    index: DatasetIndex
    preps: list[Prepared]
    augs: list[AugmentedTable | None]
    ok: np.ndarray  # the files every member could featurize
    seconds: float

    @property
    def prep(self) -> Prepared:
        return self.preps[0]


@dataclass
class CvScores:
    """Cross-validation on the grouped folds: the (ensemble's) CV, calibration, threshold and scores."""

    cv: Any  # the CV result the scores come from (the ensemble's for an ensemble)
    cvs: list[Any]  # one per member
    oof_files: np.ndarray
    calibration: dict[str, Any]
    threshold: float
    operating: dict[str, Any] | None
    overall: dict[str, Any]


def plan_run(cfg: TrainConfig, model_dir: str | Path | None, overwrite: bool) -> RunPlan:
    """Check ``cfg`` (task, ensemble members, calibration, augmentation, CV method) and build the featurizers
    and estimators; fails before any audio is decoded."""
    from soundsort.dataset.tasks import check_task

    cfg.task = check_task(cfg.task)  # a typo ("musik") is an error naming the close task, never a new task
    method = ensemble_method(cfg.model)
    specs = parse_members(cfg.members) if method else [(cfg.features, cfg.model)]
    if model_dir is not None and (Path(model_dir) / "model.json").exists() and not overwrite:
        raise ModelError("a model already exists here (use --overwrite to replace it)", model_dir)
    featurizers = [get_featurizer(f, **(cfg.feature_params if not method else {})) for f, _ in specs]
    estimators = [make_model(m, random_state=cfg.random_state, n_jobs=cfg.jobs,
                             **(cfg.model_params if not method else {})) for _, m in specs]
    raw_estimators = estimators
    if cfg.calibration:
        from soundsort.models.calibration import CalibratedHead

        estimators = [CalibratedHead(e, method=cfg.calibration, random_state=cfg.random_state) for e in estimators]
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
    return RunPlan(method, specs, featurizers, estimators, raw_estimators, noises, wants_threshold, by_source)


def featurize_data(roots: Sequence[str | Path], cfg: TrainConfig, plan: RunPlan, *,
                   progress: Progress | None, log: Log) -> FeaturizedData:
    """Index the data, check leave-source-out can test a source, featurize every file for every member (and
    make the augmented copies)."""
    t0 = time.perf_counter()
    index = index_dataset(roots, group_pattern=cfg.group_pattern, groups_csv=cfg.groups_csv,
                          sources_csv=cfg.sources_csv, jobs=cfg.jobs,
                          labels_table=LabelsTable(**cfg.labels_csv) if cfg.labels_csv else None)
    for note in index.notes:
        log(note)
    if plan.by_source:  # before any audio is featurized: enough sources, and at least one testable
        task = get_task(cfg.task)
        _testable_sources(leave_source_out([task.class_of(it.label) for it in index.items], index.groups(),
                                           index.sources()))
    preps = [prepare(roots, cfg.task, fz, jobs=cfg.jobs, cache=cfg.cache, progress=progress, index=index)
             for fz in plan.featurizers]
    augs: list[AugmentedTable | None] = ([augmented_for(pr, cfg, plan.noises, progress=progress) for pr in preps]
                                         if cfg.augment else [None] * len(preps))
    seconds = time.perf_counter() - t0
    ok = np.unique(preps[0].table.file_index)
    for other in preps[1:]:
        ok = np.intersect1d(ok, np.unique(other.table.file_index))
    if len(ok) == 0:
        raise DatasetError("no file could be featurized", index.root)
    for (feat, model), pr in zip(plan.specs, preps):
        shape = "×".join(str(d) for d in pr.table.values.shape[1:])
        log(f"{feat}/{model}: {len(ok)} files, {len(pr.table.values)} segments × {shape} features")
    if cfg.augment:
        log(f"augmentation: {cfg.augment} copies per file, {len(augs[0])} extra training segments"
            + (f", noise from {len(plan.noises)} recordings" if plan.noises else ", no noise"))
    log(f"features took {seconds:.1f}s; {len(index.skipped) + len(set(p for pr in preps for p, _ in pr.table.failed))} "
        "files skipped")
    return FeaturizedData(index, preps, augs, ok, seconds)


def score_cv(cfg: TrainConfig, plan: RunPlan, data: FeaturizedData, *, log: Log) -> CvScores:
    """Grouped k-fold CV of every member (combined for an ensemble), the calibration summary (and, calibrating,
    the same CV uncalibrated), the threshold when one is asked for, and the out-of-fold scores."""
    prep, ok, method = data.prep, data.ok, plan.method
    y, groups, labels, pos = prep.y_file, prep.groups, prep.labels, prep.positive
    log(f"cross-validating: {cfg.folds} folds" + (f" × {cfg.repeats} repeats" if cfg.repeats > 1 else "")
        + (f", {len(plan.specs)} members" if method else "") + f" on {len(ok)} files")
    cvs = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, n_splits=cfg.folds,
                          n_repeats=cfg.repeats, random_state=cfg.random_state, positive=pos, files=ok, augmented=aug)
           for est, pr, aug in zip(plan.estimators, data.preps, data.augs)]
    cv = ensemble_cv(cvs, y, labels, method, positive=pos) if method else cvs[0]
    oof_files = np.flatnonzero(~np.isnan(cv.oof_proba[:, 0]))
    calib = calibration_summary(cv.oof_proba, y, oof_files)
    if cfg.calibration:  # the same CV without calibration, to show what calibration changed
        log("cross-validating again without calibration (to show what calibration changed)")
        raw = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, n_splits=cfg.folds,
                              n_repeats=1, random_state=cfg.random_state, positive=pos, files=ok, augmented=aug)
               for est, pr, aug in zip(plan.raw_estimators, data.preps, data.augs)]
        raw_cv = ensemble_cv(raw, y, labels, method, positive=pos) if method else raw[0]
        calib = {"method": cfg.calibration, "calibrated": calib,
                 "uncalibrated": calibration_summary(raw_cv.oof_proba, y, oof_files)}
    else:
        calib = {"method": None, "uncalibrated": calib}
    threshold, operating = 0.5, None
    if plan.wants_threshold:
        from soundsort.models.calibration import choose_threshold

        operating = choose_threshold(y[oof_files] == pos, cv.oof_proba[oof_files, pos], optimize=cfg.optimize or "f1",
                                     min_precision=cfg.min_precision)
        threshold = operating["threshold"]
        log(f"threshold {threshold:.3f} ({operating['rule']}): precision {operating['precision']:.3f}, "
            f"recall {operating['recall']:.3f} on out-of-fold predictions")
    overall = classification_metrics(y[oof_files], cv.oof_proba[oof_files], labels, positive=pos,
                                     threshold=threshold)
    return CvScores(cv, cvs, oof_files, calib, threshold, operating, overall)


def score_sources(plan: RunPlan, data: FeaturizedData, threshold: float, *,
                  log: Log) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Leave-source-out: the same estimators (calibrated when asked) and threshold, one whole source held out
    per fold → ``(summary, per-member summaries)`` (members only for an ensemble)."""
    prep, ok, method = data.prep, data.ok, plan.method
    y, groups, labels, pos = prep.y_file, prep.groups, prep.labels, prep.positive
    source_splits = _testable_sources(leave_source_out(y[ok], groups[ok], data.index.sources()[ok]))
    explicit = [(ok[sp.train], ok[sp.test]) for sp in source_splits if sp.testable]
    log(f"leave-source-out: holding out each of {len(explicit)} sources in turn")
    lso_cvs = [cross_validate(est, pr.table.values, pr.table.file_index, y, groups, labels, positive=pos,
                              files=ok, augmented=aug, splits=explicit)
               for est, pr, aug in zip(plan.estimators, data.preps, data.augs)]
    lso_cv = ensemble_cv(lso_cvs, y, labels, method, positive=pos) if method else lso_cvs[0]
    lso = source_cv_summary(lso_cv, source_splits, y, labels, files=ok, positive=pos, threshold=threshold)
    lso_members: list[dict[str, Any]] = []
    if method:
        lso_members = [source_cv_summary(c, source_splits, y, labels, files=ok, positive=pos) for c in lso_cvs]
        lso["members"] = {f"{f}:{m}": headline(ms["pooled"]) for (f, m), ms in zip(plan.specs, lso_members)}
    untested = [f"{name} ({e['reason']})" for name, e in lso["per_source"].items() if not e["tested"]]
    log(f"leave-source-out: {lso['tested']} of {lso['sources']} sources tested"
        + (f"; not tested: {'; '.join(untested)}" if untested else ""))
    return lso, lso_members


def fit_final(plan: RunPlan, data: FeaturizedData, *, log: Log) -> tuple[list[Any], float]:
    """Fit every member on all usable files → ``(fitted estimators, seconds)``."""
    prep, ok = data.prep, data.ok
    log(f"fitting the final model on all {len(ok)} files")
    t1 = time.perf_counter()
    finals = [fit_on_files(est, pr.table.values, pr.table.file_index, prep.y_file, ok, prep.groups, aug)
              for est, pr, aug in zip(plan.estimators, data.preps, data.augs)]
    return finals, time.perf_counter() - t1


def save_trained(model_dir: str | Path, roots: Sequence[str | Path], cfg: TrainConfig, plan: RunPlan,
                 data: FeaturizedData, scores: CvScores, finals: list[Any], lso: dict[str, Any] | None,
                 lso_members: list[dict[str, Any]], *, audio_seconds: float, overwrite: bool,
                 notes: str) -> Path:
    """Write the model card(s) and the fitted model (for an ensemble: each member in ``member-i/``, then the
    ensemble's card) → the saved folder."""
    prep, ok = data.prep, data.ok
    y, labels, pos = prep.y_file, prep.labels, prep.positive
    data_info = {"roots": [str(r) for r in roots], "files": int(len(ok)),
                 "per_class": {c: int((y[ok] == i).sum()) for i, c in enumerate(labels)},
                 "group_pattern": cfg.group_pattern, "audio_hours": round(audio_seconds / 3600, 3),
                 "augmentation": ({"copies": cfg.augment, "noise": list(cfg.augment_noise),
                                   "config": asdict(augment_config(cfg.augment_params))} if cfg.augment else None),
                 "file_hashes": training_hashes([prep.table.paths[i] for i in ok])}

    def card_for(fz: Any, model: str, params: dict, summary: dict) -> ModelCard:
        return ModelCard(task=cfg.task, labels=labels, featurizer=fz.name, featurizer_params=fz.params(),
                         model=model, model_params=params,
                         positive_label=labels[pos] if pos is not None else None, threshold=scores.threshold,
                         metrics={"cv": summary, "folds": cfg.folds, "repeats": cfg.repeats,
                                  "calibration": scores.calibration, "operating_point": scores.operating,
                                  **({"leave_source_out": lso} if lso is not None else {})},
                         training_data=data_info, notes=notes)

    if plan.method:
        folder = Path(model_dir)
        for i, ((f, m), fz, est, c) in enumerate(zip(plan.specs, plan.featurizers, finals, scores.cvs)):
            member = card_for(fz, m, {}, c.summary)
            member.threshold = 0.5  # the ensemble's threshold applies to the combined probability
            if lso_members:
                member.metrics["leave_source_out"] = lso_members[i]
            save_model(folder / f"member-{i}", est, member, overwrite=overwrite)
        top = card_for(plan.featurizers[0], cfg.model, {"method": plan.method,
                                                        "members": [f"member-{i}" for i in range(len(plan.specs))]},
                       scores.cv.summary)
        top.featurizer, top.featurizer_params = "+".join(f for f, _ in plan.specs), {}
        return save_model(folder, None, top, overwrite=overwrite)
    return save_model(model_dir, finals[0], card_for(plan.featurizers[0], cfg.model, cfg.model_params,
                                                     scores.cv.summary), overwrite=overwrite)


def _embedding_map(cfg: TrainConfig, plan: RunPlan, data: FeaturizedData, run_dir: Path, *, log: Log) -> list[str]:
    """The t-SNE map of the files' features in the run folder (when asked and there are enough files)."""
    prep, ok = data.prep, data.ok
    if not (cfg.embedding_map and prep.table.values.ndim == 2 and len(ok) >= 5):
        return []
    from soundsort.evaluation.plots import plot_embedding_map
    from soundsort.models.segments import aggregate

    log("t-SNE map of the files' features (--no-embedding-map skips it)")
    per_file = aggregate(prep.table.values, prep.table.file_index, prep.table.n_files)[ok]
    sources = data.index.sources()[ok]
    plot_embedding_map(per_file, [prep.labels[i] for i in prep.y_file[ok]], run_dir / "embedding_map.png",
                       seed=cfg.random_state,
                       title=f"{run_dir.name}: t-SNE map of the files' {plan.featurizers[0].name} features",
                       sources=[str(x) for x in sources] if len(set(sources.tolist())) > 1 else None)
    return ["embedding_map.png"]


def train(roots: Sequence[str | Path], cfg: TrainConfig, *, model_dir: str | Path | None, runs_dir: str | Path = "runs",
          overwrite: bool = False, progress: Progress | None = None,
          log: Log = lambda s: None, notes: str = "") -> TrainResult:
    """Cross-validate ``cfg`` on the data, fit the final model on all of it, save model and run folder.

    ``cfg.model`` may be ``ensemble-mean|vote|max`` with ``cfg.members`` (``FEATURES:MODEL``): every member
    is cross-validated on the same splits and the ensemble's scores come from combining their predictions.
    ``cfg.cv="leave-source-out"`` also holds out each data source in turn (same estimators, calibration and
    threshold); its pooled and per-source scores (:func:`~soundsort.evaluation.crossval.source_cv_summary`) are
    returned as ``leave_source_out`` and written to the report, metrics.json and the model card.
    """
    plan = plan_run(cfg, model_dir, overwrite)
    method, specs = plan.method, plan.specs
    data = featurize_data(roots, cfg, plan, progress=progress, log=log)
    prep, ok, index = data.prep, data.ok, data.index
    y, labels, pos = prep.y_file, prep.labels, prep.positive
    scores = score_cv(cfg, plan, data, log=log)
    cv, oof_files = scores.cv, scores.oof_files
    lso, lso_members = score_sources(plan, data, scores.threshold, log=log) if plan.by_source else (None, [])
    learn = None
    if cfg.learning_curve and not method:
        log("learning curve (--no-learning-curve skips it)")
        learn = learning_curve(plan.estimators[0], prep.table.values, prep.table.file_index, y, prep.groups, labels,
                               n_splits=cfg.folds, random_state=cfg.random_state, positive=pos, augmented=data.augs[0])
    finals, t_fit = fit_final(plan, data, log=log)

    audio_seconds = float(sum(it.duration for it in index.items))
    timing = {"feature_seconds": round(data.seconds, 2), "final_fit_seconds": round(t_fit, 2),
              "cv_fit_seconds_per_fold": round(cv.fit_seconds, 3),
              "cv_predict_seconds_per_fold": round(cv.predict_seconds, 3),
              "audio_seconds": round(audio_seconds, 1)}
    config = {"command": "train", "data": [str(r) for r in roots], **asdict(cfg),
              "featurizer_params": [fz.params() for fz in plan.featurizers] if method else plan.featurizers[0].params(),
              "labels": labels}
    name = f"{cfg.task}-{cfg.model}" if method else f"{cfg.task}-{cfg.features}-{cfg.model}"
    run_dir = new_run_dir(runs_dir, f"train-{name}")
    failed = {p: r for pr in data.preps for p, r in pr.table.failed}
    for aug in data.augs:  # a file whose copies failed still trains on its clean segments
        for p, r in (aug.failed if aug is not None else []):
            failed.setdefault(p, f"augmented copies not made: {r}")
    skipped = [(s.path, f"{s.path}: {s.reason}") for s in index.skipped] + sorted(failed.items())
    members_summary = None
    if method:
        members_summary = {f"{f}:{m}": c.summary for (f, m), c in zip(specs, scores.cvs)}
        timing["members"] = ", ".join(f"{f}:{m}" for f, m in specs)
    if model_dir is None:  # never a trained model thrown away: it goes into the run folder
        model_dir = run_dir / "model"
    saved = save_trained(model_dir, roots, cfg, plan, data, scores, finals, lso, lso_members,
                         audio_seconds=audio_seconds, overwrite=overwrite, notes=notes)
    figures = _embedding_map(cfg, plan, data, run_dir, log=log)
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
                              config=config, overall=scores.overall, y_true=y[oof_files],
                              proba=cv.oof_proba[oof_files], labels=labels,
                              paths=[prep.table.paths[i] for i in oof_files], positive=pos,
                              cv_summary=cv.summary, cv_folds=cv.folds, learning=learn, timing=timing,
                              failed=skipped, members=members_summary, calibration=scores.calibration,
                              operating=scores.operating, figures=figures, leave_source_out=lso)
    track(cfg.mlflow, run_dir, runs_dir, name=f"train-{name}", params=config,
          metrics={**summary_metrics(cv.summary, scores.overall), **calibration_metrics(scores.calibration),
                   **({f"lso_{k}": v for k, v in headline(lso["pooled"]).items()} if lso else {})})
    return TrainResult(run_dir=run_dir, report=report, model_dir=saved, cv=cv.summary, overall=scores.overall,
                       skipped=skipped, labels=labels, members=members_summary, leave_source_out=lso)


def _testable_sources(splits: list[SourceSplit]) -> list[SourceSplit]:
    """``splits`` unchanged when at least one source can be tested, else a one-line :class:`DatasetError`."""
    if not any(sp.testable for sp in splits):
        why = "; ".join(f"{sp.source}: {sp.reason}" for sp in splits)
        raise DatasetError(f"leave-source-out: no source can be held out ({why})")
    return splits
