"""Feature sets ``mel``, ``stft`` and ``multi_stft``: one spectrogram image per segment, for CNNs.

The spectra are :mod:`soundsort.features.spectrograms` (librosa), imported when images are made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from soundsort.audio.windows import cut_segments
from soundsort.errors import ConfigError
from soundsort.features.base import SegmentingFeaturizer
from soundsort.features.registry import register_featurizer

__all__ = ["SPECTROGRAM_KINDS", "SpectrogramConfig", "SpectrogramFeaturizer", "register_builtin"]

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



def _spectrogram(kind: str) -> Callable[..., SpectrogramFeaturizer]:
    def factory(**overrides: Any) -> SpectrogramFeaturizer:
        given = overrides.pop("kind", kind)
        if given != kind:
            raise ConfigError(f"feature set {kind!r} cannot have kind={given!r}")
        return SpectrogramFeaturizer(SpectrogramConfig.from_dict({**overrides, "kind": kind}))

    factory.__name__ = f"_{kind}"
    return factory



_DESCRIPTIONS = {"mel": "log-mel spectrogram images per segment (CNN input)",
                 "stft": "log STFT magnitude images per segment (CNN input)",
                 "multi_stft": "STFT images at several window sizes stacked as channels (CNN input)"}


def register_builtin() -> None:
    """Register ``mel``, ``stft`` and ``multi_stft`` (:mod:`soundsort.features` does, on import)."""
    for kind in SPECTROGRAM_KINDS:
        register_featurizer(kind, _spectrogram(kind), _DESCRIPTIONS[kind])
