"""One backbone pass over a whole signal (in blocks when long) and over many short signals at once.

Long signals are embedded in blocks (:data:`BLOCK_SECONDS`, default 120 s of frame centres each) that
overlap by the backbones' receptive field and are aligned to their frame grid, so every frame is the
one a single pass over the whole signal would give (up to float rounding in batched inference) while
the backbone's intermediate arrays stay bounded. Backbones of unknown geometry are run in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soundsort.backbones.base import Backbone, Embeddings, FrameGeometry, FrameOutputs
from soundsort.errors import ConfigError

__all__ = [
    "BLOCK_SECONDS", "FrameGeometry", "FrameOutputs", "backbone_outputs", "batched_frames", "embed_signal",
    "frame_geometry", "run_backbone", "signal_outputs",
]

#: Frame centres per block when a long signal is embedded in blocks (seconds).
BLOCK_SECONDS = 120.0


def frame_geometry(backbone: Backbone) -> FrameGeometry | None:
    """The backbone's own :class:`~soundsort.backbones.base.FrameGeometry` (its ``frame_geometry``), else ``None``."""
    own = getattr(backbone, "frame_geometry", None)
    if callable(own):  # a backbone written for the older method form
        own = own()
    return own if isinstance(own, FrameGeometry) else None


def backbone_outputs(backbone: Backbone) -> dict[str, int]:
    """The per-frame arrays one pass of ``backbone`` gives, with their widths (its ``output_dims()``).

    YAMNet: ``embedding`` (1024) and ``scores`` (521 AudioSet class probabilities); musicnn: ``embedding``
    (200, the penultimate layer), ``tags`` (50 tag probabilities), ``max_pool`` and ``mean_pool`` (753, the
    mid-end features pooled over each patch). A backbone without ``output_dims()`` gives ``embedding`` only.
    """
    own = getattr(backbone, "output_dims", None)
    if callable(own):
        return {str(k): int(v) for k, v in own().items()}
    return {"embedding": int(backbone.dim)}


def run_backbone(backbone: Backbone, y: np.ndarray, names: Sequence[str] = ("embedding",)) -> FrameOutputs:
    """One pass of ``backbone`` over mono ``y`` (at its rate), keeping the arrays ``names`` (:func:`backbone_outputs`).

    ``("embedding",)`` alone is ``backbone.embed``; anything more is the backbone's ``frame_outputs``: one
    network run that gives them all.
    """
    sr = int(backbone.sr)
    wanted = list(dict.fromkeys(names))
    have = backbone_outputs(backbone)
    missing = [k for k in wanted if k not in have]
    if missing:
        raise ConfigError(f"backbone {backbone.name!r} gives no {', '.join(missing)} "
                          f"(it gives: {', '.join(have)})")
    if wanted == ["embedding"]:
        emb = backbone.embed(y, sr)
        return FrameOutputs(np.asarray(emb.times), {"embedding": emb.values})
    out = backbone.frame_outputs(y, sr)  # type: ignore[attr-defined]  (output_dims lists more than the embedding)
    return FrameOutputs(np.asarray(out.times), {k: out.arrays[k] for k in wanted})


def signal_outputs(backbone: Backbone, y: np.ndarray, names: Sequence[str] = ("embedding",), *,
                   block_seconds: float | None = BLOCK_SECONDS) -> FrameOutputs:
    """:func:`run_backbone` over mono ``y`` at the backbone's rate, in blocks when ``y`` is long.

    Block ``k`` owns the frames centred in ``[k B, (k + 1) B)`` (the first from -inf, the last to +inf,
    the last one 1 to 2 B long) and is run on ``[k B - M, (k + 1) B + M)``, where ``B`` and
    the margin ``M >= half_window`` are multiples of the geometry's hop: each block's frame grid is the
    global one, every owned frame sees all of its window, and the true signal end is seen by the
    blocks that reach it. Without a known geometry, or with ``block_seconds=None``, one pass. Every array
    of a frame comes from the same network run (one run per block).
    """
    sr = int(backbone.sr)
    y = np.asarray(y, dtype=np.float32)
    geom = frame_geometry(backbone)
    n = len(y)
    if geom is None or block_seconds is None or n == 0:
        return run_backbone(backbone, y, names)
    B = max(1, int(round(block_seconds * sr / geom.hop))) * geom.hop
    M = max(1, -(-geom.half_window // geom.hop)) * geom.hop
    K = n // B
    if K < 2 or M >= B:
        return run_backbone(backbone, y, names)
    values: dict[str, list[np.ndarray]] = {}
    times: list[np.ndarray] = []
    for k in range(K):
        start = max(0, k * B - M)
        stop = n if k == K - 1 else min(n, (k + 1) * B + M)
        out = run_backbone(backbone, y[start:stop], names)
        centres = np.rint(np.asarray(out.times, dtype=np.float64) * sr).astype(np.int64) + start
        keep = np.ones(len(centres), dtype=bool)
        if k > 0:
            keep &= centres >= k * B
        if k < K - 1:
            keep &= centres < (k + 1) * B
        for name, arr in out.arrays.items():
            values.setdefault(name, []).append(np.asarray(arr)[keep])
        times.append(centres[keep] / sr)
    return FrameOutputs(np.concatenate(times), {name: np.concatenate(parts) for name, parts in values.items()})


def embed_signal(backbone: Backbone, y: np.ndarray, *, block_seconds: float | None = BLOCK_SECONDS) -> Embeddings:
    """``backbone.embed`` of mono ``y`` at the backbone's rate, in blocks when ``y`` is long (:func:`signal_outputs`)."""
    out = signal_outputs(backbone, y, ("embedding",), block_seconds=block_seconds)
    return Embeddings(out.arrays["embedding"], out.times)


def batched_frames(backbone: Backbone, signals: Sequence[np.ndarray], names: Sequence[str]
                   ) -> list[FrameOutputs] | None:
    """:func:`run_backbone` of every signal, with one network run over all their patches together.

    Through the backbone's ``batch_frame_outputs`` (front end per signal, the patches concatenated, one
    batched run, split back); ``None`` for a backbone without one. Batching changes nothing but float
    rounding inside the network (YAMNet: nothing at all; musicnn: the last bit or so of a few outputs).
    """
    own = getattr(backbone, "batch_frame_outputs", None)
    if not callable(own):
        return None
    wanted = list(dict.fromkeys(names))
    got = own(list(signals), int(backbone.sr))
    return [FrameOutputs(np.asarray(f.times), {k: f.arrays[k] for k in wanted}) for f in got]
