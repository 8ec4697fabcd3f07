"""musicnn (Pons & Serra, 2019) ported to PyTorch from the TF1 checkpoints in the ``musicnn`` wheel.

Only this module needs ``torch``; it is imported when a converted ONNX model has to be (re)built.
The network follows ``musicnn/models.py`` (``build_musicnn`` with ``num_filt_midend=64``,
``num_units_backend=200``, front end type ``'7774timbraltemporal'``) layer by layer:

* input: log-mel patch ``x[B, T, 96]`` (time x mel), batch-normalised (one channel).
* front end, each block = conv -> ReLU -> batch norm -> max over the whole frequency axis:
  two timbral convs on the input zero-padded by 3 frames in time, kernels 7x38 and 7x67
  (``int(0.4*96)``, ``int(0.7*96)``), 204 filters each, 'valid'; three temporal convs 128x1, 64x1 and
  32x1, 51 filters each, TF 'same' padding in time (for even kernels TF pads ``(k-1)//2`` before and
  the rest after) and in frequency (a no-op for width 1). Concatenated: 561 channels per frame.
* mid end: three 1-D convs over time (kernel 7, zero padding 3, 64 filters, conv -> ReLU -> BN,
  m1..m3); the 2nd and 3rd add their input (residual): r1 = m1, r2 = m2 + r1, r3 = m3 + r2. Dense
  connection: [front end, r1, r2, r3] = 753 channels per frame.
* back end: max and mean over time, interleaved per channel as TF's ``concat(axis=2) + flatten``
  gives ``[max_0, mean_0, max_1, mean_1, ...]`` (1506), BN -> dense 200 + ReLU -> BN (this is the
  extractor's ``'penultimate'`` = ``bn_dense``) -> dense 50 (logits) -> sigmoid.

All batch norms are ``tf.compat.v1.layers.batch_normalization`` defaults: epsilon 1e-3, moving
statistics at inference. Dropout is inactive at inference and omitted. The exported graph uses the
exactly equivalent, cheaper front-end form of :meth:`MusicnnNet.fold_for_inference`.

ONNX outputs: ``tags[B,50]`` (sigmoid probabilities), ``penultimate[B,200]``, ``max_pool[B,753]``,
``mean_pool[B,753]`` (the extractor's pooled mid-end features); input ``patches[B,T,96]`` float32 with
dynamic batch and time dimensions (the model was trained on T=187).
"""

from __future__ import annotations

import importlib.util
import io
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from soundsort.backbones.convert.tfcheckpoint import read_checkpoint
from soundsort.errors import ModelError

__all__ = [
    "BN_EPSILON",
    "INPUT_NAME",
    "MODELS",
    "N_MELS",
    "OUTPUT_NAMES",
    "WHEEL_HINT",
    "MusicnnNet",
    "build_torch_model",
    "checkpoint_dir",
    "convert",
    "export_onnx_bytes",
    "load_weights",
]

MODELS = ("MSD_musicnn", "MTT_musicnn")
N_MELS = 96
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization default
INPUT_NAME = "patches"
OUTPUT_NAMES = ("tags", "penultimate", "max_pool", "mean_pool")
WHEEL_HINT = "pip install --no-deps musicnn==0.1.0"

_OPTIMIZER_SLOT = re.compile(r"(/Adam(_1)?$)|(^beta[12]_power$)")


def checkpoint_dir(model: str) -> Path:
    """The checkpoint folder of ``model`` inside the installed ``musicnn`` wheel (TF is not imported)."""
    if model not in MODELS:
        raise ModelError(f"unknown musicnn model {model!r}; known: {', '.join(MODELS)}")
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the musicnn weights are not installed; run: {WHEEL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations))) / model
    if not (folder / ".index").is_file() or not (folder / ".data-00000-of-00001").is_file():
        raise ModelError(f"the musicnn wheel has no {model} checkpoint; reinstall it: {WHEEL_HINT}", folder)
    return folder


