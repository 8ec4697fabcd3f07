"""PyTorch classifier heads with scikit-learn's estimator conventions.

Two heads, both CPU-only and both usable wherever a scikit-learn classifier is (``clone``, ``Pipeline``,
``CalibratedClassifierCV``, :func:`soundsort.evaluation.crossval.fit_on_files`):

* :class:`MLPClassifier` – vectors ``(n, D)``: standardization → hidden layers (optional batch norm) →
  dropout → K logits; AdamW with weight decay.
* :class:`AttentionConv1DClassifier` – sequences ``(n, T, D)`` (e.g. 10 embedding frames of 128 values):
  the music/non-music study's multi-head self-attention + Conv1D network, generalized to K classes.

Shared training machinery: class weights (``"balanced"`` by default), a validation part carved from the
training rows (grouped when ``groups`` is passed to ``fit`` — segments of one recording stay on one side —
stratified otherwise), early stopping with ``patience`` and the best epoch's weights restored,
ReduceLROnPlateau, and a per-epoch ``history_`` for learning curves. A fit is reproducible for a given
``seed`` and ``n_threads``.

The CNNs of :mod:`soundsort.models.cnn` reuse this machinery by subclassing ``_TorchClassifier`` through its
hooks: ``_check_input_shape`` (what must match at prediction), ``_fit_scaler`` (which axes the
standardization is fitted over), ``_fit_module`` (one ``_train`` run here; several for staged training, where
``_train`` takes an optimizer, epoch limits and the loss to beat), ``_rebuild`` (the network to load saved
weights into) and ``_eval_batch_size``.

torch is imported lazily, inside methods: importing this module (and registering the models) works without
it; ``fit`` then raises :class:`~soundsort.errors.ConfigError`.

Persistence: ``__getstate__`` returns plain Python values and numpy arrays only (the network as a dict of
numpy arrays), ``__setstate__`` rebuilds the network, so skops can save and load these estimators without
pickling any torch object; ``skops.io.get_untrusted_types`` then names only the estimator classes.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from soundsort.errors import ConfigError
from soundsort.models.classical import register_model

TORCH_PIN = "torch==2.13.0"
_STATE_FORMAT = 1


# --------------------------------------------------------------------------------------------- helpers


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ConfigError(f"the neural heads need PyTorch, which is not installed: pip install {TORCH_PIN}") from None
    return torch


def _resolve_threads(n_threads: int | None) -> int:
    if n_threads is None or n_threads == 0:
        return 1
    cpus = os.cpu_count() or 1
    if n_threads < 0:  # joblib style: -1 = every core, -2 = all but one, ...
        return max(1, cpus + 1 + int(n_threads))
    return int(n_threads)


@contextlib.contextmanager
def _torch_session(torch: Any, n_threads: int | None, seed: int | None = None) -> Iterator[None]:
    """Thread count, deterministic algorithms and a private RNG stream for one fit/predict; restored after."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(_resolve_threads(n_threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)


