"""Linear heads in plain numbers: the bundled models' fast path, evaluated in numpy, no scikit-learn.

``classify`` and ``predict`` spend nothing on the network's *head* (a few multiply-adds per segment), but
loading it through skops imports scikit-learn and every estimator skops knows, which took most of a
one-file run. So the heads that are linear (or thresholds) are also written as ``model.head.json`` beside
``model.skops``: plain JSON numbers, evaluated here with numpy in the same order of operations as
scikit-learn, so the probabilities are the same floats.

Exported (:func:`export_head`):

* ``Pipeline([StandardScaler(), LogisticRegression()])`` (the ``logreg`` model) and a bare
  ``LogisticRegression``: ``kind: "linear"``. Standardization as ``StandardScaler.transform`` does it (the
  mean and scale cast to the input's float type, subtract, divide), then ``X @ coef.T + intercept``, then
  softmax (several classes) or the logistic function of the one decision value (two classes);
* :class:`~soundsort.models.zeroshot.ScoreThresholdClassifier` (``score-threshold``): ``kind:
  "score-threshold"``, its column, threshold, mapping and sharpness (and, when set, its silence and noise
  columns and thresholds: which segments count towards a file's probability; and its ``min_segments``).

Everything else (SVMs, forests, boosted trees, calibrated or PyTorch heads) has no head file and loads
through skops as before. :func:`export_head` checks the head it made against the estimator on a probe
input and gives up (returns ``None``) unless the probabilities agree to the last float.

The head records the SHA-256 of the ``model.skops`` it was made from. :func:`soundsort.models.io.load_model`
with ``fast=True`` uses it only while ``model.skops`` still has that hash (a replaced ``model.skops`` is
loaded through skops, with skops' checks); nothing in it names code: a head file is numbers, a kind from
the two above and class indices, all checked here.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import ModelError

HEAD_FILE = "model.head.json"
HEAD_FORMAT = "soundsort-head"
HEAD_VERSION = 1
KINDS = ("linear", "score-threshold")
#: A head file larger than this is no head (the bundled genre head is ~0.5 MB).
MAX_HEAD_BYTES = 64 << 20

__all__ = ["HEAD_FILE", "LinearHead", "ScoreThresholdHead", "counted_rows", "export_head", "head_document",
           "read_head", "score_threshold_proba"]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Head:
    """What every head provides: ``classes_`` (class indices), ``n_features_in_``, probabilities, labels."""

    kind: str
    classes_: np.ndarray
    n_features_in_: int

    def _check_X(self, X: Any, dtype: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected feature vectors shaped (n, features), got {X.shape}")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the head expects {self.n_features_in_}")
        return X

    def predict_proba(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """The class (index) of highest probability per row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {len(self.classes_)} classes, {self.n_features_in_} features>"


