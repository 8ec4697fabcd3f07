"""Classical heads as scikit-learn pipelines (scaling is a pipeline step, so it is fitted on train only).

Every model is built by name from a registry, so a new one plugs in with one :func:`register_model` call::

    register_model("knn", lambda seed, **kw: make_pipeline(StandardScaler(), KNeighborsClassifier(**kw)))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from soundsort.errors import ConfigError

ModelFactory = Callable[..., BaseEstimator]

_MODELS: dict[str, ModelFactory] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_model(name: str, factory: ModelFactory, description: str = "") -> None:
    """Make ``factory(seed=..., **params)`` available as model ``name``."""
    _MODELS[name] = factory
    _DESCRIPTIONS[name] = description


def model_names() -> list[str]:
    """Names of every registered model."""
    _register_builtin()
    return sorted(_MODELS)


def describe_model(name: str) -> str:
    _register_builtin()
    return _DESCRIPTIONS.get(name, "")


def make_model(name: str, *, seed: int = 0, n_jobs: int = 1, **params: Any) -> BaseEstimator:
    """Build an unfitted scikit-learn estimator for model ``name`` (see :func:`model_names`)."""
    _register_builtin()
    try:
        factory = _MODELS[name]
    except KeyError:
        from soundsort.suggest import unknown

        raise ConfigError(unknown("model", name, model_names())) from None
    return factory(seed=seed, n_jobs=n_jobs, **params)


def _scaled(est: BaseEstimator) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", est)])


def _logreg(seed: int = 0, n_jobs: int = 1, C: float = 1.0, max_iter: int = 3000,
            class_weight: str | None = "balanced") -> Pipeline:
    return _scaled(LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight, random_state=seed))


def _linear_svm(seed: int = 0, n_jobs: int = 1, C: float = 0.1, class_weight: str | None = "balanced") -> Pipeline:
    # LinearSVC has no probabilities: Platt scaling on internal folds gives them (needed for PR curves, averaging)
    svm = LinearSVC(C=C, class_weight=class_weight, random_state=seed, max_iter=20000)
    return _scaled(CalibratedClassifierCV(svm, method="sigmoid", cv=3))


def _rbf_svm(seed: int = 0, n_jobs: int = 1, C: float = 10.0, gamma: str | float = "scale",
             class_weight: str | None = "balanced") -> Pipeline:
    # Platt scaling on internal folds, then one SVC fitted on all the data (what probability=True did)
    svc = SVC(C=C, gamma=gamma, class_weight=class_weight, random_state=seed)
    return _scaled(CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False))


def _random_forest(seed: int = 0, n_jobs: int = 1, n_estimators: int = 400, max_features: str | float = "sqrt",
                   min_samples_leaf: int = 1, class_weight: str | None = "balanced") -> Pipeline:
    return _scaled(RandomForestClassifier(n_estimators=n_estimators, max_features=max_features,
                                          min_samples_leaf=min_samples_leaf, class_weight=class_weight,
                                          n_jobs=n_jobs, random_state=seed))


def _xgboost(seed: int = 0, n_jobs: int = 1, n_estimators: int = 300, max_depth: int = 4,
             learning_rate: float = 0.1, subsample: float = 0.8, colsample_bytree: float = 0.5) -> Pipeline:
    from xgboost import XGBClassifier

    return _scaled(XGBClassifier(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                                 subsample=subsample, colsample_bytree=colsample_bytree, tree_method="hist",
                                 n_jobs=n_jobs, random_state=seed, verbosity=0))


register_model("logreg", _logreg, "logistic regression (L2, balanced classes)")
register_model("linear-svm", _linear_svm, "linear SVM with Platt-scaled probabilities")
register_model("svm", _rbf_svm, "RBF-kernel SVM with probabilities")
register_model("random-forest", _random_forest, "random forest, 400 trees")
register_model("xgboost", _xgboost, "gradient-boosted trees (XGBoost, hist)")


_BUILTIN_LOADED = False


def _register_builtin() -> None:
    """Register soundsort's other heads too, on the first look-up: whoever builds models by name sees them all.

    Done at the first :func:`make_model` / :func:`model_names` / :func:`describe_model` call rather than at
    import, because those modules import this one for :func:`register_model`: importing any of them first
    must not run into a half-initialized module. (The package ``soundsort.models`` imports nothing itself,
    so that loading a saved linear head for ``classify`` needs neither scikit-learn nor PyTorch.)
    """
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    import soundsort.models.torch_heads  # noqa: F401  (registers mlp, attention)
    import soundsort.models.cnn  # noqa: F401  (registers cnn, yamnet-finetune, cnn-backbone)
    import soundsort.models.zeroshot  # noqa: F401  (registers score-threshold)
