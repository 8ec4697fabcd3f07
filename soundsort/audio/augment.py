"""Audio augmentation for robust training, as small pure numpy functions (``y``, ``sr``, a seeded RNG).

Users bring telephone-band recordings, 1-2 s snippets, music buried in street noise and quiet or
clipped levels; training on such variants of clean clips keeps a model honest on them.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from soundsort.audio.resample import resample


def telephone(y: np.ndarray, sr: int, *, band_sr: int = 8000) -> np.ndarray:
    """Band-limit to a telephone channel: down to ``band_sr`` and back (keeps length and rate)."""
    if sr <= band_sr:
        return np.asarray(y, np.float32)
    low = resample(y, sr, band_sr)
    back = resample(low, band_sr, sr)
    out = np.zeros(len(y), np.float32)
    out[: min(len(y), len(back))] = back[: len(y)]
    return out


def gain(y: np.ndarray, db: float, *, clip: bool = True) -> np.ndarray:
    """Scale by ``db`` decibels (clipping to [-1, 1] like a real converter when ``clip``)."""
    out = np.asarray(y, np.float32) * np.float32(10.0 ** (db / 20.0))
    return np.clip(out, -1.0, 1.0) if clip else out


def random_crop(y: np.ndarray, sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A random excerpt of ``seconds`` (the whole signal when shorter)."""
    n = int(round(seconds * sr))
    if len(y) <= n:
        return np.asarray(y, np.float32)
    start = int(rng.integers(0, len(y) - n + 1))
    return np.asarray(y[start:start + n], np.float32)


def mix_noise(y: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add ``noise`` (looped or cropped at a random offset) at a signal-to-noise ratio of ``snr_db``."""
    y = np.asarray(y, np.float32)
    noise = np.asarray(noise, np.float32)
    if len(noise) == 0:
        return y
    if len(noise) < len(y):
        noise = np.tile(noise, int(np.ceil(len(y) / len(noise))))
    start = int(rng.integers(0, len(noise) - len(y) + 1))
    seg = noise[start:start + len(y)]
    p_sig = float(np.mean(y ** 2)) + 1e-12
    p_noise = float(np.mean(seg ** 2)) + 1e-12
    scale = np.sqrt(p_sig / (p_noise * 10.0 ** (snr_db / 10.0)))
    out = y + np.float32(scale) * seg
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    return out / np.float32(peak) * np.float32(0.99) if peak > 1.0 else out


@dataclass(frozen=True)
class AugmentConfig:
    """How often each degradation is applied when making an augmented copy of a clip."""

    p_telephone: float = 0.3
    p_gain: float = 0.5
    gain_db: tuple[float, float] = (-20.0, 12.0)  # +12 dB on loud material clips, like a hot recording
    p_crop: float = 0.3
    crop_seconds: tuple[float, float] = (1.0, 2.0)
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (0.0, 10.0)


@dataclass(frozen=True)
class AugmentedCopy:
    """A degraded copy of a clip and which noise recording (index into ``noises``) was mixed in, -1 if none."""

    y: np.ndarray
    noise_index: int = -1


def augment_config(params: Mapping[str, Any] | None = None) -> AugmentConfig:
    """An :class:`AugmentConfig` from ``{name: value}`` overrides, checked (probabilities in [0, 1], ranges low ≤ high).

    Raises :class:`~soundsort.errors.ConfigError` naming an unknown or bad setting.
    """
    from soundsort.errors import ConfigError

    known = {f.name for f in fields(AugmentConfig)}
    values: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in known:
            raise ConfigError(f"unknown augmentation setting {key!r}; known: {', '.join(sorted(known))}")
        if key.startswith("p_"):
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"augmentation setting {key} must be a probability in [0, 1], got {value!r}")
            values[key] = float(value)
        else:
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) for v in value) or value[0] > value[1]):
                raise ConfigError(f"augmentation setting {key} must be a range [low, high], got {value!r}")
            values[key] = (float(value[0]), float(value[1]))
    if values.get("crop_seconds", (1.0,))[0] <= 0:
        raise ConfigError("augmentation setting crop_seconds must be positive")
    return replace(AugmentConfig(), **values)


def augment_copy(y: np.ndarray, sr: int, rng: np.random.Generator, noises: Sequence[np.ndarray] = (),
                 cfg: AugmentConfig = AugmentConfig()) -> AugmentedCopy:
    """One randomly degraded copy of ``y`` (crop, telephone band, noise at 0-10 dB SNR, gain).

    ``noises`` is indexed only for the recording actually mixed in, so it may be a lazy sequence
    (:class:`NoisePool`) that decodes on demand.
    """
    out = np.asarray(y, np.float32)
    used = -1
    if rng.random() < cfg.p_crop:
        out = random_crop(out, sr, float(rng.uniform(*cfg.crop_seconds)), rng)
    if rng.random() < cfg.p_telephone:
        out = telephone(out, sr)
    if len(noises) and rng.random() < cfg.p_noise:
        used = int(rng.integers(len(noises)))
        out = mix_noise(out, noises[used], float(rng.uniform(*cfg.snr_db)), rng)
    if rng.random() < cfg.p_gain:
        out = gain(out, float(rng.uniform(*cfg.gain_db)))
    return AugmentedCopy(out, used)


def augment(y: np.ndarray, sr: int, rng: np.random.Generator, noises: Sequence[np.ndarray] = (),
            cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """One randomly degraded copy of ``y`` (see :func:`augment_copy`)."""
    return augment_copy(y, sr, rng, noises, cfg).y


class NoisePool(Sequence[np.ndarray]):
    """Noise recordings decoded on first use at rate ``sr`` (at most ``max_seconds`` each, ``keep`` kept in memory).

    A file that cannot be decoded raises :class:`~soundsort.errors.AudioError` naming it.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], sr: int, *, max_seconds: float = 300.0,
                 keep: int = 32) -> None:
        self.paths = [str(p) for p in paths]
        self.sr = int(sr)
        self.max_seconds = float(max_seconds)
        self.keep = int(keep)
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        if i in self._decoded:
            self._decoded.move_to_end(i)
            return self._decoded[i]
        from soundsort.audio.decode import load

        y, _ = load(self.paths[i], self.sr, max_seconds=self.max_seconds)
        self._decoded[i] = y
        while len(self._decoded) > self.keep:
            self._decoded.popitem(last=False)
        return y
