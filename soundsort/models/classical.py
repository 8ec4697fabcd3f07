"""Classical heads as scikit-learn pipelines (scaling is a pipeline step, so it is fitted on train only).

Each factory takes ``random_state`` and ``n_jobs`` and the model's own parameters; they are registered by
name in :data:`soundsort.models.registry.MODELS` (build one with :func:`~soundsort.models.registry.make_model`).
"""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

__all__ = ["linear_svm", "logreg", "random_forest", "rbf_svm", "xgboost"]


def _scaled(est: Any) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", est)])


def logreg(random_state: int | None = 0, n_jobs: int | None = 1, C: float = 1.0, max_iter: int = 3000,
           class_weight: str | None = "balanced") -> Pipeline:
    """Scaling → L2 logistic regression (``n_jobs`` is unused: lbfgs runs on one core)."""
    return _scaled(LogisticRegression(C=C, max_iter=max_iter, class_weight=class_weight,
                                      random_state=random_state))


def linear_svm(random_state: int | None = 0, n_jobs: int | None = 1, C: float = 0.1,
               class_weight: str | None = "balanced") -> Pipeline:
    """Scaling → linear SVM with Platt-scaled probabilities on 3 internal folds."""
    # LinearSVC has no probabilities: Platt scaling on internal folds gives them (needed for PR curves, averaging)
    svm = LinearSVC(C=C, class_weight=class_weight, random_state=random_state, max_iter=20000)
    return _scaled(CalibratedClassifierCV(svm, method="sigmoid", cv=3))


def rbf_svm(random_state: int | None = 0, n_jobs: int | None = 1, C: float = 10.0, gamma: str | float = "scale",
            class_weight: str | None = "balanced") -> Pipeline:
    """Scaling → RBF-kernel SVM with Platt-scaled probabilities (5 internal folds, one final SVC)."""
    # Platt scaling on internal folds, then one SVC fitted on all the data (what probability=True did)
    svc = SVC(C=C, gamma=gamma, class_weight=class_weight, random_state=random_state)
    return _scaled(CalibratedClassifierCV(svc, method="sigmoid", cv=5, ensemble=False))


def random_forest(random_state: int | None = 0, n_jobs: int | None = 1, n_estimators: int = 400,
                  max_features: str | float = "sqrt", min_samples_leaf: int = 1,
                  class_weight: str | None = "balanced") -> Pipeline:
    """Scaling → random forest on ``n_jobs`` cores."""
    return _scaled(RandomForestClassifier(n_estimators=n_estimators, max_features=max_features,
                                          min_samples_leaf=min_samples_leaf, class_weight=class_weight,
                                          n_jobs=n_jobs, random_state=random_state))


def xgboost(random_state: int | None = 0, n_jobs: int | None = 1, n_estimators: int = 300, max_depth: int = 4,
            learning_rate: float = 0.1, subsample: float = 0.8, colsample_bytree: float = 0.5) -> Pipeline:
    """Scaling → XGBoost gradient-boosted trees (hist) on ``n_jobs`` threads."""
    from xgboost import XGBClassifier

    return _scaled(XGBClassifier(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                                 subsample=subsample, colsample_bytree=colsample_bytree, tree_method="hist",
                                 n_jobs=n_jobs, random_state=random_state, verbosity=0))
