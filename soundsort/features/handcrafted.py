"""Handcrafted audio features with librosa: frame-level matrices, per-segment summaries, tempo.

Everything here is a small pure function on arrays and uses librosa's parameter names (``y``, ``sr``,
``n_fft``, ``hop_length``, ``n_mels``, ``n_mfcc``). The STFT magnitude is computed **once** per signal and
every spectral feature is derived from it (and the onset envelope for tempo from the same mel spectrogram);
on long signals it is computed in blocks of frames, so memory stays bounded (about 1 GB for an hour).

Size: one job, the librosa feature table (each group's rows, names and block-wise computation side by side);
split by group, a row's name would sit away from the code that computes it.

Frame-level features are ``(n_features, frames)`` float32 with ``frames = 1 + len(y) // hop_length``
(centred frames), and are *not* normalized across a data set (standardization belongs to the model).

Feature groups (``HandcraftedConfig`` switches), in this row order:

=============  =====  ===========================================================================
group          rows   names
=============  =====  ===========================================================================
mfcc           n      ``mfcc_0`` … ``mfcc_{n-1}`` (librosa defaults: log-power mel, DCT-II ortho)
deltas         2n     ``mfcc_d1_i`` (delta) and ``mfcc_d2_i`` (delta-delta)
chroma         12     ``chroma_C`` … ``chroma_B`` (STFT chroma, tuning fixed at A440, max-normalized
                      per frame as librosa does)
contrast       k+1    ``contrast_0`` … ``contrast_k`` (k octave bands from 200 Hz, as many as fit
                      below Nyquist, at most 6)
spectral       6      ``centroid``, ``bandwidth``, ``rolloff``, ``flatness``, ``zcr``, ``rms`` (window-
                      compensated: a sine of amplitude A gives A/√2)
=============  =====  ===========================================================================

Tempo is one value per segment (``tempo``, BPM), estimated from the onset envelope of the segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import librosa
import numpy as np

from soundsort.audio.windows import segment_bounds
from soundsort.errors import ConfigError

#: Summary statistics :func:`summarize` knows, in the order they may be requested.
STATS = ("mean", "std", "min", "max", "median", "skew", "kurtosis")

#: Pitch-class names for chroma rows (C first, as librosa orders them).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

#: Lowest band edge and most bands for spectral contrast (librosa's defaults).
CONTRAST_FMIN = 200.0
CONTRAST_MAX_BANDS = 6

#: Delta window (librosa's default); shortened on very short signals.
DELTA_WIDTH = 9

_TAILS = ("pad", "drop")


@dataclass(frozen=True)
class HandcraftedConfig:
    """Every parameter of the handcrafted feature set, with its defaults in one place.

    ``sr``, ``n_fft``, ``hop_length``, ``n_mfcc``, ``n_mels`` are librosa's. The group switches
    (``deltas``, ``chroma``, ``contrast``, ``spectral``, ``tempo``) select rows; ``stats`` are the summary
    statistics per segment (see :data:`STATS`). ``segment_seconds`` / ``hop_seconds`` / ``tail`` /
    ``min_tail_seconds`` cut a signal into segments as :func:`soundsort.audio.windows.segment_bounds` does.
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 20
    n_mels: int = 128
    deltas: bool = True
    chroma: bool = True
    contrast: bool = True
    spectral: bool = True
    tempo: bool = True
    stats: tuple[str, ...] = ("mean", "std")
    segment_seconds: float = 3.0
    hop_seconds: float = 3.0
    tail: str = "pad"
    min_tail_seconds: float = 1.0

    def __post_init__(self) -> None:
        # normalize (e.g. a list from JSON) so the frozen config stays hashable and comparable
        object.__setattr__(self, "stats", tuple(str(s) for s in self.stats))
        for name in ("sr", "n_fft", "hop_length", "n_mfcc", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.n_fft < 16 or self.n_fft % 2:
            raise ConfigError(f"n_fft must be an even number of at least 16, got {self.n_fft}")
        if self.n_mfcc > self.n_mels:
            raise ConfigError(f"n_mfcc ({self.n_mfcc}) cannot exceed n_mels ({self.n_mels})")
        unknown = [s for s in self.stats if s not in STATS]
        if unknown or not self.stats:
            raise ConfigError(f"stats must be a non-empty subset of {', '.join(STATS)}; got {list(self.stats)}")
        if len(set(self.stats)) != len(self.stats):
            raise ConfigError(f"stats repeat a name: {list(self.stats)}")
        if not self.segment_seconds > 0 or not self.hop_seconds > 0:
            raise ConfigError("segment_seconds and hop_seconds must be positive, "
                              f"got {self.segment_seconds} and {self.hop_seconds}")
        if self.tail not in _TAILS:
            raise ConfigError(f"tail must be 'pad' or 'drop', got {self.tail!r}")
        if self.min_tail_seconds < 0:
            raise ConfigError(f"min_tail_seconds must be >= 0, got {self.min_tail_seconds}")
        object.__setattr__(self, "segment_seconds", float(self.segment_seconds))
        object.__setattr__(self, "hop_seconds", float(self.hop_seconds))
        object.__setattr__(self, "min_tail_seconds", float(self.min_tail_seconds))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (``stats`` as a list)."""
        d = asdict(self)
        d["stats"] = list(self.stats)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HandcraftedConfig:
        """Build from :meth:`to_dict` output; missing keys take defaults, unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise ConfigError(f"unknown handcrafted feature parameter(s): {', '.join(extra)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> HandcraftedConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return HandcraftedConfig.from_dict({**self.to_dict(), **changes})


# --------------------------------------------------------------------------------------------------
# small building blocks


def stft_magnitude(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``|STFT(y)|`` with a Hann window and centred frames: ``(1 + n_fft // 2, 1 + len(y) // hop_length)`` float32.

    Centring is explicit zero padding by ``n_fft // 2`` on both sides (what librosa's ``center=True``
    does), so signals shorter than ``n_fft`` need no special case and raise no warning.
    """
    y = _as_signal(y)
    return _stft_frames(y, 0, 1 + len(y) // hop_length, n_fft=n_fft, hop_length=hop_length)


def _stft_frames(y: np.ndarray, f0: int, f1: int, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Centred STFT magnitude frames ``[f0, f1)`` of ``y`` (columns ``f0:f1`` of :func:`stft_magnitude`),
    from just the samples they need."""
    start, stop = f0 * hop_length, (f1 - 1) * hop_length + n_fft  # in y zero-padded by n_fft // 2 (centring)
    spec = librosa.stft(_padded_slice(y, start, stop, n_fft // 2, "constant"), n_fft=n_fft,
                        hop_length=hop_length, center=False)
    return np.abs(spec).astype(np.float32, copy=False)


def contrast_bands(sr: int, fmin: float = CONTRAST_FMIN) -> int:
    """How many spectral-contrast octave bands fit below Nyquist at ``sr`` (at most 6, at least 1)."""
    n = CONTRAST_MAX_BANDS
    while n > 1 and fmin * 2.0 ** (n - 1) >= sr / 2.0:
        n -= 1
    return n


def contrast_peak_valley(S: np.ndarray, freq: np.ndarray, sr: int, *, n_bands: int, fmin: float = CONTRAST_FMIN,
                         quantile: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame peak and valley energies of ``librosa.feature.spectral_contrast``'s octave bands.

    ``spectral_contrast`` is ``power_to_db(peak) - power_to_db(valley)``, whose 80 dB floors are relative to
    the loudest frame: splitting those two steps lets long signals be processed in blocks and floored over
    the whole signal at the end (:func:`contrast_from_peak_valley`). Same bands and quantile rule as librosa.
    """
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    if np.any(octa[:-1] >= 0.5 * sr):
        raise ConfigError(f"spectral contrast: {n_bands} bands from {fmin} Hz exceed Nyquist at {sr} Hz")
    valley = np.zeros((n_bands + 1, S.shape[-1]))
    peak = np.zeros_like(valley)
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:])):
        band = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(band)
        if k > 0:
            band[idx[0] - 1] = True
        if k == n_bands:
            band[idx[-1] + 1:] = True
        sub = S[band, :]
        if k < n_bands:
            sub = sub[:-1, :]
        take = int(np.maximum(np.rint(quantile * np.sum(band)), 1))
        ordered = np.sort(sub, axis=0)
        valley[k] = np.mean(ordered[:take], axis=0)
        peak[k] = np.mean(ordered[-take:], axis=0)
    return peak, valley


def contrast_from_peak_valley(peak: np.ndarray, valley: np.ndarray) -> np.ndarray:
    """``spectral_contrast`` from :func:`contrast_peak_valley`'s output over the whole signal (librosa's dB floors)."""
    return librosa.power_to_db(peak) - librosa.power_to_db(valley)


def centroid_bandwidth(S: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spectral centroid and (2nd-order) bandwidth per frame of magnitude ``S`` at bin frequencies ``freq``.

    The same quantities as ``librosa.feature.spectral_centroid`` / ``spectral_bandwidth`` (p=2), computed
    with two matrix-vector products instead of normalizing ``S`` twice (several times faster). An all-zero
    frame gives 0 for both.
    """
    S = np.asarray(S, dtype=np.float32)
    f = np.asarray(freq, dtype=np.float64)
    total = S.sum(axis=0, dtype=np.float64)
    first = f @ S
    second = (f * f) @ S
    ok = total > np.finfo(np.float32).tiny
    safe = np.where(ok, total, 1.0)
    centroid = np.where(ok, first / safe, 0.0)
    var = np.where(ok, second / safe - centroid**2, 0.0)
    bandwidth = np.sqrt(np.maximum(var, 0.0))
    return centroid[None, :].astype(np.float32), bandwidth[None, :].astype(np.float32)


def _as_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ConfigError(f"expected a mono signal (1-D array), got shape {y.shape}")
    if y.size == 0:
        raise ConfigError("empty signal (0 samples)")
    if not np.all(np.isfinite(y)):
        raise ConfigError("signal contains NaN or Inf samples")
    return y


def _delta_pair(mfcc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = mfcc.shape[1]
    width = min(DELTA_WIDTH, frames if frames % 2 else frames - 1)
    if width < 3:  # one or two frames: no slope to measure
        zero = np.zeros_like(mfcc)
        return zero, zero.copy()
    d1 = librosa.feature.delta(mfcc, width=width, order=1, mode="interp")
    d2 = librosa.feature.delta(mfcc, width=width, order=2, mode="interp")
    return d1, d2


def frame_feature_names(cfg: HandcraftedConfig, sr: int | None = None) -> list[str]:
    """Row names of :func:`frame_features` for ``cfg`` at sample rate ``sr`` (default ``cfg.sr``)."""
    sr = cfg.sr if sr is None else int(sr)
    names = [f"mfcc_{i}" for i in range(cfg.n_mfcc)]
    if cfg.deltas:
        names += [f"mfcc_d1_{i}" for i in range(cfg.n_mfcc)]
        names += [f"mfcc_d2_{i}" for i in range(cfg.n_mfcc)]
    if cfg.chroma:
        names += [f"chroma_{p}" for p in PITCH_CLASSES]
    if cfg.contrast:
        names += [f"contrast_{i}" for i in range(contrast_bands(sr) + 1)]
    if cfg.spectral:
        names += ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms"]
    return names


#: STFT frames computed at a time (~190 s at 22.05 kHz, hop 512). Every STFT-derived row is a function of
#: its frame's own samples, so blocks change nothing but peak memory: an hour in one STFT takes ~5 GB.
BLOCK_FRAMES = 8192


def _padded_slice(y: np.ndarray, start: int, stop: int, half: int, mode: str) -> np.ndarray:
    """``np.pad(y, half, mode)[start:stop]`` without padding (copying) the whole signal."""
    n = len(y)
    lo, hi = start - half, stop - half  # in y's own coordinates
    core = y[max(lo, 0):max(min(hi, n), 0)]
    left, right = max(0, min(-lo, stop - start)), max(0, hi - max(n, lo))
    if not left and not right:
        return core
    if mode == "edge":
        first, last = (y[0], y[-1]) if n else (0.0, 0.0)
        return np.concatenate([np.full(left, first, y.dtype), core, np.full(right, last, y.dtype)])
    return np.concatenate([np.zeros(left, y.dtype), core, np.zeros(right, y.dtype)])


def _spectral_block(y: np.ndarray, sr: int, cfg: HandcraftedConfig, f0: int, f1: int) -> tuple[np.ndarray, np.ndarray]:
    """Mel power and the other STFT-derived rows (chroma, contrast, spectral) of centred frames ``[f0, f1)``."""
    n_fft, hop = cfg.n_fft, cfg.hop_length
    S = _stft_frames(y, f0, f1, n_fft=n_fft, hop_length=hop)
    power = S**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_fft=n_fft, n_mels=cfg.n_mels)
    freq = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    rows: list[np.ndarray] = []
    if cfg.chroma:
        rows.append(librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, tuning=0.0))
    if cfg.contrast:  # peaks and valleys: floored in dB over the whole signal later
        rows.extend(contrast_peak_valley(S, freq, sr, n_bands=contrast_bands(sr)))
    if cfg.spectral:
        rows.extend(centroid_bandwidth(S, freq))
        rows.append(librosa.feature.spectral_rolloff(S=S, sr=sr, n_fft=n_fft, freq=freq))
        rows.append(librosa.feature.spectral_flatness(S=S))
        # librosa's centred ZCR pads with edge values: the same frames from the edge-padded slice
        start, stop = f0 * hop, (f1 - 1) * hop + n_fft
        rows.append(librosa.feature.zero_crossing_rate(_padded_slice(y, start, stop, n_fft // 2, "edge"),
                                                       frame_length=n_fft, hop_length=hop, center=False))
        # librosa's rms(S=) is the RMS of the *windowed* frame; undo the Hann window's energy loss
        # (mean(w²) = 3/8) so a sine of amplitude A reads A/√2 as in the time domain
        window_rms = float(np.sqrt(np.mean(librosa.filters.get_window("hann", n_fft, fftbins=True) ** 2)))
        rows.append(librosa.feature.rms(S=S, frame_length=n_fft, hop_length=hop) / window_rms)
    frames = f1 - f0
    other = (np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1, frames) for r in rows], axis=0)
             if rows else np.zeros((0, frames), np.float64))
    return mel, other


def _frame_features_and_onset(
    y: np.ndarray, sr: int, cfg: HandcraftedConfig, *, block_frames: int | None = None
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """The frame matrix, its row names, and the onset envelope (when ``cfg.tempo``) from one STFT.

    The STFT and the rows derived frame by frame from it are computed ``block_frames`` (default
    :data:`BLOCK_FRAMES`) at a time; what depends on the whole signal — the log-mel and spectral-contrast
    80 dB floors (relative to the loudest frame), MFCC deltas, the onset envelope — is computed over the
    assembled frames, so the result does not depend on the blocks (up to float rounding).
    """
    y = _as_signal(y)
    sr = int(sr)
    total = 1 + len(y) // cfg.hop_length
    step = max(1, int(BLOCK_FRAMES if block_frames is None else block_frames))
    parts = [_spectral_block(y, sr, cfg, f0, min(total, f0 + step)) for f0 in range(0, total, step)]
    mel = parts[0][0] if len(parts) == 1 else np.concatenate([m for m, _ in parts], axis=1)
    other = parts[0][1] if len(parts) == 1 else np.concatenate([o for _, o in parts], axis=1)
    del parts
    log_mel = librosa.power_to_db(mel)  # librosa's own mfcc default: ref=1, amin=1e-10, top_db=80
    rows: list[np.ndarray] = []
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=cfg.n_mfcc)
    rows.append(mfcc)
    if cfg.deltas:
        rows.extend(_delta_pair(mfcc))
    if cfg.chroma:
        rows.append(other[:12])
        other = other[12:]
    if cfg.contrast:
        k = contrast_bands(sr) + 1
        rows.append(contrast_from_peak_valley(other[:k], other[k:2 * k]))
        other = other[2 * k:]
    rows.append(other)  # the spectral rows
    F = np.concatenate([np.asarray(r, dtype=np.float32).reshape(-1, total) for r in rows], axis=0)
    F = np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)  # e.g. bandwidth of digital silence
    onset = None
    if cfg.tempo:
        onset = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=cfg.hop_length).astype(np.float32)
    return F, frame_feature_names(cfg, sr), onset


