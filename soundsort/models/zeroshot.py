"""Zero-shot music decisions: a pretrained network's own music score, thresholded, nothing learned.

:class:`ScoreThresholdClassifier` (model ``score-threshold``) reads one feature column, by default column 0
of feature set ``yamnet-music``: the strongest AudioSet *Music*-subtree class of YAMNet's segment-mean
scores (:data:`soundsort.features.scores.MUSIC_SUMMARY`). A segment is music when that score reaches
``threshold``. Fitting only records the classes; so it holds up, or fails, on unseen audio exactly as YAMNet
does, and it is the baseline a trained head on the same features has to beat::

    soundsort train DATA/ --task music --features yamnet-music --model score-threshold
    soundsort train DATA/ --task music --features yamnet-music --model score-threshold --param threshold=0.3
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from soundsort.dataset.tasks import MUSIC
from soundsort.errors import ConfigError
from soundsort.models.linear_head import counted_rows, score_threshold_proba

__all__ = ["ScoreThresholdClassifier", "score_threshold"]


class ScoreThresholdClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier that thresholds one score column: positive when ``X[:, column] >= threshold``.

    Args:
        column: the column of ``X`` holding the score (default 0: ``yamnet_music_max_of_mean`` of
            ``yamnet-music``; 1024 for ``yamnet-music`` with ``outputs=["embedding", "music"]``).
        threshold: the score, in ``(0, 1)``, at which a segment becomes positive (default 0.1; measured on
            the 3 s segments of GTZAN music / speech and ESC-10: 99 % of music segments reach it, 2 % of
            speech, 10 % of clock ticks, at most 3 % of each other ESC-10 class; 0.2 trades 2 % of the music
            for none of the speech).
        positive: the class of ``y`` the score speaks for; ``None``: ``"music"`` when ``y`` has that label,
            else the first class (soundsort's music task numbers its classes ``music`` 0, ``non-music`` 1).
        mapping: how a score becomes the positive class's probability: ``"linear"`` (piecewise linear,
            below) or ``"logistic"``: ``sigmoid(sharpness * (logit(score) - logit(threshold)))``, the score's
            log-odds moved so that the threshold sits at 0.5; smooth, so averaged over the frames of a file
            or a timeline window it behaves like a calibrated head's probability.
        sharpness: the logistic mapping's slope in log-odds (1: the score's own odds, shifted).
        silence_column: a column saying how silent a segment is (``yamnet-music``'s 7, ``silence_mean``:
            YAMNet's "Silence" score), or ``None``. With it, segments whose value reaches
            ``silence_threshold`` carry no evidence: they keep their probability (and their place in a
            timeline), but a file's probability is the mean over the other segments (over all of them when
            every one is silent; see :meth:`segment_counts`). Solo notes with long rests are music, and the
            rests should not vote.
        silence_threshold: the value of ``silence_column`` from which a segment is silent (default 0.5).
        noise_column: a column saying how strongly noise as such is heard (``yamnet-music`` with
            ``outputs=["music", "noise"]``: 10, ``noise_max_of_mean``), or ``None``. With it, a segment
            where that value reaches ``noise_threshold`` *and* beats the score column only hears the noise:
            like a silent one, it keeps its probability but does not count towards the file's. Music under
            steady noise is then judged by the segments where the music is heard.
        noise_threshold: the value of ``noise_column`` from which noise can outweigh a segment (0.05).
        min_segments: the fewest segments a file needs for its full probability, or ``None``. A shorter file
            is judged as if padded to ``min_segments`` with segments certainly not music: its probability
            is scaled by ``n / min_segments`` (:func:`soundsort.models.segments.shrink_short`). One knock
            or door slam of a frame or two can score as percussion; a clip that short is too little
            evidence for music. A file rule: ``predict_proba`` of segments is unchanged; classify and predict
            scale the segments of such a short file too, so its timeline agrees with its label.

    ``fit`` learns only ``classes_`` (the two labels of ``y``), ``positive_index_`` and ``n_features_in_``.
    ``predict_proba`` maps the score monotonically to the positive class's probability, piecewise linearly,
    with 0 at score 0, 0.5 exactly at ``threshold`` and 1 at score 1 (scores are clipped to ``[0, 1]``):
    the probability threshold 0.5 of a saved model is the score threshold, and ranking metrics (PR curve,
    ROC AUC) and ``--optimize`` operate on the score itself.
    """

    def __init__(self, column: int = 0, threshold: float = 0.1, positive: Any = None, mapping: str = "linear",
                 sharpness: float = 1.0, silence_column: int | None = None, silence_threshold: float = 0.5,
                 noise_column: int | None = None, noise_threshold: float = 0.05,
                 min_segments: int | None = None) -> None:
        self.column = column
        self.threshold = threshold
        self.positive = positive
        self.mapping = mapping
        self.sharpness = sharpness
        self.silence_column = silence_column
        self.silence_threshold = silence_threshold
        self.noise_column = noise_column
        self.noise_threshold = noise_threshold
        self.min_segments = min_segments

    def __setstate__(self, state: dict[str, Any]) -> None:
        # models saved before the silence / noise / short-file options existed load with them off (their
        # answers unchanged)
        super().__setstate__({"silence_column": None, "silence_threshold": 0.5, "noise_column": None,
                              "noise_threshold": 0.05, "min_segments": None, **state})

    def _check_params(self) -> tuple[int, float]:
        if isinstance(self.column, bool) or not isinstance(self.column, (int, np.integer)):
            raise ConfigError(f"column must be an integer column index, got {self.column!r}")
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise ConfigError(f"threshold must be a number, got {self.threshold!r}") from None
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1 (exclusive), got {self.threshold!r}")
        if self.mapping not in ("linear", "logistic"):
            raise ConfigError(f"mapping must be 'linear' or 'logistic', got {self.mapping!r}")
        try:
            sharpness = float(self.sharpness)
        except (TypeError, ValueError):
            raise ConfigError(f"sharpness must be a number, got {self.sharpness!r}") from None
        if not np.isfinite(sharpness) or sharpness <= 0:
            raise ConfigError(f"sharpness must be a positive number, got {self.sharpness!r}")
        for kind in ("silence", "noise"):
            col, t = getattr(self, f"{kind}_column"), getattr(self, f"{kind}_threshold")
            if col is not None and (isinstance(col, bool) or not isinstance(col, (int, np.integer))):
                raise ConfigError(f"{kind}_column must be an integer column index or None, got {col!r}")
            try:
                finite = np.isfinite(float(t))
            except (TypeError, ValueError):
                raise ConfigError(f"{kind}_threshold must be a number, got {t!r}") from None
            if not finite:
                raise ConfigError(f"{kind}_threshold must be a finite number, got {t!r}")
        m = self.min_segments
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1):
            raise ConfigError(f"min_segments must be a whole number of segments (1 or more) or None, got {m!r}")
        return int(self.column), threshold

    def _check_X(self, X: Any, *, fitting: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ConfigError(f"score-threshold needs feature vectors shaped (n, features), got {X.shape}")
        if not fitting and X.shape[1] != self.n_features_in_:
            raise ConfigError(f"score-threshold was fitted on {self.n_features_in_} features, got {X.shape[1]}")
        for name, column in (("column", self.column), ("silence_column", self.silence_column),
                             ("noise_column", self.noise_column)):
            if column is not None and not -X.shape[1] <= int(column) < X.shape[1]:
                raise ConfigError(f"{name} {int(column)} is outside the {X.shape[1]} feature columns")
        return X

    def fit(self, X: Any, y: Any) -> ScoreThresholdClassifier:
        """Record the two classes of ``y`` and which one is positive; returns ``self``."""
        self._check_params()
        X = self._check_X(X, fitting=True)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ConfigError(f"y must be one label per row of X ({len(X)}), got shape {y.shape}")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ConfigError(f"score-threshold is a binary (music / non-music) model; y has {len(classes)} "
                              "class(es)")
        if self.positive is None:
            index = int(np.flatnonzero(classes == MUSIC)[0]) if MUSIC in classes.tolist() else 0
        else:
            found = np.flatnonzero(classes == self.positive)
            if not len(found):
                raise ConfigError(f"positive class {self.positive!r} is not in y's classes "
                                  f"{', '.join(map(str, classes.tolist()))}")
            index = int(found[0])
        self.classes_ = classes
        self.positive_index_ = index
        self.n_features_in_ = int(X.shape[1])
        return self

    def score_column(self, X: Any) -> np.ndarray:
        """The thresholded column of ``X``, float64 ``(n,)``."""
        check_is_fitted(self, "classes_")
        return self._check_X(X, fitting=False)[:, int(self.column)]

    def segment_counts(self, X: Any) -> np.ndarray:
        """Which rows count towards a file's probability, bool ``(n,)``: all but the silent ones (with
        ``silence_column``) and the noise-only ones (with ``noise_column``; see the class docstring).
        :func:`soundsort.models.segments.file_mean` pools them."""
        check_is_fitted(self, "classes_")
        self._check_params()
        X = self._check_X(X, fitting=False)
        return counted_rows(X, int(self.column), self.silence_column, float(self.silence_threshold),
                            self.noise_column, float(self.noise_threshold))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score - threshold``, signed for ``classes_[1]`` (scikit-learn's binary convention)."""
        _, threshold = self._check_params()
        margin = self.score_column(X) - threshold
        return margin if self.positive_index_ == 1 else -margin

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)`` probabilities in ``classes_`` order (see the class docstring for the mapping)."""
        _, t = self._check_params()
        return score_threshold_proba(self.score_column(X), t, self.mapping, self.sharpness, self.positive_index_)

    def predict(self, X: Any) -> np.ndarray:
        """The positive class where the score reaches ``threshold``, the other class elsewhere."""
        _, threshold = self._check_params()
        hit = self.score_column(X) >= threshold
        return np.where(hit, self.classes_[self.positive_index_], self.classes_[1 - self.positive_index_])


def score_threshold(random_state: int | None = 0, n_jobs: int | None = 1, column: int = 0, threshold: float = 0.1,
                    positive: Any = None, mapping: str = "linear", sharpness: float = 1.0,
                    silence_column: int | None = None, silence_threshold: float = 0.5,
                    noise_column: int | None = None, noise_threshold: float = 0.05,
                    min_segments: int | None = None) -> ScoreThresholdClassifier:
    """Model ``score-threshold``: a :class:`ScoreThresholdClassifier` (``random_state`` and ``n_jobs`` are unused:
    nothing is learned)."""
    return ScoreThresholdClassifier(column=column, threshold=threshold, positive=positive, mapping=mapping,
                                    sharpness=sharpness, silence_column=silence_column,
                                    silence_threshold=silence_threshold, noise_column=noise_column,
                                    noise_threshold=noise_threshold, min_segments=min_segments)
