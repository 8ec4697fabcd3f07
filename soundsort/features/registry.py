"""Feature sets by name: a new one plugs in with one :func:`register_featurizer` call, no core edits.

A :class:`Featurizer` turns a mono signal already at its ``sr`` into one output per segment:
a vector ``(n_segments, D)`` for the classical feature sets (``handcrafted``, ``mfcc``) or an image
``(n_segments, C, H, W)`` for the spectrogram sets (``mel``, ``stft``, ``multi_stft``, for CNNs).
Segments come from :func:`soundsort.audio.windows.segment_bounds` with the featurizer's
``segment_seconds`` / ``hop_seconds`` / ``tail`` / ``min_tail_seconds``.

``params()`` is a JSON-able dict of everything that changes the output, plus ``name`` and a
``version`` integer (bumped when the code's output changes); it keys the feature cache and is what a
saved model records, so :func:`featurizer_from_params` can rebuild the same featurizer later.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from soundsort.audio.decode import load
from soundsort.audio.windows import cut_segments, segment_bounds
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError

# librosa (and the handcrafted / spectrogram code built on it) is imported where those feature sets are
# used, not here: the embedding feature sets, and classify with the bundled models, never need it.
if TYPE_CHECKING:
    from soundsort.features.handcrafted import HandcraftedConfig


@runtime_checkable
class Featurizer(Protocol):
    """What every feature set provides (see the module docstring)."""

    name: str
    sr: int

    def params(self) -> dict[str, Any]:
        """JSON-able parameters that determine the output, including ``name`` and ``version``."""
        ...

    def feature_names(self) -> list[str]:
        """Column names of :meth:`segment_vectors` (empty for image featurizers)."""
        ...

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """One output per segment of mono ``y`` at :attr:`sr`: ``(n_segments, ...)`` float32."""
        ...

    def segment_times(self, n_samples: int) -> np.ndarray:
        """``(n_segments, 2)`` start / end seconds of the segments of a signal of ``n_samples``."""
        ...


@dataclass(frozen=True)
class SegmentFeatures:
    """A file's features: ``values[n_segments, ...]`` and ``times[n_segments, 2]`` (start, end seconds)."""

    values: np.ndarray
    times: np.ndarray

    def __post_init__(self) -> None:
        if self.times.ndim != 2 or self.times.shape[1] != 2 or len(self.values) != len(self.times):
            raise ValueError(f"SegmentFeatures shape mismatch: values {self.values.shape}, times {self.times.shape}")

    def __len__(self) -> int:
        return len(self.values)


class SegmentingFeaturizer:
    """Base class: holds the segmenting parameters and implements :meth:`segment_times`.

    Subclasses set ``name``, ``version``, ``sr`` and the four segment fields, and implement
    :meth:`params`, :meth:`feature_names` and :meth:`segment_vectors`.
    """

    name: str = ""
    version: ClassVar[int] = 1
    sr: int
    segment_seconds: float
    hop_seconds: float
    tail: str
    min_tail_seconds: float

    def bounds(self, n_samples: int) -> list[tuple[int, int]]:
        """Sample ranges of the segments (``end`` may pass ``n_samples`` for a padded tail)."""
        return segment_bounds(int(n_samples), self.sr, self.segment_seconds, self.hop_seconds,
                              tail=self.tail, min_tail_seconds=self.min_tail_seconds)

    def segment_times(self, n_samples: int) -> np.ndarray:
        """``(n_segments, 2)`` float64 start / end seconds; a padded tail's end is clipped to the signal's end."""
        b = self.bounds(n_samples)
        if not b:
            return np.zeros((0, 2), dtype=np.float64)
        arr = np.asarray(b, dtype=np.float64)
        arr[:, 1] = np.minimum(arr[:, 1], float(n_samples))
        return arr / float(self.sr)

    def _check_signal(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ConfigError(f"{self.name}: expected a mono signal (1-D), got shape {y.shape}")
        return y

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.params()}>"


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


SPECTROGRAM_KINDS = ("mel", "stft", "multi_stft")