# --------------------------------------------------------------------------------------------------
# public feature functions


def frame_features(y: np.ndarray, sr: int, cfg: HandcraftedConfig | None = None) -> tuple[np.ndarray, list[str]]:
    """Frame-level features of mono ``y`` at rate ``sr`` → ``(F, names)``.

    ``F`` is ``(len(names), 1 + len(y) // cfg.hop_length)`` float32, not normalized; the rows are the
    groups enabled in ``cfg`` (see the module docstring). Tempo is per segment, see :func:`tempo`.
    """
    F, names, _ = _frame_features_and_onset(y, sr, cfg or HandcraftedConfig())
    return F, names


def onset_envelope(y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512,
                   n_mels: int = 128) -> np.ndarray:
    """Onset strength per frame (spectral flux of the log-mel spectrogram), ``(1 + len(y) // hop_length,)``."""
    return _onset_from_signal(y, sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)


def _onset_from_signal(y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512,
                       n_mels: int = 128) -> np.ndarray:
    S = stft_magnitude(y, n_fft=n_fft, hop_length=hop_length)
    mel = librosa.feature.melspectrogram(S=S**2, sr=sr, n_fft=n_fft, n_mels=n_mels)
    return librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=hop_length).astype(np.float32)


def tempo(
    y: np.ndarray | None = None,
    sr: int = 22050,
    *,
    onset_envelope: np.ndarray | None = None,
    hop_length: int = 512,
    n_fft: int = 2048,
) -> float:
    """Global tempo (BPM) of ``y`` (or of a precomputed ``onset_envelope``), librosa's autocorrelation estimate.

    Returns 0.0 when there is no onset activity to measure (silence, or fewer than two frames).
    """
    if onset_envelope is None:
        if y is None:
            raise ConfigError("tempo needs y or onset_envelope")
        onset_envelope = _onset_from_signal(y, sr, n_fft=n_fft, hop_length=hop_length)
    env = np.asarray(onset_envelope, dtype=np.float32)
    if env.ndim != 1:
        raise ConfigError(f"onset envelope must be 1-D, got shape {env.shape}")
    if env.size < 2 or not np.any(env > 0):
        return 0.0
    bpm = librosa.feature.tempo(onset_envelope=env, sr=sr, hop_length=hop_length)
    value = float(np.asarray(bpm).reshape(-1)[0])
    return value if np.isfinite(value) else 0.0


