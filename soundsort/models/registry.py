"""The model registry and the CNN-body registry (both :class:`soundsort.registry.Registry`).

``MODELS`` maps a model name to a factory ``factory(*, random_state, n_jobs, **params)`` of an unfitted
scikit-learn estimator; :func:`make_model` is the one call that builds a model by name::

    from soundsort.models.registry import MODELS, make_model

    MODELS.register("knn", lambda random_state=0, n_jobs=1, **kw: make_pipeline(
        StandardScaler(), KNeighborsClassifier(n_jobs=n_jobs, **kw)), "k nearest neighbours")
    est = make_model("knn", n_neighbors=5)

``CNN_BACKBONES`` maps a body name to ``factory(in_channels, *, pretrained=True, **params) ->
torch.nn.Module``; :func:`soundsort.models.torch.cnn.build_cnn_backbone` builds and checks one, and
the ``cnn-backbone`` model trains the study's head on it.

The built-ins are registered by the package's ``__init__`` (:mod:`soundsort.models`), which Python runs
before this module whenever it is imported; their factories import their modules only when called, so
``import soundsort.models`` (``classify``'s fast path) imports neither scikit-learn nor PyTorch. This
module imports nothing of the package: the modules that define the models import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from soundsort.registry import Registry

__all__ = ["CNN_BACKBONES", "MODELS", "CnnBackboneFactory", "ModelFactory", "make_model"]

ModelFactory = Callable[..., Any]  # (*, random_state, n_jobs, **params) -> unfitted estimator
CnnBackboneFactory = Callable[..., Any]  # (in_channels, *, pretrained=True, **params) -> torch.nn.Module

MODELS: Registry[ModelFactory] = Registry("model")
CNN_BACKBONES: Registry[CnnBackboneFactory] = Registry("CNN backbone")


def make_model(name: str, *, random_state: int | None = 0, n_jobs: int | None = 1, **params: Any) -> Any:
    """Build an unfitted scikit-learn estimator for model ``name`` (one of ``MODELS.names()``).

    ``random_state`` seeds it, ``n_jobs`` is the threads / processes it may use (-1: every core), and
    ``params`` are the model's own parameters. An unknown name is a :class:`~soundsort.errors.ConfigError`
    with suggestions. ``n_threads``, the neural heads' name for ``n_jobs`` before it took scikit-learn's,
    is still read from ``params`` (and wins over ``n_jobs``, as it did).
    """
    factory = MODELS.get(name)
    if "n_threads" in params:
        n_jobs = params.pop("n_threads")
    return factory(random_state=random_state, n_jobs=n_jobs, **params)
