"""One backbone pass over a whole signal (in blocks when long) and over many short signals at once.

Long signals are embedded in blocks (:data:`BLOCK_SECONDS`, default 120 s of frame centres each) that
overlap by the backbones' receptive field and are aligned to their frame grid, so every frame is the
one a single pass over the whole signal would give (up to float rounding in batched inference) while
the backbone's intermediate arrays stay bounded. Backbones of unknown geometry are run in one pass.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from soundsort.backbones.base import Backbone, Embeddings
from soundsort.errors import ConfigError

__all__ = [
    "BLOCK_SECONDS", "FrameGeometry", "FrameOutputs", "backbone_outputs", "batched_frames", "embed_signal",
    "frame_geometry", "run_backbone", "signal_outputs",
]

#: Frame centres per block when a long signal is embedded in blocks (seconds).
BLOCK_SECONDS = 120.0



@dataclass(frozen=True)
class FrameGeometry:
    """Where a backbone's frames are and what they see, in samples at the backbone's rate.

    Frame centres lie on a grid of multiples of ``hop`` plus a fixed offset (the grid starts at sample
    0), and a frame's value depends only on samples within ``half_window`` of its centre (plus, for
    frames near either end, on where the signal ends). A backbone may report its own by a
    ``frame_geometry()`` method.
    """

    hop: int
    half_window: int


def frame_geometry(backbone: Backbone) -> FrameGeometry | None:
    """The :class:`FrameGeometry` of the built-in backbones (or the backbone's own), else ``None``."""
    own = getattr(backbone, "frame_geometry", None)
    if callable(own):
        return own()
    ymod = sys.modules.get("soundsort.backbones.yamnet")  # a YamnetBackbone implies its module is loaded
    if ymod is not None and isinstance(backbone, ymod.YamnetBackbone):
        from soundsort.backbones import frontends as F

        # patch i spans samples [7680 i, 7680 i + 15600)
        return FrameGeometry(F.yamnet_patch_hop_samples(), -(-F.yamnet_min_samples() // 2))
    mmod = sys.modules.get("soundsort.backbones.musicnn")
    if mmod is not None and isinstance(backbone, mmod.MusicnnBackbone):
        # a patch starts every hop_frames STFT frames; frame f (centred) covers samples [256 f - 256, 256 f + 256)
        half = (mmod.PATCH_FRAMES // 2) * mmod.FFT_HOP + mmod.FFT_SIZE // 2
        return FrameGeometry(mmod.FFT_HOP * backbone.hop_frames, half)
    return None


@dataclass(frozen=True)
class FrameOutputs:
    """Per-frame outputs of one backbone pass: ``times[T]`` (frame centres, seconds) and ``arrays[name][T, D]``."""

    times: np.ndarray
    arrays: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        for name, values in self.arrays.items():
            if np.ndim(values) != 2 or len(values) != len(self.times):
                raise ValueError(f"FrameOutputs shape mismatch: {name} {np.shape(values)}, times {np.shape(self.times)}")


def _backbone_kind(backbone: Backbone) -> str | None:
    """``"yamnet"`` / ``"musicnn"`` for the built-in backbones (their modules are loaded if they exist)."""
    ymod = sys.modules.get("soundsort.backbones.yamnet")
    if ymod is not None and isinstance(backbone, ymod.YamnetBackbone):
        return "yamnet"
    mmod = sys.modules.get("soundsort.backbones.musicnn")
    if mmod is not None and isinstance(backbone, mmod.MusicnnBackbone):
        return "musicnn"
    return None


def backbone_outputs(backbone: Backbone) -> dict[str, int]:
    """The per-frame arrays one pass of ``backbone`` gives, with their widths.

    YAMNet: ``embedding`` (1024) and ``scores`` (521 AudioSet class probabilities); musicnn: ``embedding``
    (200, the penultimate layer), ``tags`` (50 tag probabilities), ``max_pool`` and ``mean_pool`` (753, the
    mid-end features pooled over each patch). A backbone may report its own with an ``output_dims()``
    method (and then computes them with ``frame_outputs(y, sr) -> FrameOutputs``); any other backbone gives
    ``embedding`` only.
    """
    own = getattr(backbone, "output_dims", None)
    if callable(own):
        return {str(k): int(v) for k, v in own().items()}
    kind = _backbone_kind(backbone)
    if kind == "yamnet":
        return {"embedding": int(backbone.dim), "scores": int(backbone.n_classes)}  # type: ignore[attr-defined]
    if kind == "musicnn":
        return {"embedding": int(backbone.dim), "tags": 50, "max_pool": 753, "mean_pool": 753}
    return {"embedding": int(backbone.dim)}


def run_backbone(backbone: Backbone, y: np.ndarray, names: Sequence[str] = ("embedding",)) -> FrameOutputs:
    """One pass of ``backbone`` over mono ``y`` (at its rate), keeping the arrays ``names`` (:func:`backbone_outputs`).

    ``("embedding",)`` alone is ``backbone.embed``; anything more is one network run that gives them all:
    YAMNet's ``embed_and_scores``, musicnn's ``analyze`` or the backbone's own ``frame_outputs``.
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
    own = getattr(backbone, "frame_outputs", None)
    kind = _backbone_kind(backbone)
    if callable(own):
        out = own(y, sr)
        times, arrays = out.times, out.arrays
    elif kind == "yamnet":
        emb, scores = backbone.embed_and_scores(y, sr)  # type: ignore[attr-defined]
        times, arrays = emb.times, {"embedding": emb.values, "scores": scores}
    else:  # musicnn (backbone_outputs lists nothing beyond the embedding for any other backbone)
        got = backbone.analyze(y, sr)  # type: ignore[attr-defined]
        times, arrays = got.times, {"embedding": got.penultimate, "tags": got.tags, "max_pool": got.max_pool,
                                    "mean_pool": got.mean_pool}
    return FrameOutputs(np.asarray(times), {k: arrays[k] for k in wanted})


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

    For the built-in backbones (front end per signal, the patches concatenated, one batched run, split back);
    ``None`` for any other backbone. Batching changes nothing but float rounding inside the network (YAMNet:
    nothing at all; musicnn: the last bit or so of a few outputs).
    """
    kind = _backbone_kind(backbone)
    sr = int(backbone.sr)
    wanted = list(dict.fromkeys(names))
    if kind == "yamnet":
        from soundsort.backbones import frontends as F

        patches = [backbone.patches(y, sr) for y in signals]  # type: ignore[attr-defined]
        scores, emb = backbone.run_patches(np.concatenate(patches))  # type: ignore[attr-defined]
        arrays = {"embedding": emb, "scores": scores}
        times = [F.yamnet_patch_times(len(p)) for p in patches]
    elif kind == "musicnn":
        made = [backbone.patches(y, sr) for y in signals]  # type: ignore[attr-defined]
        got = backbone.run_patches(np.concatenate([b for b, _ in made]))  # type: ignore[attr-defined]
        arrays = {"embedding": got["penultimate"], "tags": got["tags"], "max_pool": got["max_pool"],
                  "mean_pool": got["mean_pool"]}
        times = [t for _, t in made]
    else:
        return None
    out, start = [], 0
    for t in times:
        stop = start + len(t)
        out.append(FrameOutputs(np.asarray(t), {k: arrays[k][start:stop] for k in wanted}))
        start = stop
    return out

