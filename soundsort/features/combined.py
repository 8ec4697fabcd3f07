"""Combinations of vector feature sets: ``get_featurizer("yamnet+musicnn-msd+handcrafted")``.

:class:`CombinedFeaturizer` concatenates the segment vectors of vector feature sets that share one
segmenting. :meth:`CombinedFeaturizer.featurize_file` decodes a file once, resamples it once per member
rate (bit-identical to decoding at that rate) and reads / writes each member's features in the feature
cache under the member's own parameters, so a combination reuses what its members computed alone, and
the other way round. A combination of sets on one backbone (``yamnet+yamnet-music``) runs it once.
This module installs :func:`combined_featurizer` as the registry's resolver for ``"a+b+..."`` names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from soundsort.audio.multirate import load_at_rates
from soundsort.audio.resample import resample, resampled_length
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError
from soundsort.features.base import SEGMENT_KEYS, Featurizer, SegmentFeatures, Segmenting, SegmentingFeaturizer
from soundsort.features.embeddings import EmbeddingFeaturizer
from soundsort.features.extract import cache_params, featurizer_from_params
from soundsort.features.frames import FrameOutputs
from soundsort.features.registry import set_combination_resolver

__all__ = ["CombinedFeaturizer", "combined_featurizer", "register_builtin"]


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
        self._use_segmenting(Segmenting(segment_seconds, hop_seconds, tail, min_tail_seconds))
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
        :func:`soundsort.audio.decode.load` (:func:`soundsort.audio.multirate.load_at_rates`), so a member's
        features equal its features alone.
        Members on the same backbone share its pass (``yamnet+yamnet-music``: one YAMNet run).
        The times are those of the highest-rate member.
        """
        signals: dict[int, np.ndarray] = {}
        passes = _SharedPasses(self.members)

        def signal_at(sr: int) -> np.ndarray:
            if not signals:
                signals.update(load_at_rates(path, {int(m.sr) for m in self.members}))
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


def combined_featurizer(name: str, **overrides: Any) -> CombinedFeaturizer:
    """Build the combination ``"a+b+..."`` (:func:`~soundsort.features.registry.get_featurizer`'s resolver for it).

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



def register_builtin() -> None:
    """Install :func:`combined_featurizer` as the registry's resolver for ``"a+b+..."`` names."""
    set_combination_resolver(combined_featurizer)
