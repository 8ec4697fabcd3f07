"""Saving and loading models in a safe format.

A saved model is a folder::

    model.json    task, labels, featurizer name + parameters, model name + parameters, threshold,
                  library versions and the CPU's instruction-set level, metrics (the model card)
    model.skops   the fitted scikit-learn estimator, written with skops
    model.head.json   linear and threshold heads only: the same head as plain numbers
                  (:mod:`soundsort.models.linear_head`), so that ``classify`` / ``predict`` need
                  neither skops nor scikit-learn

Loading never unpickles: skops rebuilds objects from a declarative description and only types on
:data:`TRUSTED_TYPES` (plus skops' own defaults) are allowed. A file naming any other type is refused.
``load_model(folder, fast=True)`` returns the head of ``model.head.json`` instead while it was made from
the folder's ``model.skops`` (same SHA-256); its probabilities are the estimator's, to the last float.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from soundsort import system
from soundsort.atomic import atomic_open, write_json
from soundsort.errors import ModelError

FORMAT_VERSION = 1

#: Types beyond skops' defaults that soundsort's own models contain. Nothing else loads.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._IsotonicCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.tree._tree.Tree",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    # soundsort's PyTorch heads: their state is plain values and numpy arrays, no torch objects
    "soundsort.models.torch.heads.MLPClassifier",
    "soundsort.models.torch.heads.AttentionConv1DClassifier",
    "soundsort.models.torch.cnn.SpectrogramCNNClassifier",
    "soundsort.models.torch.cnn.YamnetFinetuneClassifier",
    "soundsort.models.torch.cnn.BackboneCNNClassifier",
    # the same classes under the paths model files saved before the move name (modules kept for them)
    "soundsort.models.torch_heads.MLPClassifier",
    "soundsort.models.torch_heads.AttentionConv1DClassifier",
    "soundsort.models.cnn.SpectrogramCNNClassifier",
    "soundsort.models.cnn.YamnetFinetuneClassifier",
    "soundsort.models.cnn.BackboneCNNClassifier",
    "soundsort.models.calibration.CalibratedHead",
    # the zero-shot threshold: two numbers, the classes and an index
    "soundsort.models.zeroshot.ScoreThresholdClassifier",
})

_VERSIONED = ("soundsort", "numpy", "scipy", "librosa", "scikit-learn", "xgboost-cpu", "skops", "soundfile", "soxr",
              "onnx", "onnxruntime", "torch")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's numbers, and the CPU they ran on.

    Besides the libraries (those not installed are left out; torch is never imported for this), ``cpu``
    is the instruction-set level (e.g. ``x86-64 AVX2``) and ``cpu_model`` the processor's name: see
    :func:`soundsort.system.environment`.
    """
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    for key, value in system.environment().items():
        out.setdefault(key, value)
    return out


@dataclass
class ModelCard:
    """Everything needed to use a model correctly, and to judge it."""

    task: str  # "music" (binary) or "genre" (multi-class) or any user task name
    labels: list[str]  # class index → name
    featurizer: str
    featurizer_params: dict[str, Any]
    model: str
    model_params: dict[str, Any] = field(default_factory=dict)
    positive_label: str | None = None  # binary tasks: the label whose probability is thresholded
    threshold: float = 0.5
    aggregation: str = "mean"  # how segment probabilities become a file's
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    versions: dict[str, str] = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def save_model(folder: str | Path, estimator: Any | None, card: ModelCard, *, overwrite: bool = False) -> Path:
    """Write ``estimator`` and its card into ``folder``; refuses to replace an existing model unless asked."""
    import skops.io as sio

    folder = Path(folder)
    if (folder / "model.json").exists() and not overwrite:
        raise ModelError("a model already exists here (use --overwrite to replace it)", folder)
    folder.mkdir(parents=True, exist_ok=True)
    head = None
    if estimator is not None:  # an ensemble's top folder has no weights of its own, only members
        import hashlib

        from soundsort.models.linear_head import export_head

        data = sio.dumps(estimator)
        with atomic_open(folder / "model.skops", "wb") as fh:
            fh.write(data)
        head = export_head(estimator, hashlib.sha256(data).hexdigest())
    _write_head(folder, head)
    write_json(folder / "model.json", asdict(card))
    return folder