def _bn(n: int, dims: int) -> nn.Module:
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return cls(n, eps=BN_EPSILON)


class MusicnnNet(nn.Module):
    """The musicnn graph (inference only). ``forward(x[B,T,96])`` -> tags, penultimate, max, mean."""

    def __init__(self, num_classes: int = 50, midend_filters: int = 64, backend_units: int = 200) -> None:
        super().__init__()
        self.bn_input = _bn(1, 2)
        nt = int(1.6 * 128)  # 204 timbral filters
        ns = int(1.6 * 32)  # 51 temporal filters
        self.timbral = nn.ModuleList([nn.Conv2d(1, nt, (7, int(0.4 * N_MELS))),
                                      nn.Conv2d(1, nt, (7, int(0.7 * N_MELS)))])
        self.timbral_bn = nn.ModuleList([_bn(nt, 2), _bn(nt, 2)])
        self.temporal_kernels = (128, 64, 32)
        self.temporal = nn.ModuleList([nn.Conv2d(1, ns, (k, 1)) for k in self.temporal_kernels])
        self.temporal_bn = nn.ModuleList([_bn(ns, 2) for _ in self.temporal_kernels])
        front = 2 * nt + 3 * ns  # 561
        self.mid = nn.ModuleList([nn.Conv1d(front, midend_filters, 7),
                                  nn.Conv1d(midend_filters, midend_filters, 7),
                                  nn.Conv1d(midend_filters, midend_filters, 7)])
        self.mid_bn = nn.ModuleList([_bn(midend_filters, 1) for _ in range(3)])
        pooled = front + 3 * midend_filters  # 753
        self.bn_pool = _bn(2 * pooled, 1)
        self.dense = nn.Linear(2 * pooled, backend_units)
        self.bn_dense = _bn(backend_units, 1)
        self.out = nn.Linear(backend_units, num_classes)
        self.folded = False

    def fold_for_inference(self) -> MusicnnNet:
        """Rewrite the front-end blocks into an exactly equivalent, cheaper form (in place).

        Each block computes ``max_f BN(ReLU(z))`` with BN the per-channel map ``a*v + b``. Since ReLU
        and ``a*v + b`` are monotone, this equals ``a * ReLU(max_f z) + b`` where ``a > 0`` and
        ``a * ReLU(min_f z) + b`` where ``a < 0``. Negating the conv weights and bias of the ``a < 0``
        channels turns their ``min`` into ``-max``, so one max-pool over frequency serves all
        channels, then ``sign``, ReLU and BN run on the small pooled tensor instead of the full
        ``[B, C, T, F]`` map. Same floating-point results (negation is exact), ~2x faster front end.
        """
        if self.folded:
            return self
        with torch.no_grad():
            for i, (conv, bn) in enumerate(zip([*self.timbral, *self.temporal],
                                               [*self.timbral_bn, *self.temporal_bn])):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                sign = torch.where(scale < 0, -1.0, 1.0).to(conv.weight.dtype)
                conv.weight.mul_(sign.view(-1, 1, 1, 1))
                conv.bias.mul_(sign)
                self.register_buffer(f"sign_{i}", sign)
        self.folded = True
        return self

    def _block(self, i: int, x: torch.Tensor, conv: nn.Module, bn: nn.Module) -> torch.Tensor:
        z = conv(x)  # [B,C,T,F]
        if not self.folded:
            return torch.amax(bn(F.relu(z)), dim=3)
        pooled = F.max_pool2d(z, kernel_size=(1, int(z.shape[3]))).squeeze(3)  # [B,C,T]
        sign: torch.Tensor = getattr(self, f"sign_{i}")
        return F.batch_norm(F.relu(pooled * sign.view(1, -1, 1)), bn.running_mean, bn.running_var,
                            bn.weight, bn.bias, False, 0.0, bn.eps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.bn_input(x.unsqueeze(1))  # [B,1,T,96]
        feats = []
        padded = F.pad(h, (0, 0, 3, 3))  # time only: the 'same' trick for the timbral blocks
        for i, (conv, bn) in enumerate(zip(self.timbral, self.timbral_bn)):
            feats.append(self._block(i, padded, conv, bn))  # [B,204,T]
        for j, (k, conv, bn) in enumerate(zip(self.temporal_kernels, self.temporal, self.temporal_bn)):
            before = (k - 1) // 2  # TF 'same': the extra pad of an even kernel goes after
            feats.append(self._block(2 + j, F.pad(h, (0, 0, before, k - 1 - before)), conv, bn))  # [B,51,T]
        front = torch.cat(feats, dim=1)  # [B,561,T]
        c1 = self.mid_bn[0](F.relu(self.mid[0](F.pad(front, (3, 3)))))
        r2 = self.mid_bn[1](F.relu(self.mid[1](F.pad(c1, (3, 3))))) + c1
        r3 = self.mid_bn[2](F.relu(self.mid[2](F.pad(r2, (3, 3))))) + r2
        mid = torch.cat([front, c1, r2, r3], dim=1)  # [B,753,T]
        max_pool = torch.amax(mid, dim=2)
        mean_pool = torch.mean(mid, dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # [B,1506] interleaved like TF
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_pool(flat))))
        tags = torch.sigmoid(self.out(penultimate))
        return tags, penultimate, max_pool, mean_pool


