"""Probability calibration and the choice of a decision threshold.

* :class:`CalibratedHead` wraps any head: it fits the head on part of its training data and a Platt
  (``sigmoid``) or isotonic calibrator on the held-out rest — split by group
  (:func:`soundsort.dataset.splits.validation_split`), so segments of one recording never sit on both sides. It is a scikit-learn estimator, so CV, ensembles and saving work.
* :func:`brier_score` and :func:`reliability` measure calibration (the report draws the reliability
  diagram).
* :func:`choose_threshold` picks the binary decision threshold from a validation PR curve:
  ``optimize="f1"`` maximizes F1, ``"precision"`` maximizes F0.5 (precision weighs more), ``"recall"``
  maximizes F2 (recall weighs more); ``min_precision=P`` takes the threshold with the highest recall
  whose precision is at least P (``min_recall`` likewise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import precision_recall_curve

from soundsort.errors import ConfigError

METHODS = ("sigmoid", "isotonic")
OPTIMIZE = {"f1": 1.0, "precision": 0.5, "recall": 2.0}  # the beta of the F-score each choice maximizes


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


class CalibratedHead(ClassifierMixin, BaseEstimator):
    """``estimator`` fitted on ``1 - calibration_fraction`` of the data, calibrated on the rest.

    ``sigmoid`` is Platt scaling on the head's log-odds (one-vs-rest for several classes), the standard
    form, which can undo over- or under-confidence exactly; ``isotonic`` fits a monotone map of each
    class's probability. Rows are renormalized to sum to one.
    """

    def __init__(self, estimator: Any = None, *, method: str = "sigmoid", calibration_fraction: float = 0.25,
                 random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.method = method
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Heads saved before the parameter took scikit-learn's name held ``seed``: read it as ``random_state``."""
        state = dict(state)
        if "seed" in state:
            state.setdefault("random_state", state.pop("seed"))
        super().__setstate__(state)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> CalibratedHead:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        from soundsort.dataset.splits import validation_split
        from soundsort.models.fitting import fit_with_groups
        from soundsort.models.segments import proba_matrix

        if self.method not in METHODS:
            raise ConfigError(f"calibration method must be one of {', '.join(METHODS)}, got {self.method!r}")
        y = np.asarray(y)
        tr, cal = validation_split(y, groups, self.calibration_fraction, self.random_state)
        base = clone(self.estimator)
        fit_with_groups(base, X[tr], y[tr], None if groups is None else np.asarray(groups)[tr])
        self.estimator_ = base
        self.classes_ = np.asarray(base.classes_)
        p = proba_matrix(base, X[cal], len(self.classes_))
        yc = np.searchsorted(self.classes_, y[cal])
        columns = [1] if len(self.classes_) == 2 else range(len(self.classes_))
        self.calibrators_ = []
        for k in columns:
            target = (yc == k).astype(int)
            if target.min() == target.max():  # this class is absent (or alone) here: leave it as it is
                self.calibrators_.append(None)
            elif self.method == "sigmoid":
                lr = LogisticRegression(C=1e4, max_iter=1000)
                self.calibrators_.append(lr.fit(_log_odds(p[:, k])[:, None], target))
            else:
                self.calibrators_.append(IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1)
                                         .fit(p[:, k], target))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from soundsort.models.segments import proba_matrix

        p = proba_matrix(self.estimator_, X, len(self.classes_))
        out = p.copy()
        columns = [1] if len(self.classes_) == 2 else range(len(self.classes_))
        for k, c in zip(columns, self.calibrators_):
            if c is None:
                continue
            out[:, k] = c.predict_proba(_log_odds(p[:, k])[:, None])[:, 1] if self.method == "sigmoid" \
                else c.predict(p[:, k])
        if len(self.classes_) == 2:
            out[:, 0] = 1 - out[:, 1]
        else:
            out = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def brier_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Mean squared distance between the probability rows and the one-hot truth (0 is perfect).

    For two classes this is twice the usual binary Brier score of either class, as is customary for the
    multi-class definition; compare like with like.
    """
    proba = np.asarray(proba, dtype=float)
    onehot = np.eye(proba.shape[1])[np.asarray(y_true, dtype=int)]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def reliability(y_true: np.ndarray, proba: np.ndarray, *, n_bins: int = 10) -> dict[str, list[float]]:
    """Confidence vs accuracy of the top class, in equal-width confidence bins (reliability diagram).

    Returns ``{"confidence", "accuracy", "count"}`` per non-empty bin and the expected calibration error.
    """
    proba = np.asarray(proba, dtype=float)
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == np.asarray(y_true)).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, n_bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    ece = 0.0
    for b in range(n_bins):
        m = which == b
        if m.any():
            out["confidence"].append(float(conf[m].mean()))
            out["accuracy"].append(float(correct[m].mean()))
            out["count"].append(int(m.sum()))
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    out["ece"] = [float(ece)]
    return out


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, *, optimize: str | None = "f1",
                     min_precision: float | None = None, min_recall: float | None = None) -> dict[str, Any]:
    """The decision threshold on ``scores`` (positive-class probabilities) and its precision / recall.

    ``y_true`` is 1 for the positive class. With ``min_precision`` (or ``min_recall``) the constraint
    decides; otherwise ``optimize`` (``f1``, ``precision`` = F0.5, ``recall`` = F2).
    """
    y = np.asarray(y_true).astype(int)
    if y.min() == y.max():
        raise ConfigError("cannot choose a threshold: the validation data has only one class")
    prec, rec, thr = precision_recall_curve(y, np.asarray(scores, dtype=float))
    prec, rec = prec[:-1], rec[:-1]  # the last point has no threshold
    if min_precision is not None:
        ok = prec >= min_precision
        if not ok.any():
            raise ConfigError(f"no threshold reaches precision {min_precision} on the validation data "
                              f"(best {prec.max():.3f})")
        i = int(np.flatnonzero(ok)[np.argmax(rec[ok])])
        rule = f"min_precision={min_precision}"
    elif min_recall is not None:
        ok = rec >= min_recall
        i = int(np.flatnonzero(ok)[np.argmax(prec[ok])])
        rule = f"min_recall={min_recall}"
    else:
        if optimize not in OPTIMIZE:
            raise ConfigError(f"optimize must be one of {', '.join(OPTIMIZE)}, got {optimize!r}")
        b2 = OPTIMIZE[optimize] ** 2
        f = (1 + b2) * prec * rec / np.maximum(b2 * prec + rec, 1e-12)
        i = int(np.argmax(f))
        rule = f"max F{OPTIMIZE[optimize]:g} ({optimize})"
    return {"threshold": float(thr[i]), "precision": float(prec[i]), "recall": float(rec[i]), "rule": rule}
