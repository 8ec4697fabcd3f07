"""Feature sets from pretrained audio embeddings, and combinations of feature sets.

:class:`EmbeddingFeaturizer` runs a backbone (:mod:`soundsort.backbones`: ``yamnet``, ``yamnet-q``,
``musicnn-msd``, ``musicnn-mtt``) once over the whole 16 kHz signal and pools the embedding frames
whose *centre* falls inside each segment (the segments of :func:`soundsort.audio.windows.segment_bounds`,
exactly as the handcrafted feature sets cut them; a padded tail segment only counts real audio):

* ``"mean"``: the frames' mean, ``(n_segments, D)``;
* ``"mean_std"``: mean then standard deviation (ddof 0), ``(n_segments, 2 D)``;
* ``"sequence"``: ``sequence_frames`` (T) frames per segment, ``(n_segments, T, D)``: frame ``j`` is the
  embedding frame whose centre is nearest to the time ``start + (j + 1/2) * segment / T``, among the
  frames centred on real audio. Where the backbone's frame rate is T per segment this takes the
  segment's own frames; elsewhere it resamples them (nearest neighbour); a tail past the end of the
  audio repeats the last frame (edge padding, never zeros).

A segment that no frame is centred in (a short tail, or segments shorter than the backbone's hop) takes
the frame nearest to the middle of its real audio.

Long signals are embedded in blocks (:data:`BLOCK_SECONDS`, default 120 s of frame centres each) that
overlap by the backbones' receptive field and are aligned to their frame grid, so every frame is the
one a single pass over the whole signal would give (up to float rounding in batched inference) while
the backbone's intermediate arrays stay bounded. Backbones of unknown geometry are run in one pass.

The registered feature sets (see :func:`register_builtin`): ``yamnet``, ``yamnet-q``, ``musicnn-msd``,
``musicnn-mtt``, all ``"mean"`` pooled by default, and ``yamnet-seq`` (4.8 s segments as ``(10, 1024)``
sequences, YAMNet's 0.48 s frames, for the attention head). Why ``"mean"``: on GTZAN-mini genres and
music / speech / ESC-10, a logistic regression on ``"mean_std"`` YAMNet segments was no better than on
``"mean"`` (0.840 vs 0.844 segment accuracy, 10 genres; 0.993 vs 0.995, music / non-music; grouped
5-fold, 3 repeats) at twice the width; and with musicnn's default 3 s patch hop a 3 s segment holds one
patch, so its standard deviation is all zeros. ``pooling="mean_std"`` stays available.

What the networks already know: ``outputs`` picks what a segment's vector holds, in order, all computed
from the **same single network pass** (YAMNet's ``embed_and_scores``, musicnn's ``analyze``; one run per
block of a long signal): ``"embedding"`` (the default), YAMNet's 521 AudioSet class ``"scores"`` and their
compact ``"music"`` summary (:mod:`soundsort.features.scores`), musicnn's 50 ``"tags"`` and its mid-end
``"max_pool"`` / ``"mean_pool"`` (753 each). Scores and tags are pooled over the same frames as the
embedding, with the statistics ``score_stats`` (``"mean"``, ``"max"``); the mid-end outputs with
``pooling``. Registered: ``yamnet-music`` (the 9-column summary), ``yamnet-scores`` (521 means then 521
maxima), ``musicnn-msd-tags`` / ``musicnn-mtt-tags`` (50 means; ``score_stats=["mean", "max"]`` adds the
maxima), ``musicnn-msd-maxpool`` / ``musicnn-mtt-maxpool`` (753 means); e.g.
``get_featurizer("yamnet-music", outputs=["embedding", "music"])`` puts the 1024-d embedding first. A
combination of sets on one backbone (``yamnet+yamnet-music``) also runs it once, and caches each member
under its own parameters.

:class:`CombinedFeaturizer` (``get_featurizer("yamnet+musicnn-msd+handcrafted")``) concatenates the
segment vectors of vector feature sets that share one segmenting. :meth:`CombinedFeaturizer.featurize_file`
decodes a file once, resamples it once per member rate (bit-identical to decoding at that rate) and
reads / writes each member's features in the feature cache under the member's own parameters, so a
combination reuses what its members computed alone, and the other way round.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from soundsort.audio.resample import StreamResampler, resample
from soundsort.backbones.base import Backbone, Embeddings, get_backbone
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError
from soundsort.features.registry import (
    Featurizer,
    SegmentFeatures,
    SegmentingFeaturizer,
    cache_params,
    featurizer_from_params,
    register_featurizer,
)
from soundsort.features.scores import MUSIC_SUMMARY, MUSIC_SUMMARY_VERSION, N_AUDIOSET, music_summary, slug

__all__ = [
    "BLOCK_SECONDS", "EMBEDDING_FEATURE_SETS", "OUTPUTS", "POOLINGS", "SCORE_STATS", "CombinedFeaturizer",
    "EmbeddingFeaturizer", "FrameGeometry", "FrameOutputs", "backbone_outputs", "combined_featurizer",
    "embed_signal", "embedding_factory", "frame_geometry", "pool_frames", "pool_stats", "register_builtin",
    "resampled_length", "run_backbone", "segment_frame_ranges", "segment_vectors_batch", "signal_outputs",
]

POOLINGS = ("mean", "mean_std", "sequence")

#: What an :class:`EmbeddingFeaturizer` can emit per segment, all from one network pass (module docstring).
OUTPUTS = ("embedding", "scores", "music", "tags", "max_pool", "mean_pool")

#: Statistics over a segment's frames for the class / tag score outputs (``"scores"``, ``"tags"``).
SCORE_STATS = ("mean", "max")

#: Outputs pooled with :data:`SCORE_STATS` (probabilities: their maximum is evidence, their spread is not).
_SCORE_OUTPUTS = ("scores", "tags")

#: Frame centres per block when a long signal is embedded in blocks (seconds).
BLOCK_SECONDS = 120.0

#: Backbone options that change a backbone's output, with the backbone's defaults (recorded in params()).
_OUTPUT_OPTIONS: dict[str, dict[str, Any]] = {
    "yamnet": {},
    "yamnet-q": {},
    "musicnn-msd": {"hop_frames": 187, "cover_tail": True},
    "musicnn-mtt": {"hop_frames": 187, "cover_tail": True},
}

SEGMENT_KEYS = ("segment_seconds", "hop_seconds", "tail", "min_tail_seconds")


# --------------------------------------------------------------------------------------------------
# embedding a whole signal (in blocks when long)


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


# --------------------------------------------------------------------------------------------------
# pooling


def pool_frames(
    values: np.ndarray,
    centres: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    n_samples: int,
    pooling: str,
    sequence_frames: int | None = None,
) -> np.ndarray:
    """Pool embedding frames ``values[T, D]`` (centres in samples, ascending) into one output per segment.

    ``bounds`` are the segments' sample ranges (``end`` may pass ``n_samples``); see the module
    docstring for the three poolings. Returns float32 ``(S, D)``, ``(S, 2 D)`` or ``(S, T, D)``.
    """
    values = np.asarray(values, dtype=np.float32)
    centres = np.asarray(centres, dtype=np.float64)
    n_frames, dim = values.shape
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if pooling == "sequence":
        if not sequence_frames or sequence_frames < 1:
            raise ConfigError("sequence pooling needs sequence_frames >= 1")
        out = np.zeros((len(bounds), sequence_frames, dim), dtype=np.float32)
    else:
        out = np.zeros((len(bounds), dim * (2 if pooling == "mean_std" else 1)), dtype=np.float32)
    if not len(bounds):
        return out
    if n_frames == 0:
        raise ValueError("no embedding frames to pool")

    def nearest(cand: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Index into ``cand`` (ascending) of the nearest centre to each target (ties: the earlier)."""
        pos = np.clip(np.searchsorted(cand, targets), 1, max(1, len(cand) - 1))
        if len(cand) == 1:
            return np.zeros(len(targets), dtype=np.int64)
        left = cand[pos - 1]
        right = cand[pos]
        return np.where(targets - left <= right - targets, pos - 1, pos)

    if pooling == "sequence":
        real = int(np.searchsorted(centres, n_samples, side="left"))  # frames centred on real audio
        cand_n = real if real > 0 else n_frames
        cand = centres[:cand_n]
        T = sequence_frames
        for i, (a, b) in enumerate(bounds):
            targets = a + (np.arange(T) + 0.5) * ((b - a) / T)
            out[i] = values[nearest(cand, targets)]
        return out

    for i, (lo, hi) in enumerate(segment_frame_ranges(centres, bounds, n_samples)):
        chunk = values[lo:hi]
        mean = chunk.mean(axis=0, dtype=np.float64)
        if pooling == "mean":
            out[i] = mean
        else:
            out[i, :dim] = mean
            out[i, dim:] = chunk.std(axis=0, dtype=np.float64)
    return out