def validation_split(y: Any, groups: Any = None, fraction: float = 0.15,
                     seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation part from training rows → ``(train_idx, val_idx)`` (sorted, disjoint, covering).

    With ``groups``, whole groups go to one side (stratified by class as far as the groups allow); without,
    a stratified random split. Every class present in ``y`` keeps at least one training row (validation
    groups holding a class's last rows are moved back). ``val_idx`` is empty when ``fraction`` is 0 or there
    are too few rows or groups to split.
    """
    from sklearn.model_selection import (GroupShuffleSplit, ShuffleSplit, StratifiedGroupKFold,
                                         StratifiedShuffleSplit)

    y = np.asarray(y).reshape(-1)
    n = len(y)
    everything = np.arange(n)
    if not 0.0 <= float(fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction!r}")
    if groups is not None and len(np.asarray(groups).reshape(-1)) != n:
        raise ValueError(f"groups has {len(np.asarray(groups).reshape(-1))} entries for {n} rows")
    empty = np.zeros(0, dtype=np.int64)
    if fraction == 0 or n < 4:
        return everything, empty
    _, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    y_idx = y_idx.reshape(-1)
    rs = None if seed is None else int(seed) % (2**32)
    X_dummy = np.zeros((n, 1))
    if groups is not None:
        g = np.asarray(groups).reshape(-1)
        _, g_idx = np.unique(g, return_inverse=True)
        g_idx = g_idx.reshape(-1)
        n_groups = int(g_idx.max()) + 1
        if n_groups < 2:
            return everything, empty
        n_splits = min(max(2, int(round(1.0 / fraction))), n_groups)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "least populated class has only k members"
                splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=rs)
                val = next(iter(splitter.split(X_dummy, y_idx, g_idx)))[1]
        except ValueError:
            gss = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=rs)
            val = next(iter(gss.split(X_dummy, y_idx, g_idx)))[1]
        key = g_idx
    else:
        n_val = int(math.ceil(fraction * n))
        if counts.min() >= 2 and len(counts) <= n_val <= n - len(counts):
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=rs)
        else:
            splitter = ShuffleSplit(n_splits=1, test_size=n_val, random_state=rs)
        val = next(iter(splitter.split(X_dummy, y_idx)))[1]
        key = everything
    is_val = np.zeros(n, dtype=bool)
    is_val[val] = True
    # every class keeps training rows: move back the validation groups (rows) of classes missing in train
    for c in range(len(counts)):
        if not np.any(~is_val & (y_idx == c)):
            back = np.isin(key, key[is_val & (y_idx == c)])
            is_val[back] = False
    if not is_val.any() or is_val.all():
        return everything, empty
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _class_weights(y_idx: np.ndarray, n_classes: int, class_weight: Any, classes: np.ndarray) -> np.ndarray:
    """Per-class loss weights (index order of ``classes``)."""
    counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
    if class_weight is None:
        return np.ones(n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ConfigError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")
        w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
        return w
    if isinstance(class_weight, dict):
        w = np.ones(n_classes)
        for label, value in class_weight.items():
            hit = np.flatnonzero(classes == label)
            if len(hit) == 0:
                raise ConfigError(f"class_weight names a class not in the data: {label!r}")
            w[hit[0]] = float(value)
        return w
    raise ConfigError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")


# ------------------------------------------------------------------------------------------ networks


def _build_mlp(torch: Any, n_features: int, n_classes: int, hidden: tuple[int, ...], batch_norm: bool,
               dropout: float) -> Any:
    nn = torch.nn
    layers: list[Any] = []
    width = n_features
    for h in hidden:
        layers.append(nn.Linear(width, int(h)))
        if batch_norm:
            layers.append(nn.BatchNorm1d(int(h)))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(float(dropout)))
        width = int(h)
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def _attention_network_class(torch: Any) -> type:
    """The attention + Conv1D network class (defined on first use so that torch stays a lazy import)."""
    cached = getattr(_attention_network_class, "_cls", None)
    if cached is not None:
        return cached
    nn = torch.nn
    F = torch.nn.functional

    class SelfAttention(nn.Module):
        """Keras-style MultiHeadAttention(num_heads, key_dim)(x, x): per-head projections of size key_dim,
        softmax attention with dropout on the weights, output projected back to the input width."""

        def __init__(self, d_model: int, num_heads: int, key_dim: int, dropout: float) -> None:
            super().__init__()
            self.num_heads, self.key_dim = num_heads, key_dim
            inner = num_heads * key_dim
            self.query = nn.Linear(d_model, inner)
            self.key = nn.Linear(d_model, inner)
            self.value = nn.Linear(d_model, inner)
            self.out = nn.Linear(inner, d_model)
            self.drop = nn.Dropout(dropout)

        def forward(self, x: Any) -> Any:
            n, t, _ = x.shape
            h, k = self.num_heads, self.key_dim

            def heads(z: Any) -> Any:
                return z.view(n, t, h, k).transpose(1, 2)  # (n, h, t, k)

            q, kk, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
            weights = self.drop(torch.softmax(q @ kk.transpose(-2, -1) / math.sqrt(k), dim=-1))
            return self.out((weights @ v).transpose(1, 2).reshape(n, t, h * k))

    class AttentionConv1DNet(nn.Module):
        def __init__(self, n_features: int, n_classes: int, num_heads: int, key_dim: int,
                     attention_dropout: float, conv1_filters: int, conv2_filters: int, kernel_size: int,
                     pool_size: int, conv_dropout: float, dense_units: int, dense_dropout: float,
                     residual: bool) -> None:
            super().__init__()
            self.residual = residual
            self.attention = SelfAttention(n_features, num_heads, key_dim, attention_dropout)
            self.norm = nn.BatchNorm1d(n_features)
            self.conv1 = nn.Conv1d(n_features, conv1_filters, kernel_size, padding="same")
            self.pool_size = pool_size
            self.drop1 = nn.Dropout(conv_dropout)
            self.conv2 = nn.Conv1d(conv1_filters, conv2_filters, kernel_size, padding="same")
            self.dense = nn.Linear(conv2_filters, dense_units)
            self.drop2 = nn.Dropout(dense_dropout)
            self.head = nn.Linear(dense_units, n_classes)
            for m in self.modules():  # Keras defaults: Glorot-uniform kernels, zero biases
                if isinstance(m, (nn.Linear, nn.Conv1d)):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x: Any) -> Any:  # x: (n, T, D)
            a = self.attention(x)
            x = (x + a if self.residual else a).transpose(1, 2)  # (n, D, T)
            x = F.relu(self.conv1(self.norm(x)))
            pool = min(self.pool_size, x.shape[-1])
            if pool > 1:
                x = F.max_pool1d(x, pool)
            x = F.relu(self.conv2(self.drop1(x)))
            x = x.mean(dim=-1)  # global average pooling over time
            return self.head(self.drop2(F.relu(self.dense(x))))

        def penalty(self) -> Any:
            """Sum of squared conv and hidden-dense kernels (Keras kernel_regularizer=l2 on those layers)."""
            return self.conv1.weight.square().sum() + self.conv2.weight.square().sum() + \
                self.dense.weight.square().sum()

    _attention_network_class._cls = AttentionConv1DNet  # type: ignore[attr-defined]
    return AttentionConv1DNet


# ---------------------------------------------------------------------------------------- estimators


class _TorchClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict/persistence; subclasses define the input rank, the network and its penalty."""

    _input_ndim = 2
    _shape_text = "(n_samples, n_features)"
    _eval_batch_size = 1024  # rows per forward pass when evaluating / predicting

    # -- subclass hooks
    def _build(self, torch: Any, n_features: int, n_classes: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _optimizer(self, torch: Any, module: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _penalty(self, module: Any) -> Any:
        return None

    def _rebuild(self, torch: Any, n_features: int, n_classes: int) -> Any:
        """The network to load saved weights into (default :meth:`_build`; pretrained bodies skip their weights)."""
        return self._build(torch, n_features, n_classes)

    # -- input checks
    def _check_X(self, X: Any, y: Any = None, *, fitting: bool) -> Any:
        """scikit-learn's input validation (sparse, complex, object, NaN, empty, feature count) plus the rank.

        Returns ``X`` as float32, or ``(X, y)`` when fitting."""
        from sklearn.utils.validation import check_array, check_X_y

        kw: dict[str, Any] = {"dtype": np.float32, "allow_nd": True, "ensure_all_finite": True}
        if fitting:
            X, y = check_X_y(X, y, ensure_min_samples=2, estimator=self, **kw)
        else:
            X = check_array(X, estimator=self, **kw)
        if X.ndim != self._input_ndim:
            raise ValueError(f"{type(self).__name__} expects input of shape {self._shape_text}, "
                             f"got an array of shape {X.shape}")
        if X.shape[-1] == 0:
            raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required "
                             f"by {type(self).__name__}")
        self._check_input_shape(X, fitting=fitting)
        return (X, y) if fitting else X

    def _check_input_shape(self, X: np.ndarray, *, fitting: bool) -> None:
        """Record (fitting) or check (predicting) the input's shape beyond the rank: here the feature count."""
        if fitting:
            self.n_features_in_ = int(X.shape[-1])
            return
        if X.shape[-1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[-1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")

    def _fit_scaler(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, scale)`` of the standardization, from the training rows: per feature (the last axis)."""
        axes = tuple(range(X.ndim - 1))  # every axis but the feature axis
        mean = X.mean(axis=axes, dtype=np.float64)
        std = X.std(axis=axes, dtype=np.float64)
        return mean, np.where(std < 1e-8 * np.maximum(1.0, np.abs(mean)), 1.0, std)

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(np.float32, copy=False)

    # -- training
    def fit(self, X: Any, y: Any, groups: Any = None) -> _TorchClassifier:
        """Train on ``X`` / ``y``; ``groups`` (e.g. recording ids) keeps each group on one side of the
        internal validation split. Returns ``self``."""
        torch = _import_torch()
        from sklearn.utils.multiclass import check_classification_targets

        X, y = self._check_X(X, y, fitting=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        y_idx = y_idx.reshape(-1).astype(np.int64)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {classes[0]!r}")
        for name in ("max_epochs", "batch_size", "patience", "min_epochs"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "min_epochs" else 1):
                raise ConfigError(f"{name} must be a {'non-negative' if name == 'min_epochs' else 'positive'} "
                                  f"integer, got {value!r}")

        seed = self.seed if self.seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        tr, va = validation_split(y_idx, groups, self.val_fraction, seed)

        self.mean_, self.scale_ = self._fit_scaler(X[tr])
        self.classes_ = classes
        cw = _class_weights(y_idx[tr], len(classes), self.class_weight, classes)
        self.class_weight_ = cw

        Xs = self._standardize(X)
        with _torch_session(torch, self.n_threads, seed):
            module = self._build(torch, self.n_features_in_, len(classes))
            self.history_, self.best_epoch_ = self._fit_module(torch, module, Xs, y_idx, tr, va, cw, seed)
            module.eval()
        self.module_ = module
        self.n_epochs_ = len(self.history_)
        return self

    def _fit_module(self, torch: Any, module: Any, Xs: np.ndarray, y_idx: np.ndarray, tr: np.ndarray,
                    va: np.ndarray, cw: np.ndarray, seed: int) -> tuple[list[dict[str, Any]], int]:
        """Train the freshly built ``module`` → ``(history, best_epoch)``; one :meth:`_train` run here."""
        history, best_epoch, _ = self._train(torch, module, Xs, y_idx, tr, va, cw, seed)
        return history, best_epoch

    def _train(self, torch: Any, module: Any, Xs: np.ndarray, y_idx: np.ndarray, tr: np.ndarray,
               va: np.ndarray, cw: np.ndarray, seed: int, *, optimizer: Any = None, max_epochs: int | None = None,
               min_epochs: int | None = None, best: float = math.inf, epoch_offset: int = 0,
               extra: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], int, float]:
        """One training run of ``module`` on rows ``tr`` of ``Xs`` with early stopping on rows ``va``.

        ``optimizer`` (default :meth:`_optimizer`), ``max_epochs`` and ``min_epochs`` override the
        estimator's; a run that never gets below ``best`` restores the weights it started from.
        History epochs are numbered from ``epoch_offset + 1`` and carry ``extra``'s items. Returns
        ``(history, best_epoch, best_monitor)`` (``best_epoch`` 0: no epoch beat ``best``).
        """
        F = torch.nn.functional
        rng = np.random.default_rng(seed + epoch_offset)
        X_tr, y_tr = torch.from_numpy(Xs[tr]), torch.from_numpy(y_idx[tr])
        X_va, y_va = torch.from_numpy(Xs[va]), torch.from_numpy(y_idx[va])
        weight = torch.as_tensor(cw, dtype=torch.float32)
        optimizer = self._optimizer(torch, module) if optimizer is None else optimizer
        max_epochs = int(self.max_epochs if max_epochs is None else max_epochs)
        min_epochs = int(self.min_epochs if min_epochs is None else min_epochs)
        lr_patience = self.lr_patience if self.lr_patience is not None else max(1, self.patience // 2)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=self.lr_factor,
                                                               patience=lr_patience, min_lr=self.min_lr)
        has_val = len(va) > 0
        n_tr, bs = len(tr), int(self.batch_size)
        history: list[dict[str, Any]] = []
        best_epoch, wait = 0, 0
        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        for epoch in range(epoch_offset + 1, epoch_offset + max_epochs + 1):
            lr = float(optimizer.param_groups[0]["lr"])
            module.train()
            order = rng.permutation(n_tr)
            total, seen = 0.0, 0
            for start in range(0, n_tr, bs):
                idx = order[start:start + bs]
                if len(idx) < 2 <= n_tr:  # batch norm cannot train on one row; it is seen next epoch
                    continue
                index = torch.from_numpy(idx)
                xb, yb = X_tr[index], y_tr[index]
                data_loss = (F.cross_entropy(module(xb), yb, reduction="none") * weight[yb]).mean()
                loss = data_loss
                penalty = self._penalty(module)
                if penalty is not None:
                    loss = loss + penalty
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(data_loss.detach()) * len(idx)
                seen += len(idx)
            train_loss = total / max(seen, 1)
            val_loss = self._eval_loss(torch, module, X_va, y_va, weight) if has_val else None
            monitor = val_loss if has_val else train_loss
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                            **(extra or {})})
            if not math.isfinite(monitor):
                warnings.warn(f"{type(self).__name__}: loss is not finite at epoch {epoch}; "
                              f"stopping with the best weights so far", RuntimeWarning, stacklevel=3)
                break
            warming_up = epoch - epoch_offset <= min_epochs
            if not warming_up:  # no learning-rate cuts during the warm-up plateau
                scheduler.step(monitor)
            if monitor < best - 1e-6 * max(1.0, abs(best) if math.isfinite(best) else 1.0):
                best, best_epoch, wait = monitor, epoch, 0
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                wait += 1
                if wait >= self.patience and not warming_up:
                    break
        module.load_state_dict(best_state)
        return history, best_epoch, best

    def _eval_loss(self, torch: Any, module: Any, X: Any, y: Any, weight: Any) -> float:
        F = torch.nn.functional
        module.eval()
        total = 0.0
        with torch.no_grad():
            step = int(self._eval_batch_size)
            for start in range(0, len(X), step):
                xb, yb = X[start:start + step], y[start:start + step]
                total += float((F.cross_entropy(module(xb), yb, reduction="none") * weight[yb]).sum())
        return total / len(X)

    # -- prediction
    def _module(self) -> Any:
        if self.__dict__.get("module_") is None and self.__dict__.get("_pending_weights") is not None:
            self.module_ = self._module_from_weights(self._pending_weights)
            del self._pending_weights
        return self.module_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, K)`` in the order of ``classes_``."""
        check_is_fitted(self)
        X = self._check_X(X, fitting=False)
        torch = _import_torch()
        module = self._module()
        Xs = self._standardize(X)
        out = []
        with _torch_session(torch, self.n_threads), torch.no_grad():
            module.eval()
            step = int(self._eval_batch_size)
            for start in range(0, len(Xs), step):
                logits = module(torch.from_numpy(Xs[start:start + step]))
                out.append(torch.softmax(logits.double(), dim=-1).numpy())
        return np.concatenate(out, axis=0)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label per row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence without torch objects
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("module_", "_pending_weights")}
        module = self.__dict__.get("module_")
        if module is not None:
            state["module_weights_"] = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
        elif self.__dict__.get("_pending_weights") is not None:
            state["module_weights_"] = dict(self._pending_weights)
        state["_state_format"] = _STATE_FORMAT
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        fmt = state.pop("_state_format", _STATE_FORMAT)
        if fmt > _STATE_FORMAT:
            raise ValueError(f"{type(self).__name__} state format {fmt} is newer than this soundsort understands")
        weights = state.pop("module_weights_", None)
        self.__dict__.update(state)
        if weights is None:
            return
        weights = {str(k): np.asarray(v) for k, v in weights.items()}
        try:
            self.module_ = self._module_from_weights(weights)
        except ConfigError:  # torch missing: rebuild on first prediction (which then says how to install it)
            self.module_ = None
            self._pending_weights = weights

    def _module_from_weights(self, weights: dict[str, np.ndarray]) -> Any:
        torch = _import_torch()
        with _torch_session(torch, self.n_threads, 0):
            module = self._rebuild(torch, self.n_features_in_, len(self.classes_))
        module.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in weights.items()})
        module.eval()
        return module


class MLPClassifier(_TorchClassifier):
    """Multi-layer perceptron on vectors ``(n_samples, n_features)``.

    Standardization (fitted on the training part) → ``[Linear → BatchNorm? → ReLU → Dropout] × layers`` →
    Linear → softmax. AdamW with decoupled ``weight_decay`` on the Linear weights (not biases or batch-norm
    parameters). ``class_weight``: ``"balanced"``, ``None`` or ``{label: weight}``. Early stopping on the
    validation loss (``val_fraction`` of the rows; training loss when that is 0) once ``min_epochs`` have
    run, ReduceLROnPlateau after ``min_epochs`` too (``lr_factor``, ``lr_patience`` — default
    ``max(1, patience // 2)`` — , ``min_lr``); the best epoch's weights are kept. ``n_threads``: torch CPU
    threads (-1: every core).

    Fitted: ``classes_``, ``n_features_in_``, ``mean_``, ``scale_``, ``class_weight_``, ``module_``,
    ``history_`` (per epoch: ``epoch``, ``train_loss``, ``val_loss`` — weighted cross-entropy without the
    regularization term — and ``lr``), ``best_epoch_``, ``n_epochs_``.
    """

    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (256,), *, batch_norm: bool = True,
                 dropout: float = 0.3, weight_decay: float = 1e-4, lr: float = 1e-3, batch_size: int = 64,
                 max_epochs: int = 200, min_epochs: int = 5, patience: int = 15, val_fraction: float = 0.15,
                 class_weight: str | dict | None = "balanced", lr_factor: float = 0.5,
                 lr_patience: int | None = None, min_lr: float = 1e-6, seed: int | None = 0,
                 n_threads: int | None = 1) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.lr_factor = lr_factor
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.seed = seed
        self.n_threads = n_threads

    def _build(self, torch: Any, n_features: int, n_classes: int) -> Any:
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, (int, np.integer)) else tuple(hidden)
        return _build_mlp(torch, n_features, n_classes, hidden, bool(self.batch_norm), float(self.dropout))

    def _optimizer(self, torch: Any, module: Any) -> Any:
        decay = [m.weight for m in module.modules() if isinstance(m, torch.nn.Linear)]
        ids = {id(p) for p in decay}
        rest = [p for p in module.parameters() if id(p) not in ids]
        return torch.optim.AdamW([{"params": decay, "weight_decay": float(self.weight_decay)},
                                  {"params": rest, "weight_decay": 0.0}], lr=float(self.lr))


