"""Feature sets from pretrained audio embeddings (and the networks' own class / tag scores).

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

Long signals are embedded in blocks (:func:`soundsort.features.frames.signal_outputs`): every frame is the
one a single pass over the whole signal would give.

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
under its own parameters (:mod:`soundsort.features.combined`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from soundsort.backbones.base import Backbone, Embeddings, get_backbone
from soundsort.errors import ConfigError
from soundsort.features.base import Segmenting, SegmentingFeaturizer
from soundsort.features.frames import BLOCK_SECONDS, FrameOutputs, backbone_outputs, embed_signal, signal_outputs
from soundsort.features.pooling import POOLINGS, SCORE_STATS, pool_frames, pool_stats, segment_frame_ranges
from soundsort.features.registry import register_featurizer
from soundsort.features.scores import (MUSIC_SUMMARY, MUSIC_SUMMARY_VERSION, N_AUDIOSET, NOISE_SUMMARY, music_summary,
                                       noise_summary, slug)

__all__ = ["EMBEDDING_FEATURE_SETS", "OUTPUTS", "EmbeddingFeaturizer", "embedding_factory", "register_builtin"]

#: What an :class:`EmbeddingFeaturizer` can emit per segment, all from one network pass (module docstring).
OUTPUTS = ("embedding", "scores", "music", "noise", "tags", "max_pool", "mean_pool")
#: Outputs summarized from YAMNet's AudioSet scores, per segment, by these functions (their column names)
_SUMMARIES = {"music": (music_summary, MUSIC_SUMMARY), "noise": (noise_summary, NOISE_SUMMARY)}

#: Outputs pooled with :data:`SCORE_STATS` (probabilities: their maximum is evidence, their spread is not).
_SCORE_OUTPUTS = ("scores", "tags")

#: Backbone options that change a backbone's output, with the backbone's defaults (recorded in params()).
_OUTPUT_OPTIONS: dict[str, dict[str, Any]] = {
    "yamnet": {},
    "yamnet-q": {},
    "musicnn-msd": {"hop_frames": 187, "cover_tail": True},
    "musicnn-mtt": {"hop_frames": 187, "cover_tail": True},
}


# --------------------------------------------------------------------------------------------------
# the embedding featurizer


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
            (:data:`OUTPUTS`; those the backbone gives, :func:`backbone_outputs`, plus ``"music"`` and
            ``"noise"`` for AudioSet scores): ``"embedding"`` (the default, alone), ``"max_pool"`` / ``"mean_pool"``
            (musicnn's mid-end) pooled by ``pooling``; ``"scores"`` (YAMNet) / ``"tags"`` (musicnn) by
            ``score_stats``; ``"music"``, the :data:`soundsort.features.scores.MUSIC_SUMMARY` of YAMNet's scores;
            ``"noise"``, their one-column :data:`~soundsort.features.scores.NOISE_SUMMARY`.
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
        self._use_segmenting(Segmenting(segment_seconds, hop_seconds, tail, min_tail_seconds))
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
            for name, (_, columns) in _SUMMARIES.items():
                widths[name] = len(columns)
        return widths

    def _pooled_width(self, output: str) -> int:
        """Columns ``output`` takes in one segment's vector."""
        width = self._output_widths(self.backbone)[output]
        if output in _SUMMARIES:
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
            elif output in _SUMMARIES:
                names += [f"{prefix}_{c}" for c in _SUMMARIES[output][1]]
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
        """The backbone arrays :attr:`outputs` are made of (``"music"`` and ``"noise"`` of ``"scores"``)."""
        return tuple(dict.fromkeys("scores" if o in _SUMMARIES else o for o in self.outputs))

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
            if output in _SUMMARIES:
                summary = _SUMMARIES[output][0]
                scores = np.asarray(frames.arrays["scores"], dtype=np.float32)
                ranges = segment_frame_ranges(centres, bounds, n_samples)
                parts.append(np.stack([summary(scores[lo:hi]) for lo, hi in ranges]))
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


_DESCRIPTIONS = {
    "yamnet": "YAMNet embedding (1024), mean over each segment's frames",
    "yamnet-q": "8-bit YAMNet embedding (1024), mean over each segment's frames",
    "musicnn-msd": "musicnn (MSD) embedding (200), mean over each segment's patches",
    "musicnn-mtt": "musicnn (MTT) embedding (200), mean over each segment's patches",
    "yamnet-seq": "YAMNet frames as (10, 1024) sequences of 4.8 s segments (attention head input)",
    "yamnet-music": "9-column music summary of YAMNet's AudioSet scores",
    "yamnet-scores": "YAMNet's 521 AudioSet class scores, mean and max per segment",
    "musicnn-msd-tags": "musicnn (MSD) 50 tag probabilities, mean per segment",
    "musicnn-mtt-tags": "musicnn (MTT) 50 tag probabilities, mean per segment",
    "musicnn-msd-maxpool": "musicnn (MSD) mid-end max-pool features (753), mean per segment",
    "musicnn-mtt-maxpool": "musicnn (MTT) mid-end max-pool features (753), mean per segment",
}


def register_builtin() -> None:
    """Register :data:`EMBEDDING_FEATURE_SETS` (:mod:`soundsort.features` does, on import)."""
    for set_name, (backbone, defaults) in EMBEDDING_FEATURE_SETS.items():
        register_featurizer(set_name, embedding_factory(set_name, backbone, **defaults),
                            _DESCRIPTIONS.get(set_name, ""))