def _bn_vars(i: int) -> str:
    return "batch_normalization" if i == 0 else f"batch_normalization_{i}"


def _conv_vars(i: int) -> str:
    return "conv2d" if i == 0 else f"conv2d_{i}"


def _plan(net: MusicnnNet) -> list[tuple[str, nn.Module, str]]:
    """(TF layer name, torch module, kind) in the order ``build_musicnn`` creates the TF layers."""
    plan: list[tuple[str, nn.Module, str]] = [(_bn_vars(0), net.bn_input, "bn")]
    convs = [*net.timbral, *net.temporal, *net.mid]
    bns = [*net.timbral_bn, *net.temporal_bn, *net.mid_bn]
    for i, (conv, bn) in enumerate(zip(convs, bns)):
        plan.append((_conv_vars(i), conv, "conv"))
        plan.append((_bn_vars(i + 1), bn, "bn"))
    plan += [(_bn_vars(9), net.bn_pool, "bn"), ("dense", net.dense, "dense"),
             (_bn_vars(10), net.bn_dense, "bn"), ("dense_1", net.out, "dense")]
    return plan


def load_weights(net: MusicnnNet, weights: dict[str, np.ndarray]) -> list[str]:
    """Copy every model variable of a musicnn checkpoint into ``net``; returns the ignored names.

    Conv kernels go HWIO -> OIHW (mid-end ones, whose input width spans all channels, become
    ``Conv1d`` weights ``[out, in, 7]``); dense kernels are transposed; batch norms take gamma,
    beta, moving mean and moving variance. Raises :class:`ModelError` if a variable is missing, has
    the wrong shape, or is left unused (only Adam slots and ``beta{1,2}_power`` may be ignored).
    """
    if net.folded:
        raise ValueError("load_weights needs an unfolded MusicnnNet")
    used: set[str] = set()

    def take(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in weights:
            raise ModelError(f"checkpoint lacks variable {name!r}")
        arr = weights[name]
        if tuple(arr.shape) != shape:
            raise ModelError(f"variable {name!r} has shape {tuple(arr.shape)}, expected {shape}")
        used.add(name)
        return arr.astype(np.float32)

    def put(param: torch.Tensor, value: np.ndarray) -> None:
        assert tuple(param.shape) == value.shape, (tuple(param.shape), value.shape)
        param.data.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    for name, module, kind in _plan(net):
        if kind == "bn":
            n = module.num_features  # type: ignore[union-attr]
            put(module.weight, take(f"{name}/gamma", (n,)))  # type: ignore[union-attr,arg-type]
            put(module.bias, take(f"{name}/beta", (n,)))  # type: ignore[union-attr,arg-type]
            put(module.running_mean, take(f"{name}/moving_mean", (n,)))  # type: ignore[union-attr,arg-type]
            put(module.running_var, take(f"{name}/moving_variance", (n,)))  # type: ignore[union-attr,arg-type]
        elif kind == "conv":
            w = module.weight  # type: ignore[union-attr]
            if isinstance(module, nn.Conv1d):
                out_c, in_c, kt = w.shape
                kernel = take(f"{name}/kernel", (kt, in_c, 1, out_c))  # TF: [7, C_in(width), 1, C_out]
                put(w, kernel[:, :, 0, :].transpose(2, 1, 0))
            else:
                out_c, in_c, kh, kw = w.shape
                kernel = take(f"{name}/kernel", (kh, kw, in_c, out_c))  # HWIO
                put(w, kernel.transpose(3, 2, 0, 1))  # OIHW
            put(module.bias, take(f"{name}/bias", (w.shape[0],)))  # type: ignore[union-attr,arg-type]
        else:  # dense
            out_f, in_f = module.weight.shape  # type: ignore[union-attr]
            put(module.weight, take(f"{name}/kernel", (in_f, out_f)).T)  # type: ignore[union-attr,arg-type]
            put(module.bias, take(f"{name}/bias", (out_f,)))  # type: ignore[union-attr,arg-type]

    ignored = sorted(set(weights) - used)
    unexpected = [n for n in ignored if not _OPTIMIZER_SLOT.search(n)]
    if unexpected:
        raise ModelError(f"checkpoint variables not accounted for: {', '.join(unexpected)}")
    return ignored


def build_torch_model(model: str, *, fold: bool = True) -> MusicnnNet:
    """Read ``model``'s checkpoint from the musicnn wheel (CRC-checked) into an eval-mode :class:`MusicnnNet`.

    With ``fold`` the front end is put in its faster equivalent form (:meth:`MusicnnNet.fold_for_inference`).
    """
    weights = read_checkpoint(checkpoint_dir(model))
    net = MusicnnNet()
    load_weights(net, weights)
    net.eval()
    return net.fold_for_inference() if fold else net


def export_onnx_bytes(net: MusicnnNet, *, opset: int = 17) -> bytes:
    """Export ``net`` to an ONNX model (dynamic batch and time axes); returns the serialised bytes."""
    example = torch.zeros(2, 187, N_MELS, dtype=torch.float32)
    dyn = {INPUT_NAME: {0: "batch", 1: "frames"}, **{name: {0: "batch"} for name in OUTPUT_NAMES}}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (example,), buf, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dyn, do_constant_folding=True)
    return buf.getvalue()


def convert(model: str, *, opset: int = 17, check: bool = True) -> bytes:
    """Build ``model`` from the wheel and return its ONNX bytes.

    With ``check`` the ONNX graph is run once with onnxruntime on random patches and compared with
    the PyTorch module (max abs difference must stay below ``1e-4 * max(1, |output| / 10)``: float32
    rounding on the pooled features, which reach ~60, is a few 1e-5).
    """
    net = build_torch_model(model)
    data = export_onnx_bytes(net, opset=opset)
    if check:
        import onnxruntime as ort

        x = np.random.default_rng(0).uniform(0.0, 4.0, (2, 187, N_MELS)).astype(np.float32)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        got = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        with torch.no_grad():
            want = [t.numpy() for t in net(torch.from_numpy(x))]
        for name, a, b in zip(OUTPUT_NAMES, got, want):
            diff = float(np.max(np.abs(a - b)))
            if not np.isfinite(diff) or diff > 1e-4 * max(1.0, float(np.max(np.abs(b))) / 10.0):
                raise ModelError(f"ONNX export of {model} disagrees with PyTorch on {name!r} (max diff {diff:g})")
    return data