class AttentionConv1DClassifier(_TorchClassifier):
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

    Training machinery, parameters and fitted attributes as :class:`MLPClassifier` (plus
    ``n_frames_in_``). Any number of frames ≥ 1 is accepted at prediction (the network is length-agnostic);
    the feature count must match.
    """

    _input_ndim = 3
    _shape_text = "(n_samples, n_frames, n_features)"

    def __init__(self, *, num_heads: int = 2, key_dim: int = 64, attention_dropout: float = 0.2,
                 conv1_filters: int = 64, conv2_filters: int = 128, kernel_size: int = 3, pool_size: int = 2,
                 conv_dropout: float = 0.4, dense_units: int = 64, dense_dropout: float = 0.6, l2: float = 0.01,
                 residual: bool = False,
                 lr: float = 1e-3, batch_size: int = 32, max_epochs: int = 100, min_epochs: int = 20,
                 patience: int = 10,
                 val_fraction: float = 0.15, class_weight: str | dict | None = "balanced",
                 lr_factor: float = 0.5, lr_patience: int | None = None, min_lr: float = 1e-6,
                 seed: int | None = 0, n_threads: int | None = 1) -> None:
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.attention_dropout = attention_dropout
        self.conv1_filters = conv1_filters
        self.conv2_filters = conv2_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.conv_dropout = conv_dropout
        self.dense_units = dense_units
        self.dense_dropout = dense_dropout
        self.l2 = l2
        self.residual = residual
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.lr_factor = lr_factor
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.seed = seed
        self.n_threads = n_threads

    def fit(self, X: Any, y: Any, groups: Any = None) -> AttentionConv1DClassifier:
        super().fit(X, y, groups)
        self.n_frames_in_ = int(np.shape(X)[1])
        return self

    def _build(self, torch: Any, n_features: int, n_classes: int) -> Any:
        net = _attention_network_class(torch)
        return net(n_features, n_classes, int(self.num_heads), int(self.key_dim), float(self.attention_dropout),
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


# ------------------------------------------------------------------------------------------ registry


def _mlp(seed: int = 0, n_jobs: int = 1, **params: Any) -> MLPClassifier:
    params.setdefault("n_threads", n_jobs)
    return MLPClassifier(seed=seed, **params)


def _attention(seed: int = 0, n_jobs: int = 1, **params: Any) -> AttentionConv1DClassifier:
    params.setdefault("n_threads", n_jobs)
    return AttentionConv1DClassifier(seed=seed, **params)


register_model("mlp", _mlp, "PyTorch MLP on vectors (standardized, dropout, early stopping, balanced classes)")
register_model("attention", _attention,
               "PyTorch self-attention + Conv1D on embedding sequences (n, frames, features), the study's network")
