"""The PyTorch training engine: the torch session, the shared training parameters and the epoch loop.

* :func:`import_torch` / :func:`import_nets` — the one lazy import of torch (and of the network classes of
  :mod:`soundsort.models.torch.nets`, which import torch at their top); a missing torch is a
  :class:`~soundsort.errors.ConfigError` saying how to install it.
* :func:`torch_session` — thread count (``n_jobs``), deterministic algorithms and a private RNG stream for
  one fit or prediction, restored afterwards.
* :class:`TrainingParams` — the twelve training parameters every PyTorch estimator takes, declared once.
* :func:`train_epochs` — one training run: shuffled mini-batches, class-weighted cross-entropy (plus an
  optional penalty), ReduceLROnPlateau, early stopping on a validation part with the best epoch's weights
  restored, a per-epoch history.

Nothing here knows about estimators: :mod:`soundsort.models.torch.base` builds them on this.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np

from soundsort.errors import ConfigError

__all__ = ["TORCH_PIN", "TrainingParams", "class_weights", "eval_loss", "import_nets", "import_torch",
           "resolve_threads", "torch_session", "train_epochs"]

TORCH_PIN = "torch==2.13.0"


def import_torch() -> Any:
    """``torch``, or a :class:`ConfigError` naming the pinned version to install."""
    try:
        import torch
    except ImportError:
        raise ConfigError(f"the neural heads need PyTorch, which is not installed: pip install {TORCH_PIN}") from None
    return torch


def import_nets() -> Any:
    """The module of network classes (:mod:`soundsort.models.torch.nets`, which imports torch at its top)."""
    import_torch()
    from soundsort.models.torch import nets

    return nets


def resolve_threads(n_jobs: int | None) -> int:
    """Torch CPU threads for ``n_jobs``: None / 0 → 1; joblib style negatives (-1 every core, -2 all but one)."""
    if n_jobs is None or n_jobs == 0:
        return 1
    cpus = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, cpus + 1 + int(n_jobs))
    return int(n_jobs)


@contextlib.contextmanager
def torch_session(torch: Any, n_jobs: int | None, seed: int | None = None) -> Iterator[None]:
    """Thread count, deterministic algorithms and a private RNG stream for one fit/predict; restored after."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(resolve_threads(n_jobs))
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)


@dataclass(eq=False, repr=False)
class TrainingParams:
    """The training parameters shared by every PyTorch estimator (each may give other defaults).

    ``lr``: the optimizer's learning rate; ``batch_size``: rows per mini-batch; ``max_epochs``: the most
    epochs; early stopping on the validation loss (``val_fraction`` of the training rows, grouped by
    ``fit``'s ``groups``; the training loss when that is 0) with ``patience`` once ``min_epochs`` have run;
    ``class_weight``: ``"balanced"``, ``None`` or ``{label: weight}``; ReduceLROnPlateau after
    ``min_epochs`` too (``lr_factor``, ``lr_patience`` — default ``max(1, patience // 2)`` —, ``min_lr``);
    ``random_state``: the same value and ``n_jobs`` give the same probabilities (None: a fresh seed each
    fit); ``n_jobs``: torch CPU threads (-1: every core).
    """

    _: KW_ONLY
    lr: float = 1e-3
    batch_size: int = 32
    max_epochs: int = 100
    min_epochs: int = 3
    patience: int = 10
    val_fraction: float = 0.15
    class_weight: str | dict | None = "balanced"
    lr_factor: float = 0.5
    lr_patience: int | None = None
    min_lr: float = 1e-6
    random_state: int | None = 0
    n_jobs: int | None = 1

    def check_training_params(self) -> None:
        """The epoch and batch counts must be integers (``min_epochs`` may be 0)."""
        for name in ("max_epochs", "batch_size", "patience", "min_epochs"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "min_epochs" else 1):
                raise ConfigError(f"{name} must be a {'non-negative' if name == 'min_epochs' else 'positive'} "
                                  f"integer, got {value!r}")


