"""Full fine-tuning: every backbone weight trains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FullFinetuning:
    """All layers of the backbone are updated."""

    def prepare(self, backbone, model_path):
        return backbone.requires_grad_(True)

    def finalize(self, backbone):
        return backbone
