"""Features of arrays and files, the feature cache's keys, and featurizers rebuilt from saved parameters."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from soundsort.audio.decode import load
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError
from soundsort.features.base import Featurizer, SegmentFeatures
from soundsort.features.registry import get_featurizer

__all__ = ["cache_params", "featurize_array", "featurize_file", "featurizer_from_params"]


def featurizer_from_params(params: Mapping[str, Any]) -> Featurizer:
    """Rebuild the featurizer a :meth:`Featurizer.params` dict describes (e.g. from a saved model).

    Raises :class:`ConfigError` when the name is unknown or the recorded ``version`` differs from the
    running code's (features computed by other code must not be mixed).
    """
    rest = dict(params)
    try:
        name = rest.pop("name")
    except KeyError:
        raise ConfigError("feature parameters name no feature set") from None
    version = rest.pop("version", None)
    feat = get_featurizer(name, **rest)
    running = feat.params().get("version")
    if version is not None and version != running:
        raise ConfigError(f"feature set {name!r} version {version} was recorded, the running code has {running}")
    return feat


def cache_params(featurizer: Featurizer) -> dict[str, Any]:
    """What keys a featurizer's cache entries: its ``params()`` and the librosa version computing them."""
    return {"featurizer": featurizer.params(), "librosa": _librosa_version()}


def _librosa_version() -> str:
    """librosa's version, read from its package metadata (importing librosa takes a second)."""
    from importlib import metadata

    try:
        return metadata.version("librosa")
    except metadata.PackageNotFoundError:  # e.g. run from a source tree: ask the module
        import librosa

        return librosa.__version__


def featurize_array(featurizer: Featurizer, y: np.ndarray) -> SegmentFeatures:
    """Features of mono ``y`` already at ``featurizer.sr``."""
    y = np.asarray(y, dtype=np.float32)
    return SegmentFeatures(featurizer.segment_vectors(y), featurizer.segment_times(len(y)))


def featurize_file(
    featurizer: Featurizer,
    path: str | os.PathLike[str],
    cache: FeatureCache | None = None,
) -> SegmentFeatures:
    """Decode ``path`` at the featurizer's rate and featurize it, answering from ``cache`` when it can.

    With a cache, a hit neither decodes nor computes. Decoding errors are
    :class:`~soundsort.errors.AudioError` (not cached). A featurizer with its own
    ``featurize_file(path, cache)`` method (a combination: one decode, a cache entry per member) does it.
    """
    own = getattr(featurizer, "featurize_file", None)
    if callable(own):
        return own(path, cache)

    def compute() -> dict[str, np.ndarray]:
        y, _ = load(path, featurizer.sr)
        got = featurize_array(featurizer, y)
        return {"values": got.values, "times": got.times}

    arrays = compute() if cache is None else cache.get_or_compute(path, cache_params(featurizer), compute)
    return SegmentFeatures(arrays["values"], arrays["times"])