def summary_names(names: Sequence[str], stats: Iterable[str] = ("mean", "std")) -> list[str]:
    """Names of :func:`summarize`'s vector: for each stat, every row name ``f"{name}_{stat}"``."""
    stats = tuple(stats)
    return [f"{n}_{s}" for s in stats for n in names]


def summarize(
    F: np.ndarray,
    stats: Iterable[str] = ("mean", "std"),
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Summary statistics over frames of ``F`` (``(n_features, frames)``) → ``(vector, names)``.

    The vector is float32, stat-major: all rows' first statistic, then all rows' second, ...
    (``mfcc_0_mean, mfcc_1_mean, …, mfcc_0_std, …``). ``stats`` are from :data:`STATS`; ``std`` is the
    population standard deviation; ``skew`` / ``kurtosis`` (excess) are 0 for a constant row, so the
    vector never holds NaN for finite input. ``names`` default to ``f0, f1, …``.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2 or F.shape[1] == 0:
        raise ConfigError(f"summarize needs a (n_features, frames>=1) matrix, got shape {F.shape}")
    stats = tuple(stats)
    unknown = [s for s in stats if s not in STATS]
    if unknown or not stats:
        raise ConfigError(f"stats must be a non-empty subset of {', '.join(STATS)}; got {list(stats)}")
    if names is None:
        names = [f"f{i}" for i in range(F.shape[0])]
    elif len(names) != F.shape[0]:
        raise ConfigError(f"{len(names)} names for {F.shape[0]} feature rows")
    mean = F.mean(axis=1)
    centred = F - mean[:, None]
    var = (centred**2).mean(axis=1)
    std = np.sqrt(var)
    parts: list[np.ndarray] = []
    for s in stats:
        if s == "mean":
            parts.append(mean)
        elif s == "std":
            parts.append(std)
        elif s == "min":
            parts.append(F.min(axis=1))
        elif s == "max":
            parts.append(F.max(axis=1))
        elif s == "median":
            parts.append(np.median(F, axis=1))
        else:
            # relative threshold: float noise on a constant row must not turn into a huge skew
            flat = std <= 1e-7 * np.maximum(1.0, np.abs(mean))
            safe = np.where(flat, 1.0, std)
            if s == "skew":
                parts.append(np.where(flat, 0.0, (centred**3).mean(axis=1) / safe**3))
            else:  # kurtosis
                parts.append(np.where(flat, 0.0, (centred**4).mean(axis=1) / safe**4 - 3.0))
    return np.concatenate(parts).astype(np.float32), summary_names(names, stats)


# --------------------------------------------------------------------------------------------------
# segments


def segment_feature_names(cfg: HandcraftedConfig, sr: int | None = None) -> list[str]:
    """Names of the per-segment vector :func:`segment_features` returns."""
    names = summary_names(frame_feature_names(cfg, sr), cfg.stats)
    return names + ["tempo"] if cfg.tempo else names


def frame_range(start: int, end: int, n_samples: int, n_frames: int, hop_length: int) -> tuple[int, int]:
    """Frames ``[lo, hi)`` whose centres lie in samples ``[start, min(end, n_samples))`` (at least one frame)."""
    stop = min(end, n_samples)
    lo = min(-(-start // hop_length), n_frames - 1)
    hi = min(max(lo + 1, -(-stop // hop_length)), n_frames)
    return lo, hi


def segment_features(y: np.ndarray, sr: int, cfg: HandcraftedConfig | None = None) -> tuple[np.ndarray, list[str]]:
    """One summary vector per segment of ``y`` → ``(X (n_segments, D) float32, names)``.

    Frame features are computed once over the whole signal; each segment (from ``segment_bounds`` with
    the config's ``segment_seconds`` / ``hop_seconds`` / ``tail`` / ``min_tail_seconds``) summarizes the
    frames centred inside it. A padded tail segment therefore summarizes only real audio (no zero
    frames skew its statistics). With ``cfg.tempo`` the last column is the segment's tempo in BPM.
    """
    cfg = cfg or HandcraftedConfig()
    y = np.asarray(y, dtype=np.float32)
    names = segment_feature_names(cfg, sr)
    bounds = segment_bounds(len(y), int(sr), cfg.segment_seconds, cfg.hop_seconds, tail=cfg.tail,
                            min_tail_seconds=cfg.min_tail_seconds)
    if not bounds:
        return np.zeros((0, len(names)), dtype=np.float32), names
    F, frame_names, onset = _frame_features_and_onset(y, sr, cfg)
    out = np.empty((len(bounds), len(names)), dtype=np.float32)
    for i, (a, b) in enumerate(bounds):
        lo, hi = frame_range(a, b, len(y), F.shape[1], cfg.hop_length)
        vec, _ = summarize(F[:, lo:hi], cfg.stats, frame_names)
        if cfg.tempo:
            assert onset is not None
            out[i, :-1] = vec
            out[i, -1] = tempo(onset_envelope=onset[lo:hi], sr=sr, hop_length=cfg.hop_length)
        else:
            out[i] = vec
    return out, names


__all__ = [
    "HandcraftedConfig", "PITCH_CLASSES", "STATS", "centroid_bandwidth", "contrast_bands", "frame_feature_names", "frame_features",
    "frame_range", "onset_envelope", "segment_feature_names", "segment_features", "stft_magnitude", "summarize",
    "summary_names", "tempo",
]
