"""Fitting a head with the recording groups of its rows, when it can use them.

The neural heads and :class:`~soundsort.models.calibration.CalibratedHead` take ``fit(X, y, groups=...)``
so that an internal split (early stopping, calibration) keeps each recording's segments on one side;
scikit-learn's classifiers take no groups. :func:`fit_with_groups` is the one place that tells them apart
(cross-validation, calibration and the workflows fit through it).
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["fit_with_groups", "takes_groups"]


def takes_groups(estimator: Any) -> bool:
    """Whether ``estimator.fit`` has a ``groups`` parameter."""
    try:
        return "groups" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False


def fit_with_groups(estimator: Any, X: Any, y: Any, groups: Any = None) -> Any:
    """``estimator.fit(X, y, groups=groups)`` when its ``fit`` takes groups and ``groups`` is given, else
    ``estimator.fit(X, y)``; returns what ``fit`` returns (the fitted estimator)."""
    if groups is not None and takes_groups(estimator):
        return estimator.fit(X, y, groups=groups)
    return estimator.fit(X, y)