def _write_head(folder: Path, head: dict[str, Any] | None) -> None:
    """Write ``model.head.json`` (compact JSON), or remove one an earlier model left when there is none."""
    from soundsort.models.linear_head import HEAD_FILE

    path = folder / HEAD_FILE
    if head is None:
        path.unlink(missing_ok=True)
        return
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(head, fh, separators=(",", ":"))
        fh.write("\n")


def is_ensemble(card: ModelCard) -> bool:
    """True for an ensemble folder (its members are sub-folders named in ``model_params['members']``)."""
    return card.model.startswith("ensemble")


def load_card(folder: str | Path) -> ModelCard:
    """Read a model folder's ``model.json``, validated against the card schema (see
    :mod:`soundsort.models.card_schema`): a wrong field is one line naming it."""
    from soundsort.models.card_schema import read_card

    folder = Path(folder)
    path = folder / "model.json"
    if not path.is_file():
        raise ModelError("not a soundsort model folder (model.json missing)", folder)
    return ModelCard.from_dict(read_card(path, folder, FORMAT_VERSION))


def _check_classes(estimator: Any, card: ModelCard, folder: Path) -> None:
    """The estimator's class indices must all have a label (a card with fewer labels than classes is wrong)."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return
    try:
        idx = [int(c) for c in classes]
    except (TypeError, ValueError):
        raise ModelError("model.skops: the model's classes are not class indices", folder) from None
    if idx and (min(idx) < 0 or max(idx) >= len(card.labels)):
        raise ModelError(f"model.json: labels: {len(card.labels)} label(s) for a model of {max(idx) + 1} classes",
                         folder)


def load_model(folder: str | Path, *, fast: bool = False) -> tuple[Any, ModelCard]:
    """Load a model folder → ``(estimator, card)`` without unpickling anything.

    For an ensemble the estimator is None: load each member folder in turn. With ``fast``, a folder with a
    ``model.head.json`` made from its ``model.skops`` gives that head (numpy only; same ``predict_proba``,
    ``classes_``); any other folder loads through skops.
    """
    folder = Path(folder)
    card = load_card(folder)
    if is_ensemble(card):
        return None, card
    if fast:
        from soundsort.models.linear_head import read_head

        head, _ = read_head(folder, len(card.labels))
        if head is not None:
            return head, card
    import skops.io as sio

    weights = folder / "model.skops"
    if not weights.is_file():
        raise ModelError("model.skops missing", folder)
    try:
        raw = weights.read_bytes()
        untrusted = set(sio.get_untrusted_types(data=raw))
    except Exception as exc:
        raise ModelError(f"model.skops is damaged ({type(exc).__name__}: {exc})", folder) from None
    refused = sorted(untrusted - TRUSTED_TYPES)
    if refused:
        raise ModelError(f"model.skops contains types soundsort does not trust: {', '.join(refused)}", folder)
    try:
        estimator = sio.loads(raw, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelError(f"model.skops could not be loaded ({type(exc).__name__}: {exc})", folder) from None
    _check_classes(estimator, card, folder)
    return estimator, card


def check_featurizer(card: ModelCard, name: str, params: dict[str, Any], folder: str | Path | None = None) -> None:
    """Refuse to use a model with features computed another way than it was trained on."""
    params = json.loads(json.dumps(params))  # tuples → lists, as stored in model.json
    if card.featurizer != name:
        raise ModelError(f"model was trained on features {card.featurizer!r}, not {name!r}", folder)
    diff = sorted(k for k in set(card.featurizer_params) | set(params)
                  if card.featurizer_params.get(k) != params.get(k))
    if diff:
        detail = ", ".join(f"{k}={card.featurizer_params.get(k)!r} vs {params.get(k)!r}" for k in diff[:4])
        raise ModelError(f"feature configuration differs from the model's ({detail})", folder)
