"""Old import path of the CNN estimators, kept only so that model files saved before they moved still load.

A ``model.skops`` file names each class by its module path, and files written before the move say
``soundsort.models.cnn.SpectrogramCNNClassifier``; the classes live in :mod:`soundsort.models.torch.cnn`.
Import them from there.
"""

from soundsort.models.torch.cnn import BackboneCNNClassifier, SpectrogramCNNClassifier, YamnetFinetuneClassifier

__all__ = ["BackboneCNNClassifier", "SpectrogramCNNClassifier", "YamnetFinetuneClassifier"]
