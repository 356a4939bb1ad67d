"""The torch modules every estimator is made of: pooling, heads, encoder + head."""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("mean", "cls", "last")
CHUNK_POOLINGS = ("mean", "max", "first")
PAIR_ENCODINGS = ("cross", "bi", "auto")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str,
         virtual_tokens: bool = False) -> torch.Tensor:
    """Pool token states ``(batch, seq, dim)`` into one vector per text.

    Methods that prepend virtual tokens (prompt tuning) return more positions than
    the mask has. Only the text's own positions are pooled: the virtual tokens act
    through attention, and an untrained prompt leaves the pooled vector close to
    the frozen model's. ``virtual_tokens=True`` counts them as real tokens (how
    0.2.0 pooled, kept for models it saved). ``"cls"`` takes the first real token;
    ``"last"`` the last real token of right-padded texts (what a causal LM has read
    everything by).
    """
    extra = hidden.shape[1] - attention_mask.shape[1]
    if extra > 0 and virtual_tokens and pooling == "mean":
        ones = attention_mask.new_ones(attention_mask.shape[0], extra)
        attention_mask = torch.cat([ones, attention_mask], dim=1)
    elif extra > 0:
        hidden = hidden[:, extra:]
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "last":
        last = attention_mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def pool_windows(vectors: torch.Tensor, window_doc: torch.Tensor, n_docs: int,
                 how: str = "mean") -> torch.Tensor:
    """Pool window vectors ``(n_windows, dim)`` into one vector per document.

    ``window_doc[i]`` is the document of window ``i``; a document's windows are
    consecutive and in text order. ``how`` is ``"mean"``, ``"max"`` (element-wise)
    or ``"first"`` (the first window only); ``"pair"`` takes items of exactly two
    windows, the two texts ``u``, ``v`` of a pair, and returns the pair features
    ``[u, v, |u - v|, u * v]`` (four times as wide).
    """
    if how == "pair":
        u, v = vectors[0::2], vectors[1::2]
        return torch.cat([u, v, (u - v).abs(), u * v], dim=1)
    if how == "first":
        starts = torch.ones_like(window_doc, dtype=torch.bool)
        starts[1:] = window_doc[1:] != window_doc[:-1]
        return vectors[starts]
    index = window_doc.unsqueeze(1).expand_as(vectors)
    out = vectors.new_zeros(n_docs, vectors.shape[1])
    return out.scatter_reduce(0, index, vectors, reduce="mean" if how == "mean" else "amax",
                              include_self=False)


def make_head(in_features: int, n_classes: int, hidden=(), dropout: float = 0.1,
              bias=None, weight=None) -> nn.Module:
    """An MLP head: ``len(hidden)`` hidden layers (ReLU, dropout), then a linear layer.

    ``bias`` (one value per output) and ``weight`` (``(n_classes, width)``, only
    without hidden layers) set the output layer's initial values.
    """
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, n_classes))
    if bias is not None:
        with torch.no_grad():
            layers[-1].bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    if weight is not None:
        with torch.no_grad():
            layers[-1].weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """A transformer backbone followed by pooling (and window pooling for long texts)."""

    def __init__(self, backbone: nn.Module, pooling: str = "mean", chunk_pooling: str = "mean",
                 virtual_tokens: bool = False, normalize: bool = False):
        super().__init__()
        self.normalize = normalize
        self.backbone = backbone
        self.pooling = pooling
        self.chunk_pooling = chunk_pooling
        self.virtual_tokens = virtual_tokens

    def forward(self, input_ids, attention_mask, window_doc=None, **kwargs):
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        vectors = pool(out.last_hidden_state, attention_mask, self.pooling, self.virtual_tokens)
        if window_doc is None:
            return self._unit(vectors)
        n_docs = int(window_doc[-1]) + 1
        if self.chunk_pooling == "pair":  # each text of a pair to unit length, then combined
            return pool_windows(self._unit(vectors), window_doc, n_docs, "pair")
        return self._unit(pool_windows(vectors, window_doc, n_docs, self.chunk_pooling))

    def _unit(self, vectors):
        """With ``normalize``, each vector scaled to unit length (as sentence encoders do)."""
        if not self.normalize:
            return vectors
        return vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-12)


class TextModel(nn.Module):
    """An :class:`Encoder` with a head on top: texts -> one output row per text."""

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


class RewardModule(TextModel):
    """An :class:`Encoder` and a one-output head scoring each response separately.

    Items of ``k`` responses (``window_doc`` groups them: a preference pair has two)
    give a ``(n_items, k)`` tensor of rewards; without ``window_doc`` one column.
    """

    def forward(self, input_ids, attention_mask, window_doc=None, **kwargs):
        rewards = self.head(self.encoder(input_ids, attention_mask, **kwargs))[:, 0]
        if window_doc is None:
            return rewards[:, None]
        return rewards.view(int(window_doc[-1]) + 1, -1)
