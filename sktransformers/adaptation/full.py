"""Full fine-tuning: every backbone weight trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AdaptationBase, register_adaptation


@register_adaptation
@dataclass
class FullFinetuning(AdaptationBase):
    """All layers of the backbone are updated (with the backbone's own dropout)."""

    name: ClassVar[str] = "full"
    default_lr: ClassVar[float] = 5e-5
    #: The backbone's dropout stays on in training (the other strategies train few
    #: parameters beside a frozen backbone and switch it off: see ``without_dropout``).
    keeps_dropout: ClassVar[bool] = True

    def prepare(self, backbone, model_path):
        return backbone.requires_grad_(True)