def segment_frame_ranges(centres: np.ndarray, bounds: Sequence[tuple[int, int]], n_samples: int) -> np.ndarray:
    """``(S, 2)`` frame index ranges ``[lo, hi)`` that a vector pooling of each segment uses.

    The frames centred (``centres`` in samples, ascending, at least one) in ``[start, min(end, n_samples))``;
    where there is none, the one frame nearest the middle of the segment's real audio (ties: the earlier).
    """
    centres = np.asarray(centres, dtype=np.float64)
    out = np.zeros((len(bounds), 2), dtype=np.int64)
    if not len(bounds):
        return out
    if len(centres) == 0:
        raise ValueError("no embedding frames to pool")
    for i, (a, b) in enumerate(bounds):
        stop = min(b, n_samples)
        lo = int(np.searchsorted(centres, a, side="left"))
        hi = int(np.searchsorted(centres, stop, side="left"))
        if hi <= lo:
            mid = (a + stop) / 2.0
            pos = int(np.clip(np.searchsorted(centres, mid), 1, max(1, len(centres) - 1)))
            if len(centres) == 1:
                lo = 0
            else:
                lo = pos - 1 if mid - centres[pos - 1] <= centres[pos] - mid else pos
            hi = lo + 1
        out[i] = lo, hi
    return out


