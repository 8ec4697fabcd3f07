"""PyTorch classifier heads on feature vectors and embedding sequences (models ``mlp`` and ``attention``).

Both are CPU-only scikit-learn estimators (``clone``, ``Pipeline``, ``CalibratedClassifierCV``,
:func:`soundsort.evaluation.crossval.fit_on_files`), on the shared machinery of
:class:`~soundsort.models.torch.base.TorchClassifier`:

* :class:`MLPClassifier` – vectors ``(n, D)``: standardization → hidden layers (optional batch norm) →
  dropout → K logits; AdamW with weight decay.
* :class:`AttentionConv1DClassifier` – sequences ``(n, T, D)`` (e.g. 10 embedding frames of 128 values):
  the music/non-music study's multi-head self-attention + Conv1D network, generalized to K classes.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np

from soundsort.models.torch.base import TorchClassifier
from soundsort.models.torch.engine import import_nets

__all__ = ["AttentionConv1DClassifier", "MLPClassifier"]


@dataclass(eq=False, repr=False)
class MLPClassifier(TorchClassifier):
    """Multi-layer perceptron on vectors ``(n_samples, n_features)``.

    Standardization (fitted on the training part) → ``[Linear → BatchNorm? → ReLU → Dropout] × layers`` →
    Linear → softmax. AdamW with decoupled ``weight_decay`` on the Linear weights (not biases or batch-norm
    parameters). Training parameters (``lr``, ``batch_size``, epochs, early stopping, ``class_weight``,
    the learning-rate schedule, ``random_state``, ``n_jobs``):
    :class:`~soundsort.models.torch.engine.TrainingParams`.

    Fitted: ``classes_``, ``n_features_in_``, ``mean_``, ``scale_``, ``class_weight_``, ``module_``,
    ``history_`` (per epoch: ``epoch``, ``train_loss``, ``val_loss`` — weighted cross-entropy without the
    regularization term — and ``lr``), ``best_epoch_``, ``n_epochs_``.
    """

    hidden_layer_sizes: tuple[int, ...] = (256,)
    _: KW_ONLY
    batch_norm: bool = True
    dropout: float = 0.3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 200
    min_epochs: int = 5
    patience: int = 15

    def _build(self, torch: Any, n_features: int, n_classes: int) -> Any:
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        return import_nets().mlp(n_features, n_classes, hidden, bool(self.batch_norm), float(self.dropout))

    def _optimizer(self, torch: Any, module: Any) -> Any:
        decay = [m.weight for m in module.modules() if isinstance(m, torch.nn.Linear)]
        ids = {id(p) for p in decay}
        rest = [p for p in module.parameters() if id(p) not in ids]
        return torch.optim.AdamW([{"params": decay, "weight_decay": float(self.weight_decay)},
                                  {"params": rest, "weight_decay": 0.0}], lr=float(self.lr))


@dataclass(eq=False, repr=False)
class AttentionConv1DClassifier(TorchClassifier):
    """The music/non-music study's attention + Conv1D network on sequences ``(n_samples, n_frames, n_features)``.

    Per-feature standardization (fitted on the training part, over samples and frames) → multi-head
    self-attention (``num_heads`` 2, ``key_dim`` 64, ``attention_dropout`` 0.2) → batch norm →
    Conv1D(``conv1_filters`` 64, ``kernel_size`` 3, ReLU, same) → MaxPool1D(``pool_size`` 2) →
    Dropout(``conv_dropout`` 0.4) → Conv1D(``conv2_filters`` 128, 3, ReLU, same) → global average pooling →
    Dense(``dense_units`` 64, ReLU) → Dropout(``dense_dropout`` 0.6) → Dense(K) softmax. ``l2`` (0.01) ×
    the sum of squared conv and hidden-dense kernels is added to the loss (Keras ``kernel_regularizer``);
    Adam without weight decay; Glorot-uniform initialization as in Keras. ``residual=True`` (not in the
    study) adds the input to the attention output: the study's network feeds only the attention output on,
    which at first averages the frames together, so it learns slow trends well but short local patterns
    poorly. The study trained with ``lr=1e-4``; the default here is 1e-3 with ReduceLROnPlateau lowering it.
    The network typically sits at chance for some epochs (the attention starts out averaging the frames
    and the L2 term shrinks the kernels) before it takes off, and its validation loss can rise meanwhile,
    hence ``min_epochs=20`` before early stopping or learning-rate cuts may act.

    Training parameters and fitted attributes as :class:`MLPClassifier` (plus ``n_frames_in_``). Any number
    of frames ≥ 1 is accepted at prediction (the network is length-agnostic); the feature count must match.
    """

    _input_ndim = 3
    _shape_text = "(n_samples, n_frames, n_features)"

    _: KW_ONLY
    num_heads: int = 2
    key_dim: int = 64
    attention_dropout: float = 0.2
    conv1_filters: int = 64
    conv2_filters: int = 128
    kernel_size: int = 3
    pool_size: int = 2
    conv_dropout: float = 0.4
    dense_units: int = 64
    dense_dropout: float = 0.6
    l2: float = 0.01
    residual: bool = False
    max_epochs: int = 100
    min_epochs: int = 20
    patience: int = 10

    def fit(self, X: Any, y: Any, groups: Any = None) -> AttentionConv1DClassifier:
        """Train on sequences ``X`` ``(n, T, D)`` / labels ``y`` (``groups`` as :meth:`TorchClassifier.fit`)."""
        super().fit(X, y, groups)
        self.n_frames_in_ = int(np.shape(X)[1])
        return self

    def _build(self, torch: Any, n_features: int, n_classes: int) -> Any:
        return import_nets().AttentionConv1DNet(
            n_features, n_classes, int(self.num_heads), int(self.key_dim), float(self.attention_dropout),
            int(self.conv1_filters), int(self.conv2_filters), int(self.kernel_size), int(self.pool_size),
            float(self.conv_dropout), int(self.dense_units), float(self.dense_dropout), bool(self.residual))

    def _optimizer(self, torch: Any, module: Any) -> Any:
        return torch.optim.Adam(module.parameters(), lr=float(self.lr))

    def _penalty(self, module: Any) -> Any:
        return None if not self.l2 else float(self.l2) * module.penalty()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