def class_weights(y_idx: np.ndarray, n_classes: int, class_weight: Any, classes: np.ndarray) -> np.ndarray:
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


def eval_loss(torch: Any, module: Any, X: Any, y: Any, weight: Any, batch_size: int) -> float:
    """Mean class-weighted cross-entropy of ``module`` (in evaluation mode) on tensors ``X`` / ``y``."""
    F = torch.nn.functional
    module.eval()
    total = 0.0
    with torch.no_grad():
        step = int(batch_size)
        for start in range(0, len(X), step):
            xb, yb = X[start:start + step], y[start:start + step]
            total += float((F.cross_entropy(module(xb), yb, reduction="none") * weight[yb]).sum())
    return total / len(X)


def train_epochs(torch: Any, module: Any, Xs: np.ndarray, y_idx: np.ndarray, tr: np.ndarray, va: np.ndarray,
                 cw: np.ndarray, seed: int, params: TrainingParams, optimizer: Any, *,
                 penalty: Callable[[Any], Any] | None = None, eval_batch_size: int = 1024,
                 max_epochs: int | None = None, min_epochs: int | None = None, best: float = math.inf,
                 epoch_offset: int = 0, extra: dict[str, Any] | None = None,
                 owner: str = "model") -> tuple[list[dict[str, Any]], int, float]:
    """One training run of ``module`` on rows ``tr`` of ``Xs`` with early stopping on rows ``va``.

    ``y_idx`` are class indices, ``cw`` the per-class loss weights, ``penalty(module)`` an optional term
    added to the loss (not to the reported losses). ``max_epochs`` and ``min_epochs`` override ``params``';
    a run that never gets below ``best`` restores the weights it started from. Batches are drawn by a
    numpy generator seeded with ``seed + epoch_offset``. History epochs are numbered from
    ``epoch_offset + 1`` and carry ``extra``'s items. Returns ``(history, best_epoch, best_monitor)``
    (``best_epoch`` 0: no epoch beat ``best``); ``owner`` names the estimator in warnings.
    """
    F = torch.nn.functional
    rng = np.random.default_rng(seed + epoch_offset)
    X_tr, y_tr = torch.from_numpy(Xs[tr]), torch.from_numpy(y_idx[tr])
    X_va, y_va = torch.from_numpy(Xs[va]), torch.from_numpy(y_idx[va])
    weight = torch.as_tensor(cw, dtype=torch.float32)
    max_epochs = int(params.max_epochs if max_epochs is None else max_epochs)
    min_epochs = int(params.min_epochs if min_epochs is None else min_epochs)
    lr_patience = params.lr_patience if params.lr_patience is not None else max(1, params.patience // 2)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=params.lr_factor,
                                                           patience=lr_patience, min_lr=params.min_lr)
    has_val = len(va) > 0
    n_tr, bs = len(tr), int(params.batch_size)
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
            extra_term = penalty(module) if penalty is not None else None
            if extra_term is not None:
                loss = loss + extra_term
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(data_loss.detach()) * len(idx)
            seen += len(idx)
        train_loss = total / max(seen, 1)
        val_loss = eval_loss(torch, module, X_va, y_va, weight, eval_batch_size) if has_val else None
        monitor = val_loss if has_val else train_loss
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                        **(extra or {})})
        if not math.isfinite(monitor):
            warnings.warn(f"{owner}: loss is not finite at epoch {epoch}; "
                          f"stopping with the best weights so far", RuntimeWarning, stacklevel=4)
            break
        warming_up = epoch - epoch_offset <= min_epochs
        if not warming_up:  # no learning-rate cuts during the warm-up plateau
            scheduler.step(monitor)
        if monitor < best - 1e-6 * max(1.0, abs(best) if math.isfinite(best) else 1.0):
            best, best_epoch, wait = monitor, epoch, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            wait += 1
            if wait >= params.patience and not warming_up:
                break
    module.load_state_dict(best_state)
    return history, best_epoch, best
