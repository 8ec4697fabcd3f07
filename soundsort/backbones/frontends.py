"""Audio front ends of pretrained backbones, as small vectorized numpy functions.

The YAMNet front end follows the published feature definition of YAMNet
(``features.py`` / ``params.py`` in tensorflow/models ``research/audioset/yamnet``):

* 16 kHz mono waveform, zero-padded *at the end* so that it covers a whole number of patches
  (:func:`yamnet_pad_waveform`); no centring, no reflection padding;
* STFT frames of 25 ms (``win_length=400``) every 10 ms (``hop_length=160``), each frame
  multiplied by a *periodic* Hann window and zero-padded at its end to ``n_fft=512``;
* the *magnitude* (not power) spectrum, 257 bins;
* 64 mel bands from 125 to 7500 Hz built like TensorFlow's ``linear_to_mel_weight_matrix``:
  HTK mel scale, triangles that are linear *in mel* (librosa's triangles are linear in Hz, so
  ``librosa.filters.mel(htk=True, norm=None)`` is close to, but not the same as, this matrix),
  the DC bin always zero, no area normalisation;
* ``log(mel + 0.001)``;
* patches of 96 frames (0.96 s) every 48 frames (0.48 s).

The whole file's log-mel spectrogram is computed once; frames and patches are strided views.

The FFT is SciPy's pocketfft (:func:`rfft`, the very kernel ``scipy.fft.rfft`` calls, loaded without
importing ``scipy.fft``, whose import costs a quarter of a second: a one-file ``classify`` should not
wait for it), and the mel product is a sparse one in the order ``scipy.sparse`` sums it; both give
SciPy's bytes exactly (``tests/test_yamnet.py``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# YAMNet's parameters (params.py).
YAMNET_SR = 16000
YAMNET_WIN_LENGTH = 400  # 25 ms
YAMNET_HOP_LENGTH = 160  # 10 ms
YAMNET_N_FFT = 512
YAMNET_N_MELS = 64
YAMNET_FMIN = 125.0
YAMNET_FMAX = 7500.0
YAMNET_LOG_OFFSET = 0.001
YAMNET_PATCH_FRAMES = 96  # 0.96 s
YAMNET_PATCH_HOP_FRAMES = 48  # 0.48 s

_BLOCK_FRAMES = 4096  # STFT frames per block in log_mel_spectrogram (~41 s at a 10 ms hop)


def hann_periodic(win_length: int) -> np.ndarray:
    """The periodic Hann window ``0.5 - 0.5 cos(2 pi n / N)`` (``scipy.signal.get_window('hann', N)``)."""
    n = np.arange(win_length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)).astype(np.float32)


def hz_to_mel_htk(frequencies: np.ndarray | float) -> np.ndarray:
    """HTK mel scale, ``1127 ln(1 + f / 700)`` (as in TensorFlow's mel ops)."""
    return 1127.0 * np.log1p(np.asarray(frequencies, dtype=np.float64) / 700.0)


def mel_htk_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_htk`."""
    return 700.0 * np.expm1(np.asarray(mels, dtype=np.float64) / 1127.0)


@lru_cache(maxsize=8)
def _mel_matrix_cached(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    n_bins = n_fft // 2 + 1
    # Bin centre frequencies as TF spaces them: linspace(0, nyquist, n_bins); the DC bin is dropped
    # and later given an all-zero row.
    bin_mel = hz_to_mel_htk(np.linspace(0.0, sr / 2.0, n_bins)[1:])[:, None]
    edges = np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    lower_slope = (bin_mel - lower) / (center - lower)
    upper_slope = (upper - bin_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slope, upper_slope))
    out = np.zeros((n_bins, n_mels), dtype=np.float32)
    out[1:] = weights
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _mel_rows(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per mel band, its non-zero bins (ascending) and their float32 weights."""
    # ~2 non-zeros per bin: a sparse product is ~5x cheaper than BLAS here, and single-threaded, so
    # it starts no OpenBLAS threads that would busy-wait on the cores the network needs.
    w = _mel_matrix_cached(sr, n_fft, n_mels, fmin, fmax)
    return tuple((np.flatnonzero(w[:, m]), w[np.flatnonzero(w[:, m]), m]) for m in range(n_mels))


def _mel_product(mag: np.ndarray, rows: tuple[tuple[np.ndarray, np.ndarray], ...]) -> np.ndarray:
    """``mag[frames, bins] @ W`` for the sparse ``W`` of ``rows``, float32, summed bin by bin in ascending
    order from zero: the bytes ``mag @ scipy.sparse.csc_array(W)`` gives (its CSR kernel adds the products
    ``w * x`` one by one, each rounded, as here)."""
    mag_t = np.ascontiguousarray(mag.T, dtype=np.float32)
    out_t = np.zeros((len(rows), mag.shape[0]), dtype=np.float32)
    tmp = np.empty(mag.shape[0], dtype=np.float32)
    for m, (bins, weights) in enumerate(rows):
        row = out_t[m]
        for b, w in zip(bins, weights):
            np.multiply(mag_t[b], w, out=tmp)
            row += tmp
    return out_t.T


_PFFT: Any = None
_PFFT_LOCK = threading.Lock()
_PFFT_NAME = "scipy.fft._pocketfft.pypocketfft"


def _pocketfft() -> Any:
    """SciPy's compiled pocketfft module, loaded from its file without running ``scipy.fft``'s imports
    (``False`` when that cannot be done: :func:`rfft` then calls ``scipy.fft.rfft`` itself)."""
    global _PFFT
    if _PFFT is None:
        with _PFFT_LOCK:
            if _PFFT is None:
                _PFFT = sys.modules.get(_PFFT_NAME) or _load_pocketfft() or False
    return _PFFT


def _load_pocketfft() -> Any:
    try:
        spec = importlib.util.find_spec("scipy")
        if spec is None or spec.origin is None:
            return None
        folder = Path(spec.origin).parent / "fft" / "_pocketfft"
        found = [folder / f"pypocketfft{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        found = [f for f in found if f.is_file()]
        if not found:
            return None
        loader = importlib.machinery.ExtensionFileLoader(_PFFT_NAME, str(found[0]))
        mod_spec = importlib.util.spec_from_file_location(_PFFT_NAME, found[0], loader=loader)
        if mod_spec is None:
            return None
        module = importlib.util.module_from_spec(mod_spec)
        loader.exec_module(module)
        if not callable(getattr(module, "r2c", None)):
            return None
        sys.modules.setdefault(_PFFT_NAME, module)  # scipy.fft, if imported later, uses this same module
        return sys.modules[_PFFT_NAME]
    except Exception:  # any surprise: scipy.fft's own way
        return None


def rfft(x: np.ndarray, n: int | None = None) -> np.ndarray:
    """``scipy.fft.rfft(x, n=n, axis=-1)`` of a float32 or float64 array: the same kernel, arguments and
    zero padding, so the same bytes."""
    x = np.asarray(x)
    pfft = _pocketfft() if x.dtype in (np.float32, np.float64) else False
    if not pfft:
        import scipy.fft

        return scipy.fft.rfft(x, n=n, axis=-1)
    x = np.array(x, dtype=x.dtype.newbyteorder("="), copy=not x.flags["ALIGNED"])
    if n is not None and x.shape[-1] != n:
        if x.shape[-1] > n:
            x = x[..., :n]
        else:
            padded = np.zeros((*x.shape[:-1], n), x.dtype)
            padded[..., : x.shape[-1]] = x
            x = padded
    return pfft.r2c(x, (x.ndim - 1,), True, 0, None, 1)  # forward, no normalization, one thread


def mel_matrix(
    *,
    sr: int = YAMNET_SR,
    n_fft: int = YAMNET_N_FFT,
    n_mels: int = YAMNET_N_MELS,
    fmin: float = YAMNET_FMIN,
    fmax: float = YAMNET_FMAX,
) -> np.ndarray:
    """``[n_fft // 2 + 1, n_mels]`` weights, TensorFlow's ``linear_to_mel_weight_matrix`` construction.

    Multiply a ``[frames, bins]`` spectrogram on the right by it. The array is read-only and cached.
    """
    return _mel_matrix_cached(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax))


def frame_signal(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``[n_frames, frame_length]`` read-only strided view of ``y``'s complete frames (no centring).

    Frame ``t`` is ``y[t * hop_length : t * hop_length + frame_length]``; an incomplete last frame
    is dropped (``tf.signal.frame`` with ``pad_end=False``). Too short a signal gives 0 frames.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {y.shape}")
    if len(y) < frame_length:
        return np.zeros((0, frame_length), dtype=y.dtype)
    view = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]
    return view


def stft_magnitude(
    y: np.ndarray,
    *,
    n_fft: int = YAMNET_N_FFT,
    win_length: int = YAMNET_WIN_LENGTH,
    hop_length: int = YAMNET_HOP_LENGTH,
) -> np.ndarray:
    """``[frames, n_fft // 2 + 1]`` float32 magnitude spectrogram, ``tf.signal.stft`` conventions.

    Each ``win_length`` frame is multiplied by a periodic Hann window and zero-padded at its end
    to ``n_fft`` samples; frames start at 0 and are not centred.
    """
    frames = frame_signal(np.asarray(y, dtype=np.float32), win_length, hop_length)
    windowed = frames * hann_periodic(win_length)
    spec = rfft(windowed, n=n_fft)
    return np.abs(spec).astype(np.float32, copy=False)


def log_mel_spectrogram(
    y: np.ndarray,
    *,
    sr: int = YAMNET_SR,
    n_fft: int = YAMNET_N_FFT,
    win_length: int = YAMNET_WIN_LENGTH,
    hop_length: int = YAMNET_HOP_LENGTH,
    n_mels: int = YAMNET_N_MELS,
    fmin: float = YAMNET_FMIN,
    fmax: float = YAMNET_FMAX,
    log_offset: float = YAMNET_LOG_OFFSET,
) -> np.ndarray:
    """``[frames, n_mels]`` float32 ``log(mel(|STFT|) + log_offset)``: YAMNet's log-mel spectrogram.

    Long signals are processed in blocks of frames (same result) so that the intermediate
    spectrum stays small: an hour of audio needs ~100 MB for its log-mel, not gigabytes.
    """
    y = np.asarray(y, dtype=np.float32)
    weights = _mel_rows(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax))
    n_frames = 0 if len(y) < win_length else 1 + (len(y) - win_length) // hop_length
    out = np.empty((n_frames, n_mels), dtype=np.float32)
    for start in range(0, n_frames, _BLOCK_FRAMES):
        stop = min(n_frames, start + _BLOCK_FRAMES)
        chunk = y[start * hop_length : (stop - 1) * hop_length + win_length]
        mag = stft_magnitude(chunk, n_fft=n_fft, win_length=win_length, hop_length=hop_length)
        out[start:stop] = _mel_product(mag, weights)
    out += np.float32(log_offset)
    return np.log(out, out=out)


def patch_frames(
    log_mel: np.ndarray,
    patch_frames: int = YAMNET_PATCH_FRAMES,
    patch_hop_frames: int = YAMNET_PATCH_HOP_FRAMES,
) -> np.ndarray:
    """``[patches, patch_frames, n_mels]`` read-only strided view of complete patches of ``log_mel``."""
    log_mel = np.asarray(log_mel)
    if log_mel.ndim != 2:
        raise ValueError(f"expected [frames, bands], got shape {log_mel.shape}")
    if len(log_mel) < patch_frames:
        return np.zeros((0, patch_frames, log_mel.shape[1]), dtype=log_mel.dtype)
    view = np.lib.stride_tricks.sliding_window_view(log_mel, patch_frames, axis=0)[::patch_hop_frames]
    return view.transpose(0, 2, 1)  # sliding_window_view puts the window axis last


def yamnet_min_samples() -> int:
    """Samples that make exactly one YAMNet patch: 0.96 s + 25 ms - 10 ms = 15600."""
    return (YAMNET_PATCH_FRAMES - 1) * YAMNET_HOP_LENGTH + YAMNET_WIN_LENGTH


def yamnet_patch_hop_samples() -> int:
    """Samples between YAMNet patches: 0.48 s = 7680."""
    return YAMNET_PATCH_HOP_FRAMES * YAMNET_HOP_LENGTH


def yamnet_num_patches(n_samples: int) -> int:
    """Patches YAMNet makes from ``n_samples`` (16 kHz): at least 1, the tail is covered by padding."""
    extra = max(0, int(n_samples) - yamnet_min_samples())
    hop = yamnet_patch_hop_samples()
    return 1 + -(-extra // hop)


def yamnet_pad_waveform(y: np.ndarray) -> np.ndarray:
    """Zero-pad ``y`` at its end like YAMNet's ``pad_waveform``: to one patch, then to whole hops."""
    y = np.asarray(y, dtype=np.float32)
    n = yamnet_min_samples() + (yamnet_num_patches(len(y)) - 1) * yamnet_patch_hop_samples()
    if n == len(y):
        return y
    out = np.zeros(n, dtype=np.float32)
    out[: len(y)] = y
    return out


def yamnet_patch_times(n_patches: int) -> np.ndarray:
    """Centre of each patch's audio span in seconds: ``0.48 i + 0.4875``.

    Patch ``i`` spans samples ``[7680 i, 7680 i + 15600)``.
    """
    hop = yamnet_patch_hop_samples()
    centre = yamnet_min_samples() / 2.0
    return ((np.arange(n_patches) * hop + centre) / YAMNET_SR).astype(np.float64)


def yamnet_patches(y: np.ndarray) -> np.ndarray:
    """``[patches, 96, 64]`` float32 log-mel patches of a 16 kHz mono signal, YAMNet's way.

    The signal is padded with :func:`yamnet_pad_waveform`, so there is always at least one patch
    and the tail is covered. The result is a read-only view into one log-mel array.
    """
    log_mel = log_mel_spectrogram(yamnet_pad_waveform(y))
    return patch_frames(log_mel)
