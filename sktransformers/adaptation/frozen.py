"""A frozen backbone: only what the estimator puts on top of it (the head) trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AdaptationBase, register_adaptation


@register_adaptation
@dataclass
class Frozen(AdaptationBase):
    """No backbone weight changes; the head trains on the backbone's outputs."""

    name: ClassVar[str] = "head"
    default_lr: ClassVar[float] = 1e-3

    def prepare(self, backbone, model_path):
        return backbone.requires_grad_(False)

