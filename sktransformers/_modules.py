"""The torch modules every estimator is made of: pooling, heads, encoder + head."""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "cls")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states ``(batch, seq, dim)`` into one vector per text.

    Methods that prepend virtual tokens (prompt tuning) return more positions than
    the mask has; the extra leading positions count as real tokens for ``"mean"``,
    and ``"cls"`` takes the first real token.
    """
    extra = hidden.shape[1] - attention_mask.shape[1]
    if extra > 0:
        ones = attention_mask.new_ones(attention_mask.shape[0], extra)
        attention_mask = torch.cat([ones, attention_mask], dim=1)
    if pooling == "cls":
        return hidden[:, max(extra, 0)]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def make_head(in_features: int, n_classes: int, hidden=(), dropout: float = 0.1) -> nn.Module:
    """An MLP head: ``len(hidden)`` hidden layers (ReLU, dropout), then a linear layer."""
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """A transformer backbone followed by pooling."""

    def __init__(self, backbone: nn.Module, pooling: str = "mean"):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling

    def forward(self, input_ids, attention_mask, **kwargs):
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return pool(out.last_hidden_state, attention_mask, self.pooling)


class TextClassifier(nn.Module):
    """An :class:`Encoder` with a classification head on top: texts -> logits."""

    def __init__(self, encoder: Encoder, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, input_ids, attention_mask, **kwargs):
        return self.head(self.encoder(input_ids, attention_mask, **kwargs))


class FeatureHead(nn.Module):
    """A head trained on precomputed features: ``forward(features) -> logits``."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, features):
        return self.head(features)
