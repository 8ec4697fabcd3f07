"""What a run keeps about itself besides its scores: content hashes of the training files (so an evaluation
can tell a file the model was trained on), calibration summaries, headline scores, and MLflow tracking."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.models.io import ModelCard

__all__ = ["HASH_DIGITS", "calibration_metrics", "calibration_summary", "headline", "seen_in_training", "track",
           "training_hashes"]


#: content hashes kept in a model card: the first 16 hex digits (64 bits) of each training file's blake2b
HASH_DIGITS = 16


def training_hashes(paths: Sequence[str | Path]) -> list[str]:
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


def seen_in_training(card: ModelCard, paths: Sequence[str | Path]) -> list[str]:
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


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar scores of a metrics dict (accuracy, F1, precision, recall, PR-AUC, macro scores, Brier)."""
    keys = ("accuracy", "precision", "recall", "f1", "pr_auc", "precision_macro", "recall_macro", "f1_macro", "brier")
    return {k: float(metrics[k]) for k in keys if metrics.get(k) is not None}


def calibration_summary(proba: np.ndarray, y: np.ndarray, files: np.ndarray) -> dict[str, Any]:
    """Brier score, expected calibration error and reliability curve of file probabilities ``proba``."""
    from soundsort.models.calibration import brier_score, reliability

    rel = reliability(y[files], proba[files])
    return {"brier": brier_score(y[files], proba[files]), "ece": rel["ece"][0], "reliability": rel}


def calibration_metrics(calib: dict[str, Any]) -> dict[str, float]:
    """Brier score and ECE, calibrated and uncalibrated, as flat metrics for tracking."""
    out = {}
    for key in ("calibrated", "uncalibrated"):
        if key in calib:
            out[f"brier_{key}"] = calib[key]["brier"]
            out[f"ece_{key}"] = calib[key]["ece"]
    return out


def track(flag: bool | None, run_dir: Path, runs_dir: str | Path, *, name: str, params: dict[str, Any],
           metrics: dict[str, float]) -> None:
    """Log the run folder to MLflow when ``flag`` says so (None: when ``MLFLOW_TRACKING_URI`` is set)."""
    from soundsort.evaluation.tracking import log_run, tracking_wanted

    if tracking_wanted(flag):
        log_run(run_dir, name=name, params=params, metrics=metrics, runs_dir=runs_dir)
