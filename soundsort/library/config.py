"""How a library's vectors are made: the embed options, the configuration a library records, and the check
an update must pass (the same features, tags, fingerprint and models as the vectors already there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsort.errors import ConfigError, LibraryError
from soundsort.features import get_featurizer
from soundsort.library import fingerprint as fp
from soundsort.library.store import Library
from soundsort.library.vectors import INDEX_KINDS, NORMALIZATIONS

#: the default feature sets of a library (see BENCHMARKS.md, "Collections": retrieval quality per backbone)
DEFAULT_FEATURES = "yamnet+musicnn-msd"


@dataclass
class EmbedConfig:
    """How a library's vectors and metadata are made (recorded in it; an update must match)."""

    features: str = DEFAULT_FEATURES
    feature_params: dict[str, Any] = field(default_factory=dict)
    describe: bool = True  # music share, timeline and genre with the music / genre models
    music_model: str | None = None  # None: the bundled model
    genre_model: str | None = None
    segments: bool = False  # also one embedding per music segment
    tags: bool = True
    index: str = "auto"  # auto, flat, hnsw
    normalize: str = "zscore"  # zscore, none

    def check(self) -> None:
        """:class:`ConfigError` for an unknown index or normalization, or segments without a timeline."""
        if self.index not in INDEX_KINDS:
            raise ConfigError(f"unknown index {self.index!r}; use {', '.join(INDEX_KINDS)}")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalize!r}; use {', '.join(NORMALIZATIONS)}")
        if self.segments and not self.describe:
            raise ConfigError("per-segment embeddings need the music timeline (--describe)")


#: config keys whose change makes every stored vector or description stale
_RECORD_KEYS = ("featurizer_params", "widths", "tag_names", "tag_set", "fingerprint", "describe", "music_model",
                "genre_model", "segments")


# -------------------------------------------------------------------------------------------- featurizers


def feature_members(featurizer: Any) -> list[Any]:
    """The feature sets of a (combined) featurizer, or the featurizer itself."""
    return list(getattr(featurizer, "members", None) or [featurizer])


def segmenting(featurizer: Any) -> dict[str, Any]:
    """How a featurizer cuts segments (segment and hop length, tail rule)."""
    return {k: getattr(featurizer, k) for k in ("segment_seconds", "hop_seconds", "tail", "min_tail_seconds")}


def params_key(params: dict[str, Any]) -> str:
    """A featurizer's parameters as one comparable string."""
    from soundsort.cache import canonical_json

    return canonical_json(params)


def _tag_set(base: Any) -> tuple[str | None, dict[str, Any]]:
    """The tag feature set that shares a backbone pass with ``base``, and its parameters (None: no tags)."""
    backbones = [getattr(m, "backbone_name", "") for m in feature_members(base)]
    for b in backbones:
        if b in ("musicnn-msd", "musicnn-mtt"):
            return f"{b}-tags", {"score_stats": ["mean"]}
    if "yamnet" in backbones:
        return "yamnet-scores", {"score_stats": ["mean"]}
    return None, {}


def _tag_names(tag_set: str | None) -> list[str]:
    if tag_set is None:
        return []
    if tag_set.startswith("musicnn"):
        from soundsort.backbones.musicnn import tag_names

        return list(tag_names("MSD_musicnn" if "msd" in tag_set else "MTT_musicnn"))
    from soundsort.backbones.yamnet import class_names

    return list(class_names())


def library_config(cfg: EmbedConfig) -> dict[str, Any]:
    """The JSON config a library records for ``cfg`` (featurizer parameters, block widths, tag names, ...)."""
    cfg.check()
    base = get_featurizer(cfg.features, **cfg.feature_params)
    members = feature_members(base)
    widths = [len(m.feature_names()) for m in members]
    if not all(widths) or getattr(base, "feature_names", lambda: [])() == []:
        raise ConfigError(f"feature set {cfg.features!r} does not give vectors (images or sequences); a library "
                          "needs vector features such as yamnet, musicnn-msd, yamnet+musicnn-msd or mfcc")
    tag_set, tag_params = _tag_set(base) if cfg.tags else (None, {})
    return {
        "features": cfg.features, "feature_params": dict(cfg.feature_params), "tags": cfg.tags,
        "featurizer_params": base.params(), "blocks": [m.name for m in members],
        "widths": widths, "tag_set": tag_set, "tag_params": tag_params, "tag_names": _tag_names(tag_set),
        "fingerprint": fp.params(), "describe": cfg.describe, "music_model": cfg.music_model,
        "genre_model": cfg.genre_model, "segments": cfg.segments, "index": cfg.index, "normalize": cfg.normalize,
    }


def config_for(old: Library | None, **overrides: Any) -> EmbedConfig:
    """The configuration of an existing library (or the defaults) with ``overrides`` (None values ignored)."""
    fields = EmbedConfig.__dataclass_fields__
    base = {k: v for k, v in (old.config if old is not None else {}).items() if k in fields}
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigError(f"unknown embed option(s): {', '.join(unknown)}")
    return EmbedConfig(**{**base, **given})


def check_compatible(old: dict[str, Any], new: dict[str, Any], folder: Path) -> None:
    """:class:`LibraryError` unless the configuration ``new`` makes vectors like those of ``old`` (else: --rebuild)."""
    for key in _RECORD_KEYS:
        if old.get(key) != new.get(key):
            what = {"featurizer_params": "features", "widths": "features", "tag_names": "tags", "tag_set": "tags"}
            raise LibraryError(f"the library was built with other {what.get(key, key.replace('_', ' '))} "
                               f"({old.get('features') if key in what else old.get(key)!r}); embed with the same "
                               "options, or --rebuild to recompute every file", folder)
