"""Segment vectors of many short signals at once: each backbone run once over all of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soundsort.features.base import Featurizer
from soundsort.features.combined import CombinedFeaturizer
from soundsort.features.embeddings import EmbeddingFeaturizer
from soundsort.features.frames import batched_frames, frame_geometry

__all__ = ["segment_vectors_batch"]


def segment_vectors_batch(featurizer: Featurizer, signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[featurizer.segment_vectors(y) for y in signals]``, running each backbone once over all of them.

    For short signals (one backbone pass each, no blocks: classify's 3 s genre windows) of an
    :class:`EmbeddingFeaturizer` or a :class:`CombinedFeaturizer` of them at one sample rate; anything else is
    computed signal by signal. The values are each signal's own (up to the network's float rounding in a
    batch, see :func:`batched_frames`).
    """
    signals = [np.asarray(y, dtype=np.float32) for y in signals]
    if not signals:
        return []
    members = featurizer.members if isinstance(featurizer, CombinedFeaturizer) else [featurizer]
    batchable = all(isinstance(m, EmbeddingFeaturizer) and int(m.sr) == int(featurizer.sr)
                    for m in members)
    if batchable:
        for m in members:
            geom = frame_geometry(m.backbone)
            if geom is None or m.block_seconds is None:
                continue
            B = max(1, int(round(m.block_seconds * m.sr / geom.hop))) * geom.hop
            if any(len(y) // B >= 2 for y in signals):  # would be embedded in blocks
                batchable = False
    if not batchable:
        return [featurizer.segment_vectors(y) for y in signals]
    parts: list[list[np.ndarray]] = [[] for _ in signals]
    for m in members:
        checked = [m._check_signal(y) for y in signals]
        live = [i for i, y in enumerate(checked) if m.bounds(len(y)) and len(y)]
        frames = batched_frames(m.backbone, [checked[i] for i in live], m.frame_arrays()) if live else []
        if frames is None:
            vectors = [m.segment_vectors(y) for y in checked]
        else:
            vectors = [np.zeros((0, *m.output_shape()), dtype=np.float32) for _ in checked]
            for i, fr in zip(live, frames):
                vectors[i] = m.pool_outputs(fr, len(checked[i]))
        for i, v in enumerate(vectors):
            parts[i].append(np.asarray(v, dtype=np.float32))
    if not isinstance(featurizer, CombinedFeaturizer):
        return [p[0] for p in parts]
    out = []
    for p in parts:
        k = min(len(v) for v in p)
        out.append(np.concatenate([v[:k] for v in p], axis=1))
    return out

