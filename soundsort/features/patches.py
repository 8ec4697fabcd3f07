"""Feature set ``yamnet-patches``: YAMNet's own log-mel patches per segment, the input of ``yamnet-finetune``.

Per segment, ``(P, 96, 64)`` float32 patches of ``log(mel + 0.001)`` exactly as YAMNet computes them
(:mod:`soundsort.backbones.frontends`: 16 kHz, 25 ms frames every 10 ms, 64 HTK-mel bands 125-7500 Hz):
patch ``j`` of a segment starting at sample ``a`` covers 96 frames from sample ``a + j * 7680``, i.e. samples
``[a + 7680 j, a + 7680 j + 15600)`` (a patch is 0.96 s plus the last frame's 15 ms overhang, as in
YAMNet). ``P = 1 + floor((segment - 0.96 s) / 0.48 s)`` (at least 1): the patches YAMNet would place
inside the segment at its 0.48 s patch hop. The default, ``segment_seconds=0.96``, gives one patch per
segment, ``(n_segments, 1, 96, 64)``; ``hop_seconds`` (default: the segment length) sets the overlap,
0.48 gives YAMNet's own patch grid. Audio past the signal's end (a padded tail segment, or the overhang of
the last patch) is zeros, as YAMNet pads.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from soundsort.backbones import frontends
from soundsort.features.base import Segmenting, SegmentingFeaturizer
from soundsort.features.registry import register_featurizer

__all__ = ["YamnetPatchFeaturizer", "patches_per_segment", "register_builtin"]

_PATCH_SAMPLES = frontends.yamnet_min_samples()  # 15600: 96 frames of 400 samples every 160
_PATCH_SPAN = frontends.YAMNET_PATCH_FRAMES * frontends.YAMNET_HOP_LENGTH  # 15360 = 0.96 s


def _patch_hop() -> int:
    """YAMNet's patch hop in samples (7680 = 0.48 s), as its backbone's frame geometry says."""
    from soundsort.backbones.yamnet import YamnetBackbone  # imported on use: listing feature sets loads no backbone

    return YamnetBackbone.frame_geometry.hop


def patches_per_segment(segment_seconds: float) -> int:
    """``P``: YAMNet patches (0.96 s, every 0.48 s) that start inside a segment of this length and fit in it."""
    seg = int(round(float(segment_seconds) * frontends.YAMNET_SR))
    return 1 + max(0, (seg - _PATCH_SPAN) // _patch_hop())


class YamnetPatchFeaturizer(SegmentingFeaturizer):
    """YAMNet log-mel patches per segment: ``(n_segments, P, 96, 64)`` float32 (see the module docstring)."""

    version: ClassVar[int] = 1
    sr: int = frontends.YAMNET_SR

    def __init__(self, *, name: str = "yamnet-patches", segment_seconds: float = 0.96,
                 hop_seconds: float | None = None, tail: str = "pad", min_tail_seconds: float = 0.48) -> None:
        self.name = name
        self._use_segmenting(Segmenting(segment_seconds, hop_seconds, tail, min_tail_seconds))
        self.n_patches = patches_per_segment(self.segment_seconds)

    def params(self) -> dict[str, Any]:
        """``name``, ``version`` and the segmenting (the patch geometry is YAMNet's, fixed)."""
        return {"name": self.name, "version": self.version, "segment_seconds": self.segment_seconds,
                "hop_seconds": self.hop_seconds, "tail": self.tail, "min_tail_seconds": self.min_tail_seconds}

    def feature_names(self) -> list[str]:
        """Empty: the output is patches (images), not named columns."""
        return []

    def output_shape(self) -> tuple[int, int, int]:
        """``(P, 96, 64)``."""
        return self.n_patches, frontends.YAMNET_PATCH_FRAMES, frontends.YAMNET_N_MELS

    def patch_starts(self, n_samples: int) -> np.ndarray:
        """``(n_segments, P)`` first sample of every patch."""
        starts = np.array([a for a, _ in self.bounds(n_samples)], dtype=np.int64)
        return starts[:, None] + _patch_hop() * np.arange(self.n_patches, dtype=np.int64)[None, :]

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """``(n_segments, P, 96, 64)`` float32 log-mel patches of mono ``y`` at 16 kHz."""
        y = self._check_signal(y)
        starts = self.patch_starts(len(y))
        out = np.zeros((*starts.shape, *self.output_shape()[1:]), dtype=np.float32)
        if starts.size == 0:
            return out
        flat = starts.reshape(-1)
        need = int(flat.max()) + _PATCH_SAMPLES
        if need > len(y):
            y = np.concatenate([y, np.zeros(need - len(y), dtype=np.float32)])
        hop = frontends.YAMNET_HOP_LENGTH
        patches = out.reshape(-1, *out.shape[2:])
        if np.all(flat % hop == 0):  # on the frame grid: one log-mel of the signal, patches are slices of it
            log_mel = frontends.log_mel_spectrogram(y[:need])
            for i, s in enumerate(flat // hop):
                patches[i] = log_mel[s:s + frontends.YAMNET_PATCH_FRAMES]
        else:  # off the grid: each patch from its own samples (same computation, frame by frame)
            for i, s in enumerate(flat):
                patches[i] = frontends.log_mel_spectrogram(y[s:s + _PATCH_SAMPLES])
        return out


def _yamnet_patches(**overrides: Any) -> YamnetPatchFeaturizer:
    name = overrides.pop("name", "yamnet-patches")
    return YamnetPatchFeaturizer(name=name, **overrides)


def register_builtin() -> None:
    """Register ``yamnet-patches`` (:mod:`soundsort.features` does, on import)."""
    register_featurizer("yamnet-patches", _yamnet_patches, "YAMNet's own log-mel patches per segment "
                        "(input of yamnet-finetune)")