class LinearHead(_Head):
    """Standardization (optional), a linear map and softmax / logistic: ``logreg``'s predictions, in numpy."""

    kind = "linear"

    def __init__(self, classes: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.classes_ = np.asarray(classes)
        self.coef_ = np.asarray(coef)  # float32 when fitted on float32 features, as scikit-learn keeps it
        self.intercept_ = np.asarray(intercept)
        self.mean_ = None if mean is None else np.asarray(mean)
        self.scale_ = None if scale is None else np.asarray(scale)
        self.n_features_in_ = int(self.coef_.shape[1])

    def decision_function(self, X: Any) -> np.ndarray:
        """``standardized(X) @ coef.T + intercept``: ``(n,)`` for two classes, ``(n, classes)`` otherwise."""
        X = self._check_X(X, None)
        # StandardScaler keeps float32 / float64 input as it is and makes everything else float64 (a copy)
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        X = np.array(X, dtype=dtype, copy=True)
        if not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity")
        if self.mean_ is not None:
            X -= self.mean_.astype(X.dtype)
            X /= self.scale_.astype(X.dtype)  # type: ignore[union-attr]
        scores = X @ self.coef_.T + self.intercept_
        return scores.reshape(-1) if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, classes)`` probabilities in ``classes_`` order."""
        d = self.decision_function(X)
        if d.ndim == 1:  # two classes: the logistic function of the one decision value
            from scipy.special import expit  # what scikit-learn uses; only binary linear heads need it

            p = expit(d)
            return np.stack([1 - p, p], axis=1)
        d -= d.max(axis=1).reshape(-1, 1)  # softmax, as scikit-learn computes it
        np.exp(d, out=d)
        d /= d.sum(axis=1).reshape(-1, 1)
        return d


def score_threshold_proba(score: np.ndarray, threshold: float, mapping: str, sharpness: float,
                          positive_index: int) -> np.ndarray:
    """The score-threshold rule's ``(n, 2)`` probabilities (positive class at ``positive_index``).

    ``"linear"``: piecewise linear, 0 at score 0, 0.5 at ``threshold``, 1 at score 1; ``"logistic"``:
    ``sigmoid(sharpness * (logit(score) - logit(threshold)))``. Scores are clipped to ``[0, 1]`` (and to
    ``[1e-6, 1 - 1e-6]`` for the log-odds). Shared by the estimator
    (:class:`~soundsort.models.zeroshot.ScoreThresholdClassifier`) and its numpy head, so both give the same bytes.
    """
    t = float(threshold)
    s = np.clip(score, 0.0, 1.0)
    if mapping == "logistic":
        eps = 1e-6  # keeps log-odds finite at scores of exactly 0 or 1
        s = np.clip(s, eps, 1.0 - eps)
        z = float(sharpness) * (np.log(s / (1.0 - s)) - np.log(t / (1.0 - t)))
        p = 1.0 / (1.0 + np.exp(-z))
    else:
        p = np.where(s < t, 0.5 * s / t, 0.5 + 0.5 * (s - t) / (1.0 - t))
    out = np.empty((len(s), 2), dtype=np.float64)
    out[:, positive_index] = p
    out[:, 1 - positive_index] = 1.0 - p
    return out


def counted_rows(X: np.ndarray, column: int, silence_column: int | None, silence_threshold: float,
                 noise_column: int | None, noise_threshold: float) -> np.ndarray:
    """The score-threshold rule's rows that count towards a file's probability, bool ``(n,)``: not silent
    (``X[:, silence_column] < silence_threshold``) and not noise-only (``X[:, noise_column]`` at least
    ``noise_threshold`` and above the score ``X[:, column]``). Shared by the estimator and its numpy head."""
    keep = np.ones(len(X), dtype=bool)
    if silence_column is not None:
        keep &= X[:, int(silence_column)] < silence_threshold
    if noise_column is not None:
        noise = X[:, int(noise_column)]
        keep &= ~((noise >= noise_threshold) & (noise > X[:, column]))
    return keep


class ScoreThresholdHead(_Head):
    """The zero-shot ``score-threshold`` rule (:class:`~soundsort.models.zeroshot.ScoreThresholdClassifier`)."""

    kind = "score-threshold"

    def __init__(self, classes: np.ndarray, n_features: int, column: int, threshold: float, mapping: str,
                 sharpness: float, positive_index: int, silence_column: int | None = None,
                 silence_threshold: float = 0.5, noise_column: int | None = None,
                 noise_threshold: float = 0.05, min_segments: int | None = None) -> None:
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = int(n_features)
        self.column, self.threshold, self.mapping = int(column), float(threshold), str(mapping)
        self.sharpness, self.positive_index_ = float(sharpness), int(positive_index)
        self.silence_column = None if silence_column is None else int(silence_column)
        self.silence_threshold = float(silence_threshold)
        self.noise_column = None if noise_column is None else int(noise_column)
        self.noise_threshold = float(noise_threshold)
        self.min_segments = None if min_segments is None else int(min_segments)

    def segment_counts(self, X: Any) -> np.ndarray:
        """Which rows count towards a file's probability (as the estimator's ``segment_counts``)."""
        X = np.asarray(self._check_X(X, None), dtype=np.float64)
        return counted_rows(X, self.column, self.silence_column, self.silence_threshold, self.noise_column,
                            self.noise_threshold)

    def score_column(self, X: Any) -> np.ndarray:
        X = np.asarray(self._check_X(X, None), dtype=np.float64)
        return X[:, self.column]

    def predict_proba(self, X: Any) -> np.ndarray:
        return score_threshold_proba(self.score_column(X), self.threshold, self.mapping, self.sharpness,
                                     self.positive_index_)

    def predict(self, X: Any) -> np.ndarray:
        hit = self.score_column(X) >= self.threshold
        return np.where(hit, self.classes_[self.positive_index_], self.classes_[1 - self.positive_index_])


# -------------------------------------------------------------------------------------------------- export


def _floats(a: Any) -> Any:
    """A float array as nested lists of Python floats (``json`` writes them exactly: repr round-trips; a
    float32 value is a float64 value exactly)."""
    return np.asarray(a).astype(np.float64).tolist()


def _dtype(a: Any) -> str:
    kind = np.asarray(a).dtype
    if kind not in (np.float32, np.float64):
        raise TypeError(kind)
    return str(kind)


def head_document(estimator: Any) -> dict[str, Any] | None:
    """The JSON document of ``estimator``'s head, or ``None`` when it is not one this module evaluates.

    Imports scikit-learn only to recognize the estimator's type (at training time).
    """
    cls = type(estimator).__name__
    mod = type(estimator).__module__
    if mod == "soundsort.models.zeroshot" and cls == "ScoreThresholdClassifier":
        if not hasattr(estimator, "classes_"):
            return None
        estimator._check_params()
        doc = {"kind": "score-threshold", "classes": np.asarray(estimator.classes_).tolist(),
               "n_features": int(estimator.n_features_in_), "column": int(estimator.column),
               "threshold": float(estimator.threshold), "mapping": str(estimator.mapping),
               "sharpness": float(estimator.sharpness), "positive_index": int(estimator.positive_index_)}
        for kind in ("silence", "noise"):  # absent in models saved before they existed
            col = getattr(estimator, f"{kind}_column", None)
            if col is not None:
                doc[f"{kind}_column"] = int(col)
                doc[f"{kind}_threshold"] = float(getattr(estimator, f"{kind}_threshold"))
        if getattr(estimator, "min_segments", None) is not None:
            doc["min_segments"] = int(estimator.min_segments)
        return doc
    if not mod.startswith("sklearn."):
        return None
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = None
    clf = estimator
    if type(estimator) is Pipeline:
        steps = [s for _, s in estimator.steps]
        if len(steps) != 2 or type(steps[0]) is not StandardScaler:
            return None
        scaler, clf = steps
        if not (scaler.with_mean and scaler.with_std) or getattr(scaler, "scale_", None) is None:
            return None
    if type(clf) is not LogisticRegression or not hasattr(clf, "coef_"):
        return None
    classes = np.asarray(clf.classes_)
    if classes.dtype.kind not in "iu":
        return None  # soundsort's models are fitted on class indices
    coef = np.asarray(clf.coef_, dtype=np.float64)
    if coef.ndim != 2 or (len(classes) == 2) != (coef.shape[0] == 1):
        return None
    arrays = {"coef": clf.coef_, "intercept": clf.intercept_}
    if scaler is not None:
        arrays.update(mean=scaler.mean_, scale=scaler.scale_)
    try:
        dtypes = {k: _dtype(v) for k, v in arrays.items()}
    except TypeError:
        return None
    # the memory order of coef_ decides how numpy's BLAS call sums a row (scikit-learn's multinomial coef_ is
    # a Fortran-ordered view): the head keeps it, so a single row's probabilities are the same floats too
    order = "F" if np.asarray(clf.coef_).flags.f_contiguous and not np.asarray(clf.coef_).flags.c_contiguous else "C"
    return {"kind": "linear", "classes": classes.tolist(), "n_features": int(coef.shape[1]),
            **{k: _floats(v) for k, v in arrays.items()}, "dtypes": dtypes, "coef_order": order}


def export_head(estimator: Any, skops_sha256: str, *, probe: np.ndarray | None = None) -> dict[str, Any] | None:
    """``estimator``'s head file contents (see the module docstring), or ``None``.

    The head is built from the document it will be read back from and compared with the estimator's
    ``predict_proba`` on ``probe`` (default: 64 seeded random rows, float32 and float64); any difference and
    there is no head.
    """
    doc = head_document(estimator)
    if doc is None:
        return None
    doc = {"format": HEAD_FORMAT, "version": HEAD_VERSION, **doc, "skops_sha256": skops_sha256}
    doc = json.loads(json.dumps(doc))  # exactly what a reader will get
    head = _build(doc, Path("."))
    rng = np.random.default_rng(0)
    n = head.n_features_in_
    probes = [probe] if probe is not None else [rng.standard_normal((64, n)).astype(np.float32),
                                               rng.random((64, n)), rng.random((64, n)).astype(np.float32),
                                               rng.standard_normal((1, n)).astype(np.float32),
                                               rng.standard_normal((3, n)).astype(np.float32), rng.random((1, n))]
    for X in probes:
        want = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        if not np.array_equal(head.predict_proba(X), want):
            return None
        counts = getattr(estimator, "segment_counts", None)
        if counts is not None and not np.array_equal(head.segment_counts(X), counts(X)):
            return None
    if getattr(head, "min_segments", None) != getattr(estimator, "min_segments", None):
        return None
    return doc


# -------------------------------------------------------------------------------------------------- read


def _problem(msg: str, folder: Path) -> ModelError:
    return ModelError(f"{HEAD_FILE}: {msg}", folder)


def _array(doc: dict[str, Any], key: str, shape: tuple[int, ...], folder: Path) -> np.ndarray:
    value = doc.get(key)
    dtypes = doc.get("dtypes")
    dtype = dtypes.get(key, "float64") if isinstance(dtypes, dict) else "float64"
    if dtype not in ("float32", "float64"):
        raise _problem(f"dtypes.{key}: must be float32 or float64, not {dtype!r}"[:120], folder)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _problem(f"{key}: must be numbers", folder) from None
    if arr.shape != shape:
        raise _problem(f"{key}: shape {arr.shape}, expected {shape}", folder)
    if not np.isfinite(arr).all():
        raise _problem(f"{key}: not finite", folder)
    out = arr.astype(dtype)
    if dtype == "float32" and not np.array_equal(out.astype(np.float64), arr):
        raise _problem(f"{key}: values that are not float32", folder)
    return out


def _int(doc: dict[str, Any], key: str, folder: Path) -> int:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _problem(f"{key}: must be an integer, not {v!r}"[:120], folder)
    return v


def _float(doc: dict[str, Any], key: str, folder: Path) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _problem(f"{key}: must be a number, not {v!r}"[:120], folder)
    return float(v)


def _build(doc: Any, folder: Path) -> LinearHead | ScoreThresholdHead:
    if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
        raise _problem("not a soundsort head file", folder)
    if doc.get("version") != HEAD_VERSION:
        raise _problem(f"head format {doc.get('version')!r} is not the one this soundsort reads ({HEAD_VERSION})",
                       folder)
    kind = doc.get("kind")
    if kind not in KINDS:
        raise _problem(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}"[:160], folder)
    classes = doc.get("classes")
    if (not isinstance(classes, list) or len(classes) < 2 or any(isinstance(c, bool) or not isinstance(c, int)
                                                                 for c in classes)
            or sorted(set(classes)) != classes or classes[0] < 0):
        raise _problem("classes: must be increasing class indices (two or more)", folder)
    n = _int(doc, "n_features", folder)
    if n < 1:
        raise _problem("n_features: must be positive", folder)
    k = len(classes)
    if kind == "score-threshold":
        column, t = _int(doc, "column", folder), _float(doc, "threshold", folder)
        mapping, sharp, pos = doc.get("mapping"), _float(doc, "sharpness", folder), _int(doc, "positive_index", folder)
        gates: dict[str, tuple[int | None, float]] = {}
        for kind, default in (("silence", 0.5), ("noise", 0.05)):
            gates[kind] = (None, default)
            if doc.get(f"{kind}_column") is not None:
                gates[kind] = (_int(doc, f"{kind}_column", folder), _float(doc, f"{kind}_threshold", folder))
        min_segments = None if doc.get("min_segments") is None else _int(doc, "min_segments", folder)
        if k != 2 or not -n <= column < n or not 0.0 < t < 1.0 or mapping not in ("linear", "logistic") \
                or sharp <= 0 or pos not in (0, 1) or any(c is not None and not -n <= c < n for c, _ in gates.values()) \
                or (min_segments is not None and min_segments < 1):
            raise _problem("score-threshold: parameters out of range", folder)
        return ScoreThresholdHead(np.asarray(classes), n, column, t, mapping, sharp, pos, *gates["silence"],
                                  *gates["noise"], min_segments)
    rows = 1 if k == 2 else k
    coef = _array(doc, "coef", (rows, n), folder)
    order = doc.get("coef_order", "C")
    if order not in ("C", "F"):
        raise _problem(f"coef_order: must be C or F, not {order!r}"[:120], folder)
    coef = np.asfortranarray(coef) if order == "F" else np.ascontiguousarray(coef)
    intercept = _array(doc, "intercept", (rows,), folder)
    mean = scale = None
    if doc.get("mean") is not None or doc.get("scale") is not None:
        mean, scale = _array(doc, "mean", (n,), folder), _array(doc, "scale", (n,), folder)
        if (scale == 0).any():
            raise _problem("scale: zero", folder)
    return LinearHead(np.asarray(classes), coef, intercept, mean, scale)


def read_head(folder: str | Path, n_labels: int) -> tuple[LinearHead | ScoreThresholdHead | None, str]:
    """The head in ``folder`` if it belongs to the folder's ``model.skops`` → ``(head, "")``.

    ``(None, reason)`` when there is no head file, or its recorded ``model.skops`` hash is not the file's (a
    replaced ``model.skops``: the caller loads that one through skops). A head file that is damaged or
    inconsistent is a :class:`~soundsort.errors.ModelError` naming the problem.
    """
    folder = Path(folder)
    path = folder / HEAD_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, "no head file"
    except OSError as exc:
        raise _problem(f"unreadable ({exc.strerror or exc})", folder) from None
    if size > MAX_HEAD_BYTES:
        raise _problem("too large for a head file", folder)
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        raise _problem("not valid JSON", folder) from None
    weights = folder / "model.skops"
    recorded = doc.get("skops_sha256") if isinstance(doc, dict) else None
    if weights.is_file() and recorded != sha256_file(weights):
        return None, "model.skops is not the one the head was made from"
    head = _build(doc, folder)
    if head.classes_[-1] >= n_labels:
        raise ModelError(f"model.json: labels: {n_labels} label(s) for a model of {int(head.classes_[-1]) + 1} "
                         "classes", folder)
    return head, ""