@dataclass(frozen=True)
class SpectrogramConfig:
    """Parameters of a spectrogram-image featurizer; ``kind`` picks which of the fields matter.

    ``mel``: n_fft, hop_length, n_mels, fmin, fmax → ``(1, n_mels, W)``.
    ``stft``: n_fft, hop_length → ``(1, 1 + n_fft // 2, W)``.
    ``multi_stft``: n_ffts, hop_length, n_bins → ``(len(n_ffts), n_bins, W)``.
    ``W = 1 + segment_samples // hop_length``. Values in dB (floor -100) when ``log``.
    """

    kind: str = "mel"
    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    n_ffts: tuple[int, ...] = (512, 1024, 2048)
    n_bins: int = 256
    log: bool = True
    segment_seconds: float = 3.0
    hop_seconds: float = 3.0
    tail: str = "pad"
    min_tail_seconds: float = 1.0

    _FIELDS_BY_KIND: ClassVar[dict[str, tuple[str, ...]]] = {
        "mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax"),
        "stft": ("n_fft", "hop_length"),
        "multi_stft": ("n_ffts", "hop_length", "n_bins"),
    }

    def __post_init__(self) -> None:
        if self.kind not in SPECTROGRAM_KINDS:
            raise ConfigError(f"spectrogram kind must be one of {', '.join(SPECTROGRAM_KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "n_ffts", tuple(int(n) for n in self.n_ffts))
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_bins"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if not self.n_ffts or any(n < 16 or n % 2 for n in (*self.n_ffts, self.n_fft)):
            raise ConfigError(f"window sizes must be even and at least 16 samples, got n_fft={self.n_fft}, "
                              f"n_ffts={self.n_ffts}")
        top = self.sr / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < top <= self.sr / 2:
            raise ConfigError(f"need 0 <= fmin < fmax <= sr/2, got fmin={self.fmin}, fmax={self.fmax}, sr={self.sr}")
        if not self.segment_seconds > 0 or not self.hop_seconds > 0:
            raise ConfigError("segment_seconds and hop_seconds must be positive")
        if self.tail not in ("pad", "drop"):
            raise ConfigError(f"tail must be 'pad' or 'drop', got {self.tail!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able."""
        d = asdict(self)
        d["n_ffts"] = list(self.n_ffts)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpectrogramConfig:
        """Build from a dict; missing keys take defaults, unknown keys are an error."""
        extra = sorted(set(d) - {f.name for f in fields(cls)})
        if extra:
            raise ConfigError(f"unknown spectrogram parameter(s): {', '.join(extra)}")
        return cls(**dict(d))

    def relevant(self) -> dict[str, Any]:
        """Only the fields that change this kind's output (what :meth:`SpectrogramFeaturizer.params` reports)."""
        d = self.to_dict()
        keep = ("kind", "sr", *self._FIELDS_BY_KIND[self.kind], "log", "segment_seconds", "hop_seconds", "tail",
                "min_tail_seconds")
        return {k: d[k] for k in keep}


class SpectrogramFeaturizer(SegmentingFeaturizer):
    """One spectrogram image ``(C, H, W)`` per segment (zero-padded tail), for CNNs."""

    version: ClassVar[int] = 1

    def __init__(self, config: SpectrogramConfig | None = None, *, name: str | None = None) -> None:
        self.config = config or SpectrogramConfig()
        c = self.config
        self.name = name or c.kind
        self.sr = c.sr
        self.segment_seconds, self.hop_seconds = c.segment_seconds, c.hop_seconds
        self.tail, self.min_tail_seconds = c.tail, c.min_tail_seconds

    def params(self) -> dict[str, Any]:
        """``name``, ``version`` and the config fields that matter for this kind."""
        return {"name": self.name, "version": self.version, **self.config.relevant()}

    def feature_names(self) -> list[str]:
        """Empty: the output is an image, not named columns."""
        return []

    def output_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one segment's image."""
        from soundsort.features.spectrograms import n_frames

        c = self.config
        width = n_frames(int(round(c.segment_seconds * c.sr)), c.hop_length)
        if c.kind == "mel":
            return 1, c.n_mels, width
        if c.kind == "stft":
            return 1, 1 + c.n_fft // 2, width
        return len(c.n_ffts), c.n_bins, width

    def images(self, segments: np.ndarray) -> np.ndarray:
        """Images of equal-length signals ``(n, samples)`` → ``(n, C, H, W)`` float32."""
        from soundsort.features.spectrograms import mel_spectrogram, multi_stft_spectrogram, stft_spectrogram

        c = self.config
        if c.kind == "mel":
            out = mel_spectrogram(segments, c.sr, c.n_fft, c.hop_length, c.n_mels, c.fmin, c.fmax, log=c.log)
            return out[:, None]
        if c.kind == "stft":
            return stft_spectrogram(segments, c.sr, c.n_fft, c.hop_length, log=c.log)[:, None]
        return multi_stft_spectrogram(segments, c.sr, c.n_ffts, c.hop_length, c.n_bins, log=c.log)

    #: segments turned into images at a time: each image depends only on its own segment, so batching
    #: changes nothing but the peak memory (an hour of audio at once would take gigabytes of spectra)
    batch_segments: ClassVar[int] = 64

    def segment_vectors(self, y: np.ndarray) -> np.ndarray:
        """``(n_segments, C, H, W)`` float32 images of mono ``y`` at :attr:`sr` (see :meth:`output_shape`)."""
        y = self._check_signal(y)
        bounds = self.bounds(len(y))
        out = np.zeros((len(bounds), *self.output_shape()), dtype=np.float32)
        seg = int(round(self.segment_seconds * self.sr))
        for i in range(0, len(bounds), self.batch_segments):
            part = bounds[i:i + self.batch_segments]
            out[i:i + len(part)] = self.images(cut_segments(y, part, seg))
        return out


# --------------------------------------------------------------------------------------------------
# the registry

_REGISTRY: dict[str, Callable[..., Featurizer]] = {}


def register_featurizer(name: str, factory: Callable[..., Featurizer]) -> None:
    """Make ``factory(**overrides)`` available as feature set ``name`` (replacing any earlier one)."""
    if not name or not isinstance(name, str):
        raise ConfigError(f"featurizer name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = factory


def get_featurizer(name: str, **overrides: Any) -> Featurizer:
    """Build feature set ``name`` with parameter ``overrides`` (e.g. ``sr=16000, stats=("mean", "std", "skew")``).

    ``"a+b+..."`` names a combination of vector feature sets (see
    :func:`soundsort.features.embeddings.combined_featurizer`).
    """
    if isinstance(name, str) and "+" in name and name not in _REGISTRY:
        from soundsort.features.embeddings import combined_featurizer

        return combined_featurizer(name, **overrides)
    try:
        factory = _REGISTRY[name]
    except KeyError:
        from soundsort.suggest import unknown

        raise ConfigError(unknown("feature set", name, featurizer_names())) from None
    try:
        return factory(**overrides)
    except TypeError as exc:  # a factory without **kwargs given a wrong name
        raise ConfigError(f"feature set {name!r}: {exc}") from None


def featurizer_names() -> list[str]:
    """Registered feature set names, sorted."""
    return sorted(_REGISTRY)


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


def _handcrafted(**overrides: Any) -> HandcraftedFeaturizer:
    from soundsort.features.handcrafted import HandcraftedConfig

    return HandcraftedFeaturizer(HandcraftedConfig.from_dict(overrides), name="handcrafted")


#: The study's baseline: 20 MFCC, mean and std per segment, nothing else.
MFCC_BASELINE = {"n_mfcc": 20, "deltas": False, "chroma": False, "contrast": False, "spectral": False,
                 "tempo": False, "stats": ("mean", "std")}


def _mfcc(**overrides: Any) -> HandcraftedFeaturizer:
    from soundsort.features.handcrafted import HandcraftedConfig

    return HandcraftedFeaturizer(HandcraftedConfig.from_dict({**MFCC_BASELINE, **overrides}), name="mfcc")


def _spectrogram(kind: str) -> Callable[..., SpectrogramFeaturizer]:
    def factory(**overrides: Any) -> SpectrogramFeaturizer:
        given = overrides.pop("kind", kind)
        if given != kind:
            raise ConfigError(f"feature set {kind!r} cannot have kind={given!r}")
        return SpectrogramFeaturizer(SpectrogramConfig.from_dict({**overrides, "kind": kind}))

    factory.__name__ = f"_{kind}"
    return factory


register_featurizer("handcrafted", _handcrafted)
register_featurizer("mfcc", _mfcc)
for _kind in SPECTROGRAM_KINDS:
    register_featurizer(_kind, _spectrogram(_kind))


# --------------------------------------------------------------------------------------------------
# files


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


__all__ = [
    "Featurizer", "HandcraftedFeaturizer", "MFCC_BASELINE", "SPECTROGRAM_KINDS", "SegmentFeatures",
    "SegmentingFeaturizer", "SpectrogramConfig", "SpectrogramFeaturizer", "cache_params", "featurize_array",
    "featurize_file", "featurizer_from_params", "featurizer_names", "get_featurizer", "register_featurizer",
]


def _register_builtin_embeddings() -> None:
    """Register the pretrained-embedding feature sets (``yamnet``, ``musicnn-msd``, ...; :mod:`.embeddings`).

    Imported here, at the end, because that module imports this one; it registers on import.
    """
    import soundsort.features.embeddings  # noqa: F401
    import soundsort.features.patches  # noqa: F401  (yamnet-patches: YAMNet log-mel patches per segment)


_register_builtin_embeddings()
