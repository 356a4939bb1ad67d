"""Bottleneck adapters (Houlsby et al., 2019), injected without editing the model class.

AdapterHub's ``adapters`` package pins transformers 4.x, so this is a small
module of our own. An adapter is ``h + up(act(down(h)))`` with ``up`` starting at
zero, so an untrained adapter is the identity and the adapted model starts as
the base model. It is placed on the output of chosen projection layers:

- ``"houlsby"``: after the attention output projection and after the
  feed-forward output projection of every layer (before their residual sums);
- ``"pfeiffer"``: after the feed-forward output projection only.

Which layers those are is looked up by the backbone's ``model_type`` (BERT-family
encoders and Llama-family decoders are built in); any other architecture works
by naming the layers with ``adapter_modules`` (regular expressions matched
against module names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from .base import AdaptationBase, register_adaptation

_BERT = {"attention": r"attention\.output\.dense$", "ffn": r"layer\.\d+\.output\.dense$"}
_LLAMA = {"attention": r"self_attn\.o_proj$", "ffn": r"mlp\.down_proj$"}
_GPT2 = {"attention": r"attn\.c_proj$", "ffn": r"mlp\.c_proj$"}

#: model_type -> regular expressions of the projections adapters follow.
PLACEMENTS = {
    **dict.fromkeys(("bert", "roberta", "xlm-roberta", "electra", "camembert", "mpnet"), _BERT),
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3"), _LLAMA),
    "gpt2": _GPT2,
}


class Adapter(nn.Module):
    """``h + up(act(down(h)))``; ``up`` is zero at init, so the adapter starts as identity."""

    def __init__(self, dim: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, dim)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden):
        return hidden + self.up(self.act(self.down(hidden)))


class WithAdapter(nn.Module):
    """A layer followed by an adapter on its output."""

    def __init__(self, layer: nn.Module, adapter: Adapter):
        super().__init__()
        self.layer = layer
        self.adapter = adapter

    def forward(self, *args, **kwargs):
        return self.adapter(self.layer(*args, **kwargs))


def _out_features(layer: nn.Module) -> int:
    if hasattr(layer, "out_features"):
        return layer.out_features
    if hasattr(layer, "nf"):  # GPT-2's Conv1D
        return layer.nf
    raise ValueError(f"Cannot place an adapter after {type(layer).__name__}: unknown width.")


@register_adaptation
@dataclass
class Adapters(AdaptationBase):
    """Insert bottleneck adapters; train only them (and layer norms if asked).

    Parameters
    ----------
    bottleneck_dim : int or None
        Width of the bottleneck; ``None`` uses ``hidden_size // reduction_factor``.
    reduction_factor : int
        Hidden size divided by the bottleneck width, used when ``bottleneck_dim`` is
        ``None``.
    placement : {"houlsby", "pfeiffer"}
        ``"houlsby"``: after attention and feed-forward; ``"pfeiffer"``: after the
        feed-forward output projection only.
    adapter_modules : list of str or None
        Regular expressions of module names to place adapters after, overriding
        ``placement``'s built-in lookup.
    train_layer_norms : bool
        Also train the backbone's LayerNorm / RMSNorm weights.
    """

    name: ClassVar[str] = "adapter"
    default_lr: ClassVar[float] = 1e-3
    keeps_dropout: ClassVar[bool] = True  # measured: without it, 3 points lower

    bottleneck_dim: int | None = None
    reduction_factor: int = 16
    placement: str = "houlsby"
    adapter_modules: object = None
    train_layer_norms: bool = False

    def _patterns(self, config) -> list[str]:
        if self.adapter_modules:
            return list(self.adapter_modules)
        found = PLACEMENTS.get(getattr(config, "model_type", None))
        if found is None:
            raise ValueError(
                f"No built-in adapter placement for model_type="
                f"{getattr(config, 'model_type', None)!r}; pass adapter_modules with "
                "regular expressions of the projection layers to follow, e.g. "
                r"['attention\.output\.dense$', 'output\.dense$']. Built in: "
                f"{sorted(PLACEMENTS)}."
            )
        return [found["ffn"]] if self.placement == "pfeiffer" else [found["attention"],
                                                                   found["ffn"]]

    def prepare(self, backbone, model_path):
        backbone.requires_grad_(False)
        width = self.bottleneck_dim or max(1, backbone.config.hidden_size // self.reduction_factor)
        patterns = [re.compile(p) for p in self._patterns(backbone.config)]
        targets = [name for name, _ in backbone.named_modules()
                   if any(p.search(name) for p in patterns)]
        if not targets:
            raise ValueError(
                f"adapter_modules {[p.pattern for p in patterns]} match no module of this "
                "backbone; check the names with model.named_modules()."
            )
        for name in targets:
            parent_name, _, child = name.rpartition(".")
            parent = backbone.get_submodule(parent_name)
            layer = getattr(parent, child)
            setattr(parent, child, WithAdapter(layer, Adapter(_out_features(layer), width)))
        if self.train_layer_norms:
            for module in backbone.modules():
                if "norm" in type(module).__name__.lower():
                    module.requires_grad_(True)
        return backbone