def pool_stats(
    values: np.ndarray,
    centres: np.ndarray,
    bounds: Sequence[tuple[int, int]],
    n_samples: int,
    stats: Sequence[str] = SCORE_STATS,
) -> np.ndarray:
    """Statistics of frames ``values[T, D]`` per segment (the frames of :func:`segment_frame_ranges`).

    ``stats`` from :data:`SCORE_STATS`, stat-major: ``(S, len(stats) * D)`` float32 (means in float64).
    """
    values = np.asarray(values, dtype=np.float32)
    unknown = [s for s in stats if s not in SCORE_STATS]
    if unknown or not len(stats):
        raise ConfigError(f"score statistics must be some of {', '.join(SCORE_STATS)}, got {list(stats)!r}")
    dim = values.shape[1]
    out = np.zeros((len(bounds), len(stats) * dim), dtype=np.float32)
    for i, (lo, hi) in enumerate(segment_frame_ranges(centres, bounds, n_samples)):
        chunk = values[lo:hi]
        for k, stat in enumerate(stats):
            out[i, k * dim:(k + 1) * dim] = chunk.mean(axis=0, dtype=np.float64) if stat == "mean" else chunk.max(0)
    return out


# --------------------------------------------------------------------------------------------------
# the embedding featurizer


def _positive_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return v


