"""The networks of soundsort's PyTorch estimators, as plain ``torch.nn.Module`` classes.

This module imports torch at its top: the estimators reach it only through
:func:`soundsort.models.torch.engine.import_nets` (the one lazy torch import), so importing them, or
registering the models, works without torch. Attribute names are part of the saved models' format (a
model file holds each network's ``state_dict``): rename none.

* MLP (:func:`mlp`) and the study's self-attention + Conv1D network (:class:`AttentionConv1DNet`) for
  :mod:`soundsort.models.torch.heads`;
* the image parts for :mod:`soundsort.models.torch.cnn`: :class:`SpecAugment`, :class:`RepeatChannels`, the
  from-scratch :class:`CompactCNN` body, the study's :func:`head`, :class:`BodyHead` (augment → body →
  pool → head) and :class:`StageNet` (fine-tuning on a precomputed frozen prefix).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["AttentionConv1DNet", "BodyHead", "CompactCNN", "ConvBlock", "RepeatChannels", "SelfAttention",
           "SpecAugment", "StageNet", "head", "mlp", "pool"]


# ----------------------------------------------------------------------------------------- vectors


def mlp(n_features: int, n_classes: int, hidden: tuple[int, ...], batch_norm: bool, dropout: float) -> nn.Module:
    """``[Linear → BatchNorm? → ReLU → Dropout?] × len(hidden)`` → Linear to ``n_classes`` logits."""
    layers: list[nn.Module] = []
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


# --------------------------------------------------------------------------------------- sequences


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
    """The music/non-music study's network on ``(n, T, D)``: attention → batch norm → Conv1D → pool → Conv1D →
    global average → dense → K logits (see :class:`~soundsort.models.torch.heads.AttentionConv1DClassifier`)."""

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
        pool_size = min(self.pool_size, x.shape[-1])
        if pool_size > 1:
            x = F.max_pool1d(x, pool_size)
        x = F.relu(self.conv2(self.drop1(x)))
        x = x.mean(dim=-1)  # global average pooling over time
        return self.head(self.drop2(F.relu(self.dense(x))))

    def penalty(self) -> Any:
        """Sum of squared conv and hidden-dense kernels (Keras kernel_regularizer=l2 on those layers)."""
        return self.conv1.weight.square().sum() + self.conv2.weight.square().sum() + \
            self.dense.weight.square().sum()


# ------------------------------------------------------------------------------------------ images


def pool(z: Any) -> Any:
    """Feature maps ``(n, F, h, w)`` → ``(n, F)`` by their mean; other shapes flattened."""
    if z.dim() == 4:
        return z.mean(dim=(-2, -1))
    return z.reshape(z.shape[0], -1)


class SpecAugment(nn.Module):
    """Training only: per image, one band of random width ≤ ``fraction`` × size on each image axis set to 0."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = float(fraction)

    def forward(self, x: Any) -> Any:
        if not self.training or self.fraction <= 0 or x.dim() != 4:
            return x
        n = x.shape[0]
        keep = torch.ones((n, 1, x.shape[2], x.shape[3]), dtype=x.dtype)
        for axis in (2, 3):
            size = int(x.shape[axis])
            widest = int(self.fraction * size)
            if widest < 1:
                continue
            width = torch.randint(0, widest + 1, (n,))
            start = (torch.rand(n) * (size - width + 1).to(torch.float32)).long()
            pos = torch.arange(size)
            band = (pos[None, :] >= start[:, None]) & (pos[None, :] < (start + width)[:, None])
            shape = [n, 1, 1, 1]
            shape[axis] = size
            keep = keep * (~band).to(x.dtype).view(shape)
        return x * keep


class RepeatChannels(nn.Module):
    """``(n, 1, H, W)`` → ``(n, k, H, W)`` (a grey image as RGB, as the study fed ImageNet networks)."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.k = int(k)

    def forward(self, x: Any) -> Any:
        return x.expand(-1, self.k, -1, -1) if x.shape[1] == 1 else x


class ConvBlock(nn.Module):
    """conv 3×3 (no bias) → BatchNorm → ReLU → max-pool 2×2 (tiny maps: only what is there)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, x: Any) -> Any:
        x = F.relu(self.norm(self.conv(x)))
        kh, kw = min(2, x.shape[-2]), min(2, x.shape[-1])
        return F.max_pool2d(x, (kh, kw)) if kh * kw > 1 else x


class CompactCNN(nn.Module):
    """The from-scratch body: a :class:`ConvBlock` per width in ``channels`` (the first with ``stem_stride``),
    then global ``"avg"``, ``"max"`` or ``"avgmax"`` pooling to ``(n, F)``."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], stem_stride: int, global_pool: str) -> None:
        super().__init__()
        layers = []
        c = in_channels
        for i, width in enumerate(channels):
            layers.append(ConvBlock(c, int(width), int(stem_stride) if i == 0 else 1))
            c = int(width)
        self.layers = nn.ModuleList(layers)
        self.global_pool = global_pool

    @property
    def blocks(self) -> list[Any]:
        return list(self.layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        if self.global_pool == "avg":
            return x.mean(dim=(-2, -1))
        if self.global_pool == "max":
            return x.amax(dim=(-2, -1))
        return torch.cat([x.mean(dim=(-2, -1)), x.amax(dim=(-2, -1))], dim=1)


def head(n_features: int, n_classes: int, units: tuple[int, ...], dropout: float) -> nn.Module:
    """The study's head: dropout, dense hidden layers (ReLU), dense K logits (softmax in the loss)."""
    layers: list[nn.Module] = [nn.Dropout(float(dropout))] if dropout > 0 else []
    width = n_features
    for u in units:
        layers += [nn.Linear(width, int(u)), nn.ReLU()]
        width = int(u)
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class BodyHead(nn.Module):
    """augment → body → pool → head; a ``body_eval`` body stays in evaluation mode while training."""

    def __init__(self, augment: Any, body: Any, head: Any, body_eval: bool) -> None:
        super().__init__()
        self.augment = augment
        self.body = body
        self.head = head
        self.body_eval = bool(body_eval)

    def train(self, mode: bool = True) -> BodyHead:
        super().train(mode)
        if self.body_eval:
            self.body.eval()
        return self

    def features(self, x: Any) -> Any:
        return pool(self.body(x))

    def forward(self, x: Any) -> Any:
        return self.head(self.features(self.augment(x)))


class StageNet(nn.Module):
    """Stage two on a precomputed frozen prefix: suffix (evaluation mode) → pool → head."""

    def __init__(self, suffix: Any, head: Any) -> None:
        super().__init__()
        self.suffix = suffix
        self.head = head

    def train(self, mode: bool = True) -> StageNet:
        super().train(mode)
        self.suffix.eval()
        return self

    def forward(self, z: Any) -> Any:
        return self.head(pool(self.suffix(z)))
