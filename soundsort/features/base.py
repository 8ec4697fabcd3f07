"""The feature-set contract: :class:`Featurizer`, what it returns (:class:`SegmentFeatures`) and how it cuts.

A :class:`Featurizer` turns a mono signal already at its ``sr`` into one output per segment: a vector
``(n_segments, D)`` for the classical feature sets (``handcrafted``, ``mfcc``, the pooled embeddings) or an
image ``(n_segments, C, H, W)`` for the spectrogram sets (``mel``, ``stft``, ``multi_stft``, for CNNs).
Segments come from :func:`soundsort.audio.windows.segment_bounds` with the featurizer's :class:`Segmenting`
(``segment_seconds`` / ``hop_seconds`` / ``tail`` / ``min_tail_seconds``).

``params()`` is a JSON-able dict of everything that changes the output, plus ``name`` and a ``version``
integer (bumped when the code's output changes); it keys the feature cache and is what a saved model
records, so :func:`soundsort.features.extract.featurizer_from_params` can rebuild the same featurizer later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from soundsort.audio.windows import segment_bounds
from soundsort.errors import ConfigError

__all__ = ["SEGMENT_KEYS", "Featurizer", "SegmentFeatures", "Segmenting", "SegmentingFeaturizer"]

#: The four segmenting parameters, as :meth:`Featurizer.params` records them.
SEGMENT_KEYS = ("segment_seconds", "hop_seconds", "tail", "min_tail_seconds")


@runtime_checkable
class Featurizer(Protocol):
    """What every feature set provides (see the module docstring)."""

    name: str
    sr: int

    def params(self) -> dict[str, Any]:
        """JSON-able parameters that determine the output, including ``name`` and ``version``."""
        ...

    def feature_names(self) -> list[str]:
        """Column names of :meth:`segment_vectors` (empty for image featurizers)."""
        ...

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """One output per segment of mono ``y`` at :attr:`sr`: ``(n_segments, ...)`` float32."""
        ...

    def segment_times(self, n_samples: int) -> np.ndarray:
        """``(n_segments, 2)`` start / end seconds of the segments of a signal of ``n_samples``."""
        ...


@dataclass(frozen=True)
class SegmentFeatures:
    """A file's features: ``values[n_segments, ...]`` and ``times[n_segments, 2]`` (start, end seconds)."""

    values: np.ndarray
    times: np.ndarray

    def __post_init__(self) -> None:
        if self.times.ndim != 2 or self.times.shape[1] != 2 or len(self.values) != len(self.times):
            raise ValueError(f"SegmentFeatures shape mismatch: values {self.values.shape}, times {self.times.shape}")

    def __len__(self) -> int:
        return len(self.values)


def _positive_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return v


@dataclass(frozen=True, init=False)
class Segmenting:
    """How a feature set cuts a signal: ``segment_seconds`` windows every ``hop_seconds``, and the tail rule.

    Validated once here: both lengths positive finite numbers (stored as float), ``hop_seconds=None`` meaning
    ``segment_seconds``, ``tail`` ``"pad"`` or ``"drop"``, ``min_tail_seconds >= 0`` (see
    :func:`soundsort.audio.windows.segment_bounds`). Bad values are a :class:`ConfigError`.
    """

    segment_seconds: float
    hop_seconds: float
    tail: str
    min_tail_seconds: float

    def __init__(self, segment_seconds: float = 3.0, hop_seconds: float | None = None, tail: str = "pad",
                 min_tail_seconds: float = 1.0) -> None:
        seg = _positive_float("segment_seconds", segment_seconds)
        hop = seg if hop_seconds is None else _positive_float("hop_seconds", hop_seconds)
        if tail not in ("pad", "drop"):
            raise ConfigError(f"tail must be 'pad' or 'drop', got {tail!r}")
        try:
            min_tail = float(min_tail_seconds)
        except (TypeError, ValueError):
            raise ConfigError(f"min_tail_seconds must be a number, got {min_tail_seconds!r}") from None
        if not math.isfinite(min_tail) or min_tail < 0:
            raise ConfigError(f"min_tail_seconds must be >= 0, got {min_tail_seconds!r}")
        for key, value in zip(SEGMENT_KEYS, (seg, hop, tail, min_tail)):
            object.__setattr__(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """The four parameters by name (as ``params()`` records them)."""
        return {key: getattr(self, key) for key in SEGMENT_KEYS}

    def bounds(self, n_samples: int, sr: int) -> list[tuple[int, int]]:
        """Sample ranges of the segments of ``n_samples`` at ``sr`` (``end`` may pass ``n_samples``: a padded tail)."""
        return segment_bounds(int(n_samples), int(sr), self.segment_seconds, self.hop_seconds, tail=self.tail,
                              min_tail_seconds=self.min_tail_seconds)


class SegmentingFeaturizer:
    """Base class: holds the segmenting parameters and implements :meth:`segment_times`.

    Subclasses set ``name``, ``version``, ``sr`` and the four segment fields (:meth:`_use_segmenting` sets
    them from a validated :class:`Segmenting`), and implement :meth:`params`, :meth:`feature_names` and
    :meth:`segment_vectors`.
    """

    name: str = ""
    version: ClassVar[int] = 1
    sr: int
    segment_seconds: float
    hop_seconds: float
    tail: str
    min_tail_seconds: float

    def _use_segmenting(self, segmenting: Segmenting) -> None:
        """Take the four segment fields from ``segmenting``."""
        for key in SEGMENT_KEYS:
            setattr(self, key, getattr(segmenting, key))

    @property
    def segmenting(self) -> Segmenting:
        """The segment fields as one :class:`Segmenting` value."""
        return Segmenting(self.segment_seconds, self.hop_seconds, self.tail, self.min_tail_seconds)

    def bounds(self, n_samples: int) -> list[tuple[int, int]]:
        """Sample ranges of the segments (``end`` may pass ``n_samples`` for a padded tail)."""
        return segment_bounds(int(n_samples), self.sr, self.segment_seconds, self.hop_seconds,
                              tail=self.tail, min_tail_seconds=self.min_tail_seconds)

    def segment_times(self, n_samples: int) -> np.ndarray:
        """``(n_segments, 2)`` float64 start / end seconds; a padded tail's end is clipped to the signal's end."""
        b = self.bounds(n_samples)
        if not b:
            return np.zeros((0, 2), dtype=np.float64)
        arr = np.asarray(b, dtype=np.float64)
        arr[:, 1] = np.minimum(arr[:, 1], float(n_samples))
        return arr / float(self.sr)

    def _check_signal(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ConfigError(f"{self.name}: expected a mono signal (1-D), got shape {y.shape}")
        return y

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.params()}>"  # type: ignore[attr-defined]
