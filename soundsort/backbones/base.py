"""The backbone contract: a pretrained network that turns audio into a sequence of embeddings.

A backbone has a ``name``, the ``sr`` it needs, the ``hop_seconds`` between its embedding
frames, an embedding dimension ``dim``, and ``embed(y, sr) -> Embeddings``. It loads its model once and
is safe to call from many threads. Adding one = one module + one :func:`register_backbone` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from soundsort.errors import ConfigError


@dataclass(frozen=True)
class Embeddings:
    """``values[T, D]`` embedding frames and ``times[T]`` (centre of each frame's window, seconds)."""

    values: np.ndarray
    times: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.times.ndim != 1 or len(self.values) != len(self.times):
            raise ValueError(f"Embeddings shape mismatch: values {self.values.shape}, times {self.times.shape}")


@runtime_checkable
class Backbone(Protocol):
    name: str
    sr: int
    hop_seconds: float
    dim: int

    def embed(self, y: np.ndarray, sr: int) -> Embeddings: ...


_REGISTRY: dict[str, Callable[..., Backbone]] = {}


def register_backbone(name: str, factory: Callable[..., Backbone]) -> None:
    """Make ``factory`` available as backbone ``name`` (e.g. for ``--features NAME``)."""
    _REGISTRY[name] = factory


def get_backbone(name: str, **kwargs) -> Backbone:
    """Build the registered backbone ``name``."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(sorted(_REGISTRY)) or 'none'}") from None
    return factory(**kwargs)


def backbone_names() -> list[str]:
    return sorted(_REGISTRY)
