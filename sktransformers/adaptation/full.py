"""Full fine-tuning: every backbone weight trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass
class FullFinetuning:
    """All layers of the backbone are updated (with the backbone's own dropout)."""

    #: The backbone's dropout stays on in training (the other strategies train few
    #: parameters beside a frozen backbone and switch it off: see ``without_dropout``).
    keeps_dropout: ClassVar[bool] = True

    def prepare(self, backbone, model_path):
        return backbone.requires_grad_(True)

    def finalize(self, backbone):
        return backbone
