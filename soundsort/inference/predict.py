"""Predicting with a saved model: :class:`Predictor` (``soundsort predict``, ``evaluate``) and
:func:`featurizer_for`, the featurizer a saved model was trained on.

Kept apart from :mod:`soundsort.workflows` (training, cross-validation, reports) so that predicting imports
only what it uses: a model saved with a linear head (:mod:`soundsort.models.linear_head`) predicts without
scikit-learn, skops, librosa, matplotlib or PyTorch being imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import ConfigError, DatasetError, ModelError
from soundsort.features import featurize_file, featurizer_from_params
from soundsort.models.io import ModelCard, check_featurizer, load_model
from soundsort.models.segments import file_mean, proba_matrix, segment_counts, short_rule, shrink_short_file

__all__ = ["FilePrediction", "MAX_ENSEMBLE_DEPTH", "Predictor", "featurizer_for"]


def _cache(enabled: bool):
    from soundsort.cache import FeatureCache

    return FeatureCache() if enabled else None


def featurizer_for(card: ModelCard, folder: str | Path | None = None) -> Any:
    """Rebuild the featurizer a model was trained with, and check it matches exactly (errors name ``folder``)."""
    try:
        featurizer = featurizer_from_params(card.featurizer_params)
    except ConfigError as exc:
        raise ModelError(f"model.json: featurizer_params: cannot rebuild the model's features: {exc.reason}",
                         folder) from None
    except Exception as exc:  # a card's parameters reach feature code as keyword arguments: any may be wrong
        raise ModelError(f"model.json: featurizer_params: cannot rebuild the model's features "
                         f"({type(exc).__name__}: {exc})", folder) from None
    check_featurizer(card, featurizer.name, featurizer.params(), folder)
    return featurizer


@dataclass
class FilePrediction:
    """One file's prediction: the label, every class probability, and the per-segment probabilities."""

    path: str
    label: str
    probabilities: dict[str, float]
    segments: list[dict[str, Any]]
    duration: float


#: Ensembles of ensembles nest at most this deep (a member folder linked back to its parent would be endless).
MAX_ENSEMBLE_DEPTH = 4


class Predictor:
    """A loaded model (or ensemble) ready to predict files: loads once, predicts many."""

    def __init__(self, model_dir: str | Path, *, cache: bool = False, _depth: int = 0) -> None:
        import os

        from soundsort.models.io import is_ensemble

        self.estimator, self.card = load_model(model_dir, fast=True)
        self.cache = _cache(cache)
        self.members: list[Predictor] = []
        if is_ensemble(self.card):
            folder = Path(model_dir)
            if _depth >= MAX_ENSEMBLE_DEPTH:
                raise ModelError(f"ensembles nested more than {MAX_ENSEMBLE_DEPTH} deep (a member folder linked "
                                 "back to a parent?)", folder)
            self.method = self.card.model_params["method"]
            top = os.path.realpath(folder)
            for i, m in enumerate(self.card.model_params["members"]):
                real = os.path.realpath(folder / m)
                if os.path.dirname(real) != top:  # e.g. a symlink to another folder
                    raise ModelError(f"model.json: model_params.members[{i}]: member {m!r} is not a sub-folder of "
                                     "the ensemble's folder", folder)
                self.members.append(Predictor(folder / m, cache=cache, _depth=_depth + 1))
            for m in self.members:
                if m.card.labels != self.card.labels:
                    raise ModelError("ensemble member has other labels than the ensemble", Path(model_dir))
            self.featurizer = None
        else:
            self.featurizer = featurizer_for(self.card, model_dir)

    def segment_proba(self, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
        """``(times[n, 2], probabilities[n, K])`` of the file's analysis segments."""
        times, proba, _ = self._segments(path)
        return times, proba

    def _segments(self, path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`segment_proba` and which segments count towards the file's probability (None: all)."""
        if self.members:
            from soundsort.models.ensembles import combine

            parts = [m.segment_proba(path) for m in self.members]
            n = min(len(p) for _, p in parts)  # members on other sample rates may differ by one tail segment
            return parts[0][0][:n], combine([p[:n] for _, p in parts], self.method), None
        seg = featurize_file(self.featurizer, path, cache=self.cache)
        if len(seg.values) == 0:
            raise DatasetError("too short for one analysis segment", path)
        proba = proba_matrix(self.estimator, seg.values, len(self.card.labels))
        # a file of fewer segments than a rule's min_segments: every segment scaled as the file's mean is
        proba = shrink_short_file(proba, short_rule(self.estimator))
        return seg.times, proba, segment_counts(self.estimator, seg.values)

    def predict_file(self, path: str | Path) -> FilePrediction:
        """The file's label from its mean segment probabilities (at the card's threshold for a binary task;
        over the segments that count, :func:`~soundsort.models.segments.file_mean`; a file too short for a
        rule's ``min_segments`` has every segment scaled down), with every class
        probability and the per-segment ones."""
        labels = self.card.labels
        times, proba, counts = self._segments(path)
        file_p = file_mean(proba, counts)
        if self.card.positive_label is not None and len(labels) == 2:
            pos = labels.index(self.card.positive_label)
            label = labels[pos] if file_p[pos] >= self.card.threshold else labels[1 - pos]
        else:
            label = labels[int(np.argmax(file_p))]
        segments = [{"start": round(float(t[0]), 3), "end": round(float(t[1]), 3),
                     "label": labels[int(np.argmax(p))],
                     "probabilities": {c: round(float(v), 4) for c, v in zip(labels, p)}}
                    for t, p in zip(times, proba)]
        duration = float(times[-1][1]) if len(times) else 0.0
        return FilePrediction(str(path), label, {c: float(v) for c, v in zip(labels, file_p)}, segments, duration)