def _names_tuple(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    """``value`` (a name or a sequence of names, as ``params()`` / JSON give them) as a checked tuple."""
    items = (value,) if isinstance(value, str) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ConfigError(f"{name} must be a list of names, got {value!r}") from None
    bad = [v for v in items if v not in allowed]
    if not items or bad or len(set(items)) != len(items):
        raise ConfigError(f"{name} must be distinct names from {', '.join(allowed)}, got {list(items)!r}")
    return items


class EmbeddingFeaturizer(SegmentingFeaturizer):
    """Pooled pretrained embeddings, and the network's own class / tag scores, per segment (module docstring).

    Args:
        backbone: a backbone name (:func:`soundsort.backbones.get_backbone`).
        name: the feature set's name (default: the backbone's).
        segment_seconds, hop_seconds, tail, min_tail_seconds: the segmenting
            (:func:`soundsort.audio.windows.segment_bounds`); ``hop_seconds`` defaults to ``segment_seconds``.
        pooling: ``"mean"``, ``"mean_std"`` or ``"sequence"``.
        sequence_frames: T of ``"sequence"`` pooling (default: ``round(segment_seconds / backbone hop)``).
        backbone_options: backbone arguments that change its output (musicnn: ``hop_frames``,
            ``cover_tail``); recorded in :meth:`params` with the backbone's defaults filled in.
        threads, batch_size: ONNX Runtime threads and patches per call: speed only, not in :meth:`params`.
        block_seconds: block length for long signals (:func:`embed_signal`); not in :meth:`params`.
        outputs: what to emit per segment, concatenated in this order, all from one network pass
            (:data:`OUTPUTS`; those the backbone gives, :func:`backbone_outputs`, plus ``"music"`` for
            AudioSet scores): ``"embedding"`` (the default, alone), ``"max_pool"`` / ``"mean_pool"``
            (musicnn's mid-end) pooled by ``pooling``; ``"scores"`` (YAMNet) / ``"tags"`` (musicnn) by
            ``score_stats``; ``"music"``, the :data:`soundsort.features.scores.MUSIC_SUMMARY` of YAMNet's scores.
            In :meth:`params` only when not the default, so the embedding-only sets keep their parameters.
        score_stats: statistics of ``"scores"`` / ``"tags"`` over a segment's frames, some of
            :data:`SCORE_STATS` (default ``("mean", "max")``); in :meth:`params` when such an output is asked for.

    The backbone (and with it any ONNX Runtime session) is created lazily and never pickled: a
    featurizer sent to a worker process carries only its parameters.
    """

    version: ClassVar[int] = 1
    sr: int = 16000

    def __init__(
        self,
        backbone: str = "yamnet",
        *,
        name: str | None = None,
        segment_seconds: float = 3.0,
        hop_seconds: float | None = None,
        tail: str = "pad",
        min_tail_seconds: float = 1.0,
        pooling: str = "mean",
        sequence_frames: int | None = None,
        backbone_options: Mapping[str, Any] | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        block_seconds: float | None = BLOCK_SECONDS,
        outputs: str | Sequence[str] = ("embedding",),
        score_stats: str | Sequence[str] | None = None,
    ) -> None:
        if not isinstance(backbone, str) or not backbone:
            raise ConfigError(f"backbone must be a backbone name, got {backbone!r}")
        self.backbone_name = backbone
        self.name = name or backbone
        self.segment_seconds = _positive_float("segment_seconds", segment_seconds)
        self.hop_seconds = self.segment_seconds if hop_seconds is None else _positive_float("hop_seconds", hop_seconds)
        if tail not in ("pad", "drop"):
            raise ConfigError(f"tail must be 'pad' or 'drop', got {tail!r}")
        self.tail = tail
        try:
            self.min_tail_seconds = float(min_tail_seconds)
        except (TypeError, ValueError):
            raise ConfigError(f"min_tail_seconds must be a number, got {min_tail_seconds!r}") from None
        if not math.isfinite(self.min_tail_seconds) or self.min_tail_seconds < 0:
            raise ConfigError(f"min_tail_seconds must be >= 0, got {min_tail_seconds!r}")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        options = dict(backbone_options or {})
        known = _OUTPUT_OPTIONS.get(backbone)
        if known is not None:
            unknown = sorted(set(options) - set(known))
            if unknown:
                allowed = ", ".join(known) or "none"
                raise ConfigError(f"backbone {backbone!r} has no output option(s) {', '.join(unknown)} "
                                  f"(allowed: {allowed})")
            options = {**known, **options}
        self.backbone_options = dict(sorted(options.items()))
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                    or threads < 1):
            raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
        self.threads = None if threads is None else int(threads)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.block_seconds = block_seconds
        self._backbone: Backbone | None = None
        bb = self.backbone  # validates the name and the options now (creating a backbone loads no model)
        if pooling == "sequence":
            if sequence_frames is None:
                sequence_frames = max(1, int(round(self.segment_seconds / float(bb.hop_seconds))))
            if isinstance(sequence_frames, bool) or int(sequence_frames) != sequence_frames or sequence_frames < 1:
                raise ConfigError(f"sequence_frames must be a positive integer, got {sequence_frames!r}")
            self.sequence_frames: int | None = int(sequence_frames)
        else:
            if sequence_frames is not None:
                raise ConfigError(f"sequence_frames applies to pooling='sequence' only, not {pooling!r}")
            self.sequence_frames = None
        self.outputs = _names_tuple("outputs", outputs, OUTPUTS)
        available = self._output_widths(bb)
        missing = [o for o in self.outputs if o not in available]
        if missing:
            raise ConfigError(f"backbone {backbone!r} has no output {', '.join(map(repr, missing))} "
                              f"(it gives: {', '.join(available)})")
        if pooling == "sequence" and self.outputs != ("embedding",):
            raise ConfigError("pooling='sequence' gives embedding frames only: use outputs=['embedding'], "
                              f"not {list(self.outputs)!r}")
        wants_stats = any(o in _SCORE_OUTPUTS for o in self.outputs)
        if score_stats is not None and not wants_stats:
            raise ConfigError(f"score_stats applies to the 'scores' and 'tags' outputs only, not to "
                              f"{list(self.outputs)!r}")
        self.score_stats: tuple[str, ...] | None = (
            _names_tuple("score_stats", SCORE_STATS if score_stats is None else score_stats, SCORE_STATS)
            if wants_stats else None)

    # -- the backbone (lazy, never pickled) --------------------------------------------------------

    @property
    def backbone(self) -> Backbone:
        """The backbone object (created on first use; its ONNX session is loaded on its first call)."""
        if self._backbone is None:
            kwargs: dict[str, Any] = dict(self.backbone_options)
            if self.threads is not None:
                kwargs["threads"] = self.threads
            if self.batch_size is not None:
                kwargs["batch_size"] = self.batch_size
            try:
                bb = get_backbone(self.backbone_name, **kwargs)
            except TypeError as exc:
                raise ConfigError(f"backbone {self.backbone_name!r}: {exc}") from None
            if int(bb.sr) != self.sr:
                raise ConfigError(f"backbone {self.backbone_name!r} runs at {bb.sr} Hz; "
                                  f"embedding feature sets expect {self.sr} Hz")
            self._backbone = bb
        return self._backbone

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_backbone"] = None
        return state

    @property
    def dim(self) -> int:
        """The backbone's embedding width D."""
        return int(self.backbone.dim)

    # -- the featurizer contract ----------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """``name``, ``version``, the backbone, its output options, the pooling and the segmenting.

        Plus ``outputs`` when not ``["embedding"]``, and ``score_stats`` when a score output is asked for (an
        embedding-only set's parameters are what they were before outputs existed, and so are its caches).
        A set with the ``"music"`` output carries :data:`~soundsort.features.scores.MUSIC_SUMMARY_VERSION` as
        its version, so features cached with other summary columns are never reused.
        """
        version = max(self.version, MUSIC_SUMMARY_VERSION) if "music" in self.outputs else self.version
        out = {
            "name": self.name, "version": version, "backbone": self.backbone_name,
            "backbone_options": dict(self.backbone_options), "pooling": self.pooling,
            "sequence_frames": self.sequence_frames, "segment_seconds": self.segment_seconds,
            "hop_seconds": self.hop_seconds, "tail": self.tail, "min_tail_seconds": self.min_tail_seconds,
        }
        if self.outputs != ("embedding",):
            out["outputs"] = list(self.outputs)
        if self.score_stats is not None:
            out["score_stats"] = list(self.score_stats)
        return out

    @staticmethod
    def _output_widths(backbone: Backbone) -> dict[str, int]:
        """Per-frame widths of the outputs ``backbone`` allows: its arrays, plus ``music`` on AudioSet scores."""
        widths = backbone_outputs(backbone)
        if widths.get("scores") == N_AUDIOSET:
            widths["music"] = len(MUSIC_SUMMARY)
        return widths

    def _pooled_width(self, output: str) -> int:
        """Columns ``output`` takes in one segment's vector."""
        width = self._output_widths(self.backbone)[output]
        if output == "music":
            return width
        if output in _SCORE_OUTPUTS:
            assert self.score_stats is not None
            return width * len(self.score_stats)
        return width * (2 if self.pooling == "mean_std" else 1)

    def output_shape(self) -> tuple[int, ...]:
        """One segment's output: ``(D,)``, ``(2 D,)`` or ``(T, D)`` for the embedding; the outputs' total width else."""
        if self.outputs != ("embedding",):
            return (sum(self._pooled_width(o) for o in self.outputs),)
        d = self.dim
        if self.pooling == "mean":
            return (d,)
        if self.pooling == "mean_std":
            return (2 * d,)
        assert self.sequence_frames is not None
        return (self.sequence_frames, d)

    def feature_names(self) -> list[str]:
        """Column names, output by output (each stat-major); empty for ``"sequence"`` pooling.

        ``embedding``: ``{backbone}_{i}_mean`` (then ``..._std``); ``max_pool`` / ``mean_pool``:
        ``{backbone}_max_pool_{i}_mean`` ...; ``scores``: ``{backbone}_score_{i:03d}_{class}_{stat}``
        (e.g. ``yamnet_score_132_music_max``); ``tags``: ``{backbone}_tag_{tag}_{stat}`` (e.g.
        ``musicnn-msd_tag_hip_hop_mean``); ``music``: ``{backbone}_{column}`` for each
        :data:`~soundsort.features.scores.MUSIC_SUMMARY` column (e.g. ``yamnet_music_max_of_mean``).
        """
        if self.pooling == "sequence":
            return []
        bb, prefix = self.backbone, self.backbone_name
        pooled = ("mean",) if self.pooling == "mean" else ("mean", "std")
        names: list[str] = []
        for output in self.outputs:
            width = self._output_widths(bb)[output]
            if output == "embedding":
                names += [f"{prefix}_{i}_{s}" for s in pooled for i in range(width)]
            elif output == "music":
                names += [f"{prefix}_{c}" for c in MUSIC_SUMMARY]
            elif output in _SCORE_OUTPUTS:
                assert self.score_stats is not None
                labels = _label_slugs(bb, output, width)
                kind = "score" if output == "scores" else "tag"
                names += [f"{prefix}_{kind}_{label}_{s}" for s in self.score_stats for label in labels]
            else:
                names += [f"{prefix}_{output}_{i}_{s}" for s in pooled for i in range(width)]
        return names

    def embed(self, y: np.ndarray) -> Embeddings:
        """The backbone's embedding frames of mono 16 kHz ``y`` (:func:`embed_signal`)."""
        return embed_signal(self.backbone, self._check_signal(y), block_seconds=self.block_seconds)

    def frame_arrays(self) -> tuple[str, ...]:
        """The backbone arrays :attr:`outputs` are made of (``"music"`` is made of ``"scores"``)."""
        return tuple(dict.fromkeys("scores" if o == "music" else o for o in self.outputs))

    def pass_key(self) -> tuple[Any, ...]:
        """Featurizers with equal keys can share one backbone pass (:func:`signal_outputs`) of the same signal."""
        return (self.backbone_name, tuple(sorted(self.backbone_options.items())), self.block_seconds)

    def frame_outputs(self, y: np.ndarray, arrays: Sequence[str] | None = None) -> FrameOutputs:
        """One backbone pass over mono 16 kHz ``y``: the frames of :meth:`frame_arrays` (or of ``arrays``)."""
        names = self.frame_arrays() if arrays is None else tuple(arrays)
        return signal_outputs(self.backbone, self._check_signal(y), names, block_seconds=self.block_seconds)

    def pool_outputs(self, frames: FrameOutputs, n_samples: int) -> np.ndarray:
        """The segment vectors of a signal of ``n_samples`` from its frames (:meth:`frame_outputs`)."""
        bounds = self.bounds(n_samples)
        if not bounds:
            return np.zeros((0, *self.output_shape()), dtype=np.float32)
        # frame centres in whole samples (every built-in backbone's are): no float doubt at a segment bound
        centres = np.rint(np.asarray(frames.times, dtype=np.float64) * self.sr)
        parts = []
        for output in self.outputs:
            if output == "music":
                scores = np.asarray(frames.arrays["scores"], dtype=np.float32)
                ranges = segment_frame_ranges(centres, bounds, n_samples)
                parts.append(np.stack([music_summary(scores[lo:hi]) for lo, hi in ranges]))
            elif output in _SCORE_OUTPUTS:
                assert self.score_stats is not None
                parts.append(pool_stats(frames.arrays[output], centres, bounds, n_samples, self.score_stats))
            else:
                parts.append(pool_frames(frames.arrays[output], centres, bounds, n_samples, self.pooling,
                                         self.sequence_frames))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """Pooled outputs of mono ``y`` at 16 kHz, one backbone pass: ``(n_segments, *output_shape())`` float32."""
        y = self._check_signal(y)
        if not self.bounds(len(y)):
            return np.zeros((0, *self.output_shape()), dtype=np.float32)
        return self.pool_outputs(self.frame_outputs(y), len(y))


def _label_slugs(backbone: Backbone, output: str, width: int) -> list[str]:
    """Column-name parts for the classes / tags of a score output: ``132_music`` (YAMNet), ``hip_hop`` (musicnn)."""
    getter = getattr(backbone, "class_names" if output == "scores" else "tag_names", None)
    labels = list(getter()) if callable(getter) else []
    if len(labels) != width:
        return [f"{i:03d}" for i in range(width)]
    if output == "scores":
        return [f"{i:03d}_{slug(c)}" for i, c in enumerate(labels)]
    slugs = [slug(t) for t in labels]
    return slugs if len(set(slugs)) == width else [f"{i:02d}_{s}" for i, s in enumerate(slugs)]


# --------------------------------------------------------------------------------------------------
# registered embedding feature sets


def embedding_factory(set_name: str, backbone: str, **defaults: Any) -> Callable[..., EmbeddingFeaturizer]:
    """A :func:`~soundsort.features.registry.register_featurizer` factory: feature set ``set_name`` on ``backbone``.

    E.g. ``register_featurizer("panns", embedding_factory("panns", "panns-cnn14", pooling="mean"))``.
    The factory accepts :class:`EmbeddingFeaturizer`'s keywords (and a matching ``backbone``, as
    ``params()`` records it), plus the backbone's output options directly (``hop_frames=93``).
    """

    def factory(**overrides: Any) -> EmbeddingFeaturizer:
        given = overrides.pop("backbone", backbone)
        if given != backbone:
            raise ConfigError(f"feature set {set_name!r} uses backbone {backbone!r}, not {given!r}")
        # shorthand: musicnn's output options may be given directly (hop_frames=93)
        options = dict(overrides.pop("backbone_options", None) or {})
        for key in _OUTPUT_OPTIONS.get(backbone, {}):
            if key in overrides:
                options[key] = overrides.pop(key)
        kwargs = {**defaults, **overrides}
        if kwargs.get("pooling") != "sequence" and "sequence_frames" not in overrides:
            kwargs.pop("sequence_frames", None)  # e.g. yamnet-seq asked for pooling="mean"
        outputs = kwargs.get("outputs", ("embedding",))
        outputs = (outputs,) if isinstance(outputs, str) else tuple(outputs or ())
        if "score_stats" not in overrides and not any(o in _SCORE_OUTPUTS for o in outputs):
            kwargs.pop("score_stats", None)  # e.g. yamnet-scores asked for outputs=["music"]
        return EmbeddingFeaturizer(backbone, name=set_name, backbone_options=options, **kwargs)

    factory.__name__ = f"_{set_name.replace('-', '_')}"
    return factory


#: feature set name -> (backbone, default parameters)
EMBEDDING_FEATURE_SETS: dict[str, tuple[str, dict[str, Any]]] = {
    "yamnet": ("yamnet", {"pooling": "mean"}),
    "yamnet-q": ("yamnet-q", {"pooling": "mean"}),
    "musicnn-msd": ("musicnn-msd", {"pooling": "mean"}),
    "musicnn-mtt": ("musicnn-mtt", {"pooling": "mean"}),
    "yamnet-seq": ("yamnet", {"pooling": "sequence", "segment_seconds": 4.8, "sequence_frames": 10}),
    # the networks' own scores, from the same pass as the embeddings (outputs=["embedding", ...] adds them)
    "yamnet-music": ("yamnet", {"outputs": ("music",)}),
    "yamnet-scores": ("yamnet", {"outputs": ("scores",), "score_stats": ("mean", "max")}),
    "musicnn-msd-tags": ("musicnn-msd", {"outputs": ("tags",), "score_stats": ("mean",)}),
    "musicnn-mtt-tags": ("musicnn-mtt", {"outputs": ("tags",), "score_stats": ("mean",)}),
    "musicnn-msd-maxpool": ("musicnn-msd", {"outputs": ("max_pool",), "pooling": "mean"}),
    "musicnn-mtt-maxpool": ("musicnn-mtt", {"outputs": ("max_pool",), "pooling": "mean"}),
}


def register_builtin() -> None:
    """Register :data:`EMBEDDING_FEATURE_SETS` (done when this module is imported)."""
    for set_name, (backbone, defaults) in EMBEDDING_FEATURE_SETS.items():
        register_featurizer(set_name, embedding_factory(set_name, backbone, **defaults))


# --------------------------------------------------------------------------------------------------
# combinations


def resampled_length(n: int, orig_sr: int, target_sr: int) -> int:
    """Samples soxr returns for ``n`` samples resampled from ``orig_sr`` to ``target_sr`` (round half up)."""
    n, orig_sr, target_sr = int(n), int(orig_sr), int(target_sr)
    if orig_sr == target_sr:
        return n
    return (2 * n * target_sr + orig_sr) // (2 * orig_sr)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) == n:
        return y
    if len(y) > n:
        return y[:n]
    return np.concatenate([y, np.zeros(n - len(y), dtype=y.dtype)])


class CombinedFeaturizer(SegmentingFeaturizer):
    """Segment vectors of several vector feature sets, concatenated per segment (member order).

    Every member is cut with the combination's segmenting. :attr:`sr` is the highest member
    rate; :meth:`segment_vectors` resamples its input once per member rate. Members at different rates
    can disagree on the number of segments by one (a tail at the ``min_tail_seconds`` boundary after
    rounding): the combination keeps the segments all members have.
    """

    version: ClassVar[int] = 1

    def __init__(
        self,
        members: Sequence[Featurizer],
        *,
        segment_seconds: float = 3.0,
        hop_seconds: float | None = None,
        tail: str = "pad",
        min_tail_seconds: float = 1.0,
        name: str | None = None,
    ) -> None:
        members = list(members)
        if len(members) < 2:
            raise ConfigError("a combination needs at least two feature sets")
        self.segment_seconds = _positive_float("segment_seconds", segment_seconds)
        self.hop_seconds = self.segment_seconds if hop_seconds is None else _positive_float("hop_seconds", hop_seconds)
        if tail not in ("pad", "drop"):
            raise ConfigError(f"tail must be 'pad' or 'drop', got {tail!r}")
        self.tail = tail
        self.min_tail_seconds = float(min_tail_seconds)
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ConfigError(f"a combination cannot hold one feature set twice: {'+'.join(names)}")
        for m in members:
            if isinstance(m, EmbeddingFeaturizer) and m.pooling == "sequence":
                raise ConfigError(f"feature set {m.name!r} gives sequences (pooling='sequence'); a combination "
                                  "concatenates vectors: use a vector pooling ('mean' or 'mean_std')")
            if not m.feature_names():
                raise ConfigError(f"feature set {m.name!r} does not give named vectors (images or sequences); "
                                  "only vector feature sets can be combined")
            for key in SEGMENT_KEYS:
                if not hasattr(m, key) or getattr(m, key) != getattr(self, key):
                    raise ConfigError(f"feature set {m.name!r} has {key}={getattr(m, key, None)!r}, the combination "
                                      f"{getattr(self, key)!r}: members must share the segmenting")
        columns = [c for m in members for c in m.feature_names()]
        if len(set(columns)) != len(columns):
            raise ConfigError(f"feature sets {'+'.join(names)} share column names; they cannot be combined")
        self.members = members
        self.name = name or "+".join(names)
        self.sr = max(int(m.sr) for m in members)

    def params(self) -> dict[str, Any]:
        """``name``, ``version``, the segmenting and each member's full ``params()`` (in order)."""
        return {"name": self.name, "version": self.version, "segment_seconds": self.segment_seconds,
                "hop_seconds": self.hop_seconds, "tail": self.tail, "min_tail_seconds": self.min_tail_seconds,
                "members": [m.params() for m in self.members]}

    def feature_names(self) -> list[str]:
        """The members' column names, concatenated in member order."""
        return [c for m in self.members for c in m.feature_names()]

    def member_slices(self) -> dict[str, slice]:
        """Which columns of a segment vector belong to which member."""
        out, start = {}, 0
        for m in self.members:
            width = len(m.feature_names())
            out[m.name] = slice(start, start + width)
            start += width
        return out

    def _count(self, n_samples: int, sr: int) -> int:
        """Segments all members have for ``n_samples`` at ``sr`` (each member sees its resampled length)."""
        return min(len(m.segment_times(resampled_length(n_samples, sr, m.sr))) for m in self.members)

    def segment_times(self, n_samples: int) -> np.ndarray:
        """Segment start / end seconds at :attr:`sr`, limited to the segments every member has."""
        times = SegmentingFeaturizer.segment_times(self, n_samples)
        return times[: self._count(n_samples, self.sr)]

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """``(n_segments, sum of member widths)`` float32 for mono ``y`` at :attr:`sr`."""
        y = self._check_signal(y)
        by_sr: dict[int, np.ndarray] = {}
        passes = _SharedPasses(self.members)
        parts = []
        for m in self.members:
            sr = int(m.sr)
            if sr not in by_sr:
                by_sr[sr] = _fit_length(resample(y, self.sr, sr), resampled_length(len(y), self.sr, sr))
            parts.append(np.asarray(passes.segment_vectors(m, by_sr[sr]), dtype=np.float32))
        k = min(len(p) for p in parts)
        return np.concatenate([p[:k] for p in parts], axis=1)

    def featurize_file(self, path: str | os.PathLike[str], cache: FeatureCache | None = None) -> SegmentFeatures:
        """Features of a file: each member from ``cache`` under its own parameters, else computed.

        The file is decoded at most once (only if some member is not cached), at its own rate, and
        resampled once per member rate with the same streaming resampler as
        :func:`soundsort.audio.decode.load`, so a member's features equal its features alone.
        Members on the same backbone share its pass (``yamnet+yamnet-music``: one YAMNet run).
        The times are those of the highest-rate member.
        """
        signals: dict[int, np.ndarray] = {}
        passes = _SharedPasses(self.members)

        def signal_at(sr: int) -> np.ndarray:
            if not signals:
                signals.update(_decode_at_rates(path, sorted({int(m.sr) for m in self.members})))
            return signals[sr]

        results: list[dict[str, np.ndarray]] = []
        for m in self.members:
            def compute(m: Featurizer = m) -> dict[str, np.ndarray]:
                y = np.asarray(signal_at(int(m.sr)), dtype=np.float32)
                return {"values": passes.segment_vectors(m, y), "times": m.segment_times(len(y))}

            results.append(compute() if cache is None else cache.get_or_compute(path, cache_params(m), compute))
        k = min(len(r["values"]) for r in results)
        top = max(range(len(self.members)), key=lambda i: int(self.members[i].sr))  # first highest
        values = np.concatenate([np.asarray(r["values"][:k], dtype=np.float32) for r in results], axis=1)
        return SegmentFeatures(values, np.asarray(results[top]["times"][:k], dtype=np.float64))


class _SharedPasses:
    """One backbone pass per signal for the embedding members of a combination that can share it.

    Members with the same :meth:`EmbeddingFeaturizer.pass_key` (backbone, its output options, blocks) get
    their vectors from one :meth:`~EmbeddingFeaturizer.frame_outputs` call asking for all their arrays (a
    YAMNet / musicnn pass computes them all anyway); the values are those each member computes alone.
    Every other member computes its own. Lives for one signal (one call).
    """

    def __init__(self, members: Sequence[Featurizer]) -> None:
        groups: dict[tuple[Any, ...], list[EmbeddingFeaturizer]] = {}
        for m in members:
            if isinstance(m, EmbeddingFeaturizer):
                groups.setdefault(m.pass_key(), []).append(m)
        self.arrays = {key: tuple(dict.fromkeys(a for m in group for a in m.frame_arrays()))
                       for key, group in groups.items() if len(group) > 1}
        self.frames: dict[tuple[Any, ...], FrameOutputs] = {}

    def segment_vectors(self, member: Featurizer, y: np.ndarray) -> np.ndarray:
        """``member.segment_vectors(y)``, through the shared pass when the member has one."""
        if not isinstance(member, EmbeddingFeaturizer) or member.pass_key() not in self.arrays:
            return member.segment_vectors(y)
        y = member._check_signal(y)
        if not member.bounds(len(y)):
            return np.zeros((0, *member.output_shape()), dtype=np.float32)
        key = (*member.pass_key(), int(member.sr))  # one signal per rate in a call
        if key not in self.frames:
            self.frames[key] = member.frame_outputs(y, self.arrays[member.pass_key()])
        return member.pool_outputs(self.frames[key], len(y))


# --------------------------------------------------------------------------------------------------
# many short signals at once


def _batched_frames(backbone: Backbone, signals: Sequence[np.ndarray], names: Sequence[str]
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


def segment_vectors_batch(featurizer: Featurizer, signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``[featurizer.segment_vectors(y) for y in signals]``, running each backbone once over all of them.

    For short signals (one backbone pass each, no blocks: classify's 3 s genre windows) of an
    :class:`EmbeddingFeaturizer` or a :class:`CombinedFeaturizer` of them at one sample rate; anything else is
    computed signal by signal. The values are each signal's own (up to the network's float rounding in a
    batch, see :func:`_batched_frames`).
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
        frames = _batched_frames(m.backbone, [checked[i] for i in live], m.frame_arrays()) if live else []
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


def _decode_at_rates(path: str | os.PathLike[str], rates: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode ``path`` once (mono) and resample it to every rate in ``rates``.

    Each rate gets exactly what ``load(path, rate)`` gives: the same decoded blocks go through the
    same streaming soxr resampler.
    """
    from soundsort.audio.decode import info, stream

    native = info(path).sr
    resamplers = {r: StreamResampler(native, r, 1) for r in rates if r != native}
    parts: dict[int, list[np.ndarray]] = {r: [] for r in rates}
    for block in stream(path, None):
        for r in rates:
            out = block if r == native else resamplers[r].process(block, last=False)
            if len(out):
                parts[r].append(out)
    for r, rs in resamplers.items():
        out = rs.process(np.zeros(0, np.float32), last=True)
        if len(out):
            parts[r].append(out)
    out: dict[int, np.ndarray] = {}
    for r, p in parts.items():
        out[r] = p[0] if len(p) == 1 else np.concatenate(p) if p else np.zeros(0, np.float32)
    return out


def combined_featurizer(name: str, **overrides: Any) -> CombinedFeaturizer:
    """Build the combination ``"a+b+..."`` (what :func:`~soundsort.features.registry.get_featurizer` does for it).

    ``overrides``: the segmenting (``segment_seconds``, ``hop_seconds``, ``tail``, ``min_tail_seconds``),
    forced on every member, and ``members``: per-member parameters, a list in member order or a dict by
    member name (each a dict of overrides, or a member's full ``params()``, as :meth:`CombinedFeaturizer.params`
    records them). Anything else is an error: per-member parameters go in ``members``.
    """
    names = [p.strip() for p in name.split("+")]
    if len(names) < 2 or not all(names):
        raise ConfigError(f"a combination is written 'a+b+...', got {name!r}")
    members_spec = overrides.pop("members", None)
    seg: dict[str, Any] = {"segment_seconds": overrides.pop("segment_seconds", 3.0)}
    seg["hop_seconds"] = overrides.pop("hop_seconds", None)
    if seg["hop_seconds"] is None:
        seg["hop_seconds"] = seg["segment_seconds"]
    seg["tail"] = overrides.pop("tail", "pad")
    seg["min_tail_seconds"] = overrides.pop("min_tail_seconds", 1.0)
    if overrides:
        raise ConfigError(f"combination {name!r}: unknown parameter(s) {', '.join(sorted(overrides))}; "
                          "per-member parameters go in members=[{...}, ...]")
    if members_spec is None:
        specs: list[dict[str, Any]] = [{} for _ in names]
    elif isinstance(members_spec, Mapping):
        unknown = sorted(set(members_spec) - set(names))
        if unknown:
            raise ConfigError(f"combination {name!r} has no member(s) {', '.join(unknown)}")
        specs = [dict(members_spec.get(n) or {}) for n in names]
    else:
        specs = [dict(s or {}) for s in members_spec]
        if len(specs) != len(names):
            raise ConfigError(f"combination {name!r} has {len(names)} members, got parameters for {len(specs)}")
    members = []
    for member_name, spec in zip(names, specs):
        if "+" in member_name:
            raise ConfigError(f"combination member {member_name!r} cannot itself be a combination")
        given = spec.pop("name", member_name)
        if given != member_name:
            raise ConfigError(f"combination {name!r}: parameters of {given!r} given for member {member_name!r}")
        for key, value in seg.items():
            if key in spec and spec[key] != value:
                raise ConfigError(f"combination {name!r}: member {member_name!r} has {key}={spec[key]!r}, the "
                                  f"combination {value!r}; set the segmenting on the combination")
            spec[key] = value
        members.append(featurizer_from_params({"name": member_name, **spec}))
    return CombinedFeaturizer(members, name=name, **seg)


register_builtin()
