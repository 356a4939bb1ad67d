"""Prefix tuning (Li & Liang, 2021): trainable key/value prefixes in every attention layer.

A thin shim over PEFT's ``PrefixEncoder`` (the prefix parameters and the optional
reparameterisation MLP). PEFT's own prefix-tuning wrapper hands the prefixes to
the model as ``past_key_values``; transformers 5 renamed that argument to
``cache`` and encoders such as BERT then ignore the prefixes (measured: zero
gradient reaches them). The shim builds a ``DynamicCache`` holding the prefixes
for every forward pass and passes it under whichever name the backbone's
``forward`` takes, with the attention mask extended over the prefix positions.
It works for BERT-family encoders and Llama-family decoders alike.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ..backbones.loading import cache_argument
from .base import AdaptationBase, register_adaptation


class PrefixTunedBackbone(nn.Module):
    """A frozen backbone whose attention layers see trainable key/value prefixes."""

    def __init__(self, backbone, n_virtual_tokens: int, projection_dim: int | None):
        from peft import PrefixTuningConfig, TaskType
        from peft.tuners.prefix_tuning import PrefixEncoder

        super().__init__()
        config = backbone.config
        self.n_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or (
            config.hidden_size // config.num_attention_heads)
        self.n_layers = config.num_hidden_layers
        self.n_virtual_tokens = n_virtual_tokens
        self.cache_argument = cache_argument(backbone)
        self.takes_position_ids = "position_ids" in inspect.signature(backbone.forward).parameters
        self.backbone = backbone.requires_grad_(False)
        self.prefix_encoder = PrefixEncoder(PrefixTuningConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            num_virtual_tokens=n_virtual_tokens,
            num_layers=self.n_layers,
            token_dim=self.n_heads * self.head_dim,
            num_attention_heads=self.n_heads,
            num_transformer_submodules=1,
            prefix_projection=projection_dim is not None,
            encoder_hidden_size=projection_dim or 0,
        ))
        self.register_buffer("prefix_ids", torch.arange(n_virtual_tokens), persistent=False)

    @property
    def config(self):
        return self.backbone.config

    def _prefix_cache(self, batch_size: int):
        from transformers import DynamicCache

        kv = self.prefix_encoder(self.prefix_ids.unsqueeze(0).expand(batch_size, -1))
        kv = kv.view(batch_size, self.n_virtual_tokens, 2 * self.n_layers, self.n_heads,
                     self.head_dim).permute(2, 0, 3, 1, 4)  # (2L, B, heads, P, head_dim)
        cache = DynamicCache(config=self.backbone.config)
        for layer in range(self.n_layers):
            cache.update(kv[2 * layer], kv[2 * layer + 1], layer)
        return cache

    def forward(self, input_ids, attention_mask, **kwargs):
        batch = input_ids.shape[0]
        prefix_mask = attention_mask.new_ones(batch, self.n_virtual_tokens)
        kwargs[self.cache_argument] = self._prefix_cache(batch)
        if self.takes_position_ids and "position_ids" not in kwargs:
            # the text keeps the positions it was pre-trained at: with a cache, models
            # number the input from the cache length (absolute position embeddings such
            # as BERT's then see every text shifted right by n_virtual_tokens)
            kwargs["position_ids"] = torch.arange(
                input_ids.shape[1], device=input_ids.device).expand(batch, -1)
        return self.backbone(input_ids=input_ids,
                             attention_mask=torch.cat([prefix_mask, attention_mask], dim=1),
                             use_cache=False, **kwargs)


@register_adaptation
@dataclass
class PrefixTuning(AdaptationBase):
    """``n_virtual_tokens`` trainable key/value prefixes in every layer's attention.

    ``projection_dim`` reparameterises the prefixes through a two-layer MLP of that
    width, as in the original method (more stable training); ``None`` trains the
    prefixes directly.

    Parameters
    ----------
    n_virtual_tokens : int, default=20
        Prefix positions added to every layer's keys and values.
    projection_dim : int or None, default=128
        Width of the reparameterising MLP; ``None`` trains the prefixes directly.
    """

    name: ClassVar[str] = "prefix"
    default_lr: ClassVar[float] = 1e-3

    n_virtual_tokens: int = 20
    projection_dim: int | None = 128

    def prepare(self, backbone, model_path):
        return PrefixTunedBackbone(backbone, self.n_virtual_tokens, self.projection_dim)

