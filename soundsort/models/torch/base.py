"""The base of soundsort's PyTorch estimators: scikit-learn conventions around the training engine.

:class:`TorchClassifier` is a dataclass (its fields are the estimator's parameters, so ``__init__``,
``get_params`` and ``clone`` follow scikit-learn's rules) holding the shared
:class:`~soundsort.models.torch.engine.TrainingParams`; a subclass adds its own fields and defines the
network through hooks:

* ``_build(torch, n_features, n_classes)`` — the fresh network; ``_rebuild`` the one saved weights load
  into (default ``_build``; pretrained bodies skip reading their weights);
* ``_optimizer(torch, module)`` and ``_penalty(module)`` (a term added to the loss, or None);
* ``_check_input_shape`` (what must match at prediction), ``_fit_scaler`` (the axes the standardization
  is fitted over), ``_fit_module`` (one :meth:`TorchClassifier._train` run here; several for staged
  training) and ``_eval_batch_size``.

Fitting: class weights, a validation part carved from the training rows (grouped when ``groups`` is passed
to ``fit`` — segments of one recording stay on one side — stratified otherwise,
:func:`soundsort.dataset.splits.validation_split`), then :func:`~soundsort.models.torch.engine.train_epochs`.
A fit is reproducible for a given ``random_state`` and ``n_jobs``.

Persistence: ``__getstate__`` returns plain Python values and numpy arrays only (the network as a dict of
numpy arrays), ``__setstate__`` rebuilds the network, so skops saves and loads these estimators without
pickling any torch object. Models saved before the parameters took scikit-learn's names (state format 1:
``seed``, ``n_threads``) load under the new names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from soundsort.dataset.splits import validation_split
from soundsort.errors import ConfigError
from soundsort.models.torch.engine import (TrainingParams, class_weights, import_torch, torch_session,
                                           train_epochs)

__all__ = ["TorchClassifier"]

#: 2: parameters named ``random_state`` / ``n_jobs``; 1 (before): ``seed`` / ``n_threads``
_STATE_FORMAT = 2
_RENAMED = {"seed": "random_state", "n_threads": "n_jobs"}  # state format 1 → 2


@dataclass(eq=False, repr=False)
class TorchClassifier(ClassifierMixin, BaseEstimator, TrainingParams):
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
    def fit(self, X: Any, y: Any, groups: Any = None) -> TorchClassifier:
        """Train on ``X`` / ``y``; ``groups`` (e.g. recording ids) keeps each group on one side of the
        internal validation split. Returns ``self``."""
        torch = import_torch()
        from sklearn.utils.multiclass import check_classification_targets

        X, y = self._check_X(X, y, fitting=True)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        y_idx = y_idx.reshape(-1).astype(np.int64)
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in the data, "
                             f"but the data contains only one class: {classes[0]!r}")
        self.check_training_params()

        rs = self.random_state
        seed = rs if rs is not None else int(np.random.SeedSequence().generate_state(1)[0])
        tr, va = validation_split(y_idx, groups, self.val_fraction, seed)

        self.mean_, self.scale_ = self._fit_scaler(X[tr])
        self.classes_ = classes
        cw = class_weights(y_idx[tr], len(classes), self.class_weight, classes)
        self.class_weight_ = cw

        Xs = self._standardize(X)
        with torch_session(torch, self.n_jobs, seed):
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
        """:func:`~soundsort.models.torch.engine.train_epochs` with this estimator's parameters, optimizer
        (default :meth:`_optimizer`) and penalty."""
        return train_epochs(torch, module, Xs, y_idx, tr, va, cw, seed, self,
                            self._optimizer(torch, module) if optimizer is None else optimizer,
                            penalty=self._penalty, eval_batch_size=self._eval_batch_size, max_epochs=max_epochs,
                            min_epochs=min_epochs, best=best, epoch_offset=epoch_offset, extra=extra,
                            owner=type(self).__name__)

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
        torch = import_torch()
        module = self._module()
        Xs = self._standardize(X)
        out = []
        with torch_session(torch, self.n_jobs), torch.no_grad():
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
        fmt = state.pop("_state_format", 1)
        if fmt > _STATE_FORMAT:
            raise ValueError(f"{type(self).__name__} state format {fmt} is newer than this soundsort understands")
        if fmt < 2:  # saved before the scikit-learn names
            for old, new in _RENAMED.items():
                if old in state:
                    state.setdefault(new, state.pop(old))
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
        torch = import_torch()
        with torch_session(torch, self.n_jobs, 0):
            module = self._rebuild(torch, self.n_features_in_, len(self.classes_))
        module.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in weights.items()})
        module.eval()
        return module
