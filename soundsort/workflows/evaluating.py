"""``soundsort evaluate``: score a saved model (or ensemble) on labelled data, every file a test file, and write
a run folder (report, metrics, figures), saying which of the model's classes the data lacks and which files
the model was trained on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import DatasetError
from soundsort.evaluation.crossval import predict_files
from soundsort.evaluation.metrics import classification_metrics
from soundsort.evaluation.report import new_run_dir, write_evaluation
from soundsort.evaluation.tracking import summary_metrics
from soundsort.inference.predict import Predictor
from soundsort.workflows.data import Progress, index_dataset, prepare
from soundsort.workflows.records import calibration_summary, seen_in_training, track

__all__ = ["evaluate"]


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
    seen = seen_in_training(card, [table.paths[i] for i in ok])
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
    calib = {"method": None, "model": calibration_summary(proba, prep.y_file, ok)}
    report = write_evaluation(run_dir, title=f"Evaluation: {Path(model_dir).name} on {', '.join(map(str, roots))}",
                              config=config, overall=overall, y_true=prep.y_file[ok], proba=proba[ok],
                              labels=card.labels, paths=[table.paths[i] for i in ok], positive=prep.positive,
                              timing=timing, failed=skipped, calibration=calib, warnings=warnings,
                              trained_on=seen, model_name=f"{Path(model_dir).name}: {card.featurizer}/{card.model}")
    track(mlflow, run_dir, runs_dir, name=f"evaluate-{Path(model_dir).name}", params=config,
           metrics={**summary_metrics(None, overall), "brier": calib["model"]["brier"]})
    return {"run_dir": run_dir, "report": report, "overall": overall, "skipped": skipped, "warnings": warnings}
