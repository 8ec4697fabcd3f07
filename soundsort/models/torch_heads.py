"""Old import path of the PyTorch heads, kept only so that model files saved before they moved still load.

A ``model.skops`` file names each class by its module path, and files written before the move say
``soundsort.models.torch_heads.MLPClassifier``; the classes live in :mod:`soundsort.models.torch.heads`.
Import them from there.
"""

from soundsort.models.torch.heads import AttentionConv1DClassifier, MLPClassifier

__all__ = ["AttentionConv1DClassifier", "MLPClassifier"]
