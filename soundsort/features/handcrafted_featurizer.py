"""Feature sets ``handcrafted`` and ``mfcc``: summary statistics of librosa frame features per segment.

The computation is :mod:`soundsort.features.handcrafted`; it (and librosa) is imported when one of these
feature sets is built, not when the package is: the embedding feature sets, and classify with the bundled
models, never need librosa.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from soundsort.features.base import SegmentingFeaturizer
from soundsort.features.registry import register_featurizer

if TYPE_CHECKING:
    from soundsort.features.handcrafted import HandcraftedConfig

__all__ = ["MFCC_BASELINE", "HandcraftedFeaturizer", "register_builtin"]


class HandcraftedFeaturizer(SegmentingFeaturizer):
    """Summary statistics of handcrafted frame features (and tempo) per segment; see :mod:`.handcrafted`."""

    version: ClassVar[int] = 1

    def __init__(self, config: HandcraftedConfig | None = None, *, name: str = "handcrafted") -> None:
        from soundsort.features.handcrafted import HandcraftedConfig

        self.config = config or HandcraftedConfig()
        self.name = name
        c = self.config
        self.sr = c.sr
        self.segment_seconds, self.hop_seconds = c.segment_seconds, c.hop_seconds
        self.tail, self.min_tail_seconds = c.tail, c.min_tail_seconds

    def params(self) -> dict[str, Any]:
        """``name``, ``version`` and every :class:`HandcraftedConfig` field."""
        return {"name": self.name, "version": self.version, **self.config.to_dict()}

    def feature_names(self) -> list[str]:
        """``mfcc_0_mean`` … (stat-major), then ``tempo`` when enabled."""
        from soundsort.features.handcrafted import segment_feature_names

        return segment_feature_names(self.config, self.sr)

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """``(n_segments, len(feature_names()))`` float32 summaries of mono ``y`` at :attr:`sr`."""
        from soundsort.features.handcrafted import segment_features

        X, _ = segment_features(self._check_signal(y), self.sr, self.config)
        return X



def _handcrafted(**overrides: Any) -> HandcraftedFeaturizer:
    from soundsort.features.handcrafted import HandcraftedConfig

    return HandcraftedFeaturizer(HandcraftedConfig.from_dict(overrides), name="handcrafted")


#: The study's baseline: 20 MFCC, mean and std per segment, nothing else.
MFCC_BASELINE = {"n_mfcc": 20, "deltas": False, "chroma": False, "contrast": False, "spectral": False,
                 "tempo": False, "stats": ("mean", "std")}


def _mfcc(**overrides: Any) -> HandcraftedFeaturizer:
    from soundsort.features.handcrafted import HandcraftedConfig

    return HandcraftedFeaturizer(HandcraftedConfig.from_dict({**MFCC_BASELINE, **overrides}), name="mfcc")


def register_builtin() -> None:
    """Register ``handcrafted`` and ``mfcc`` (:mod:`soundsort.features` does, on import)."""
    register_featurizer("handcrafted", _handcrafted, "librosa frame features (MFCC, deltas, chroma, contrast, "
                        "spectral, tempo) summarized per segment")
    register_featurizer("mfcc", _mfcc, "20 MFCC, mean and std per segment (the study's baseline)")
