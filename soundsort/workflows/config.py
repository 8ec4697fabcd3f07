"""What decides a training run: :class:`TrainConfig` (saved verbatim in the run folder and the model card),
and reading its ensemble part (``ensemble-mean`` with ``FEATURES:MODEL`` members)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from soundsort.errors import ConfigError

__all__ = ["CV_METHODS", "TrainConfig", "ensemble_method", "parse_members"]


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
    random_state: int = 0  # seeds the CV splits, the models, augmentation and the map (``--seed``)
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
