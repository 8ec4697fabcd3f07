"""The backbone contract: a pretrained network that turns audio into a sequence of embedding frames.

A backbone has a ``name``, the ``sr`` it needs, the ``hop_seconds`` between its embedding frames, an
embedding dimension ``dim``, and ``embed(y, sr) -> Embeddings``. It loads its model once and is safe to
call from many threads. Optionally it also reports (the built-ins all do):

* ``frame_geometry``: a :class:`FrameGeometry`, where its frames sit and what they see (long signals are
  then embedded in blocks that give the same frames as one pass);
* ``output_dims()`` and ``frame_outputs(y, sr) -> FrameOutputs``: every per-frame array one network pass
  gives (YAMNet's AudioSet ``scores``, musicnn's ``tags`` ...), beside the ``embedding``;
* ``batch_frame_outputs(signals, sr) -> list[FrameOutputs]``: the same for many short signals in one
  network run;
* ``evidence_at_frames``: ``True`` when a segment's prediction speaks for the mean centre of the frames
  pooled into it rather than for the segment's middle (YAMNet, whose frames sit off the middles of
  short segments).

Adding one = one module + one :func:`register_backbone` line in :mod:`soundsort.backbones`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from soundsort.registry import Registry

__all__ = [
    "BACKBONES", "Backbone", "Embeddings", "FrameGeometry", "FrameOutputs", "backbone_names", "get_backbone",
    "register_backbone",
]


@dataclass(frozen=True)
class Embeddings:
    """``values[T, D]`` embedding frames and ``times[T]`` (centre of each frame's window, seconds)."""

    values: np.ndarray
    times: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.times.ndim != 1 or len(self.values) != len(self.times):
            raise ValueError(f"Embeddings shape mismatch: values {self.values.shape}, times {self.times.shape}")


@dataclass(frozen=True)
class FrameOutputs:
    """Per-frame outputs of one backbone pass: ``times[T]`` (frame centres, seconds) and ``arrays[name][T, D]``."""

    times: np.ndarray
    arrays: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        for name, values in self.arrays.items():
            if np.ndim(values) != 2 or len(values) != len(self.times):
                raise ValueError(f"FrameOutputs shape mismatch: {name} {np.shape(values)}, times {np.shape(self.times)}")


@dataclass(frozen=True)
class FrameGeometry:
    """Where a backbone's frames are and what they see, in samples at the backbone's rate.

    Frame centres lie on a grid of multiples of ``hop`` plus a fixed offset, ``first_centre`` (the centre
    of the frame whose window starts at sample 0; default ``half_window``), and a frame's value depends
    only on samples within ``half_window`` of its centre (plus, for frames near either end, on where the
    signal ends). A backbone reports its own as its ``frame_geometry``.
    """

    hop: int
    half_window: int
    first_centre: int | None = None  # None: half_window (set in __post_init__)

    def __post_init__(self) -> None:
        if self.first_centre is None:
            object.__setattr__(self, "first_centre", self.half_window)


@runtime_checkable
class Backbone(Protocol):
    """What every backbone provides (the optional extras are in the module docstring)."""

    name: str
    sr: int
    hop_seconds: float
    dim: int

    def embed(self, y: np.ndarray, sr: int) -> Embeddings: ...


#: Every backbone: name → ``factory(**options) -> Backbone`` (creating one loads no model). Importing this
#: module runs ``soundsort/backbones/__init__.py`` first, which registers the built-ins.
BACKBONES: Registry[Callable[..., Backbone]] = Registry("backbone")


def register_backbone(name: str, factory: Callable[..., Backbone], description: str = "") -> None:
    """Make ``factory`` available as backbone ``name`` (e.g. for an embedding feature set)."""
    BACKBONES.register(name, factory, description)


def get_backbone(name: str, **kwargs: Any) -> Backbone:
    """Build the registered backbone ``name`` with ``kwargs`` (its options: threads, batch size ...)."""
    return BACKBONES.get(name)(**kwargs)


def backbone_names() -> list[str]:
    """Registered backbone names, sorted."""
    return BACKBONES.names()
