"""A frozen backbone: only what the estimator puts on top of it (the head) trains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Frozen:
    """No backbone weight changes; the head trains on the backbone's outputs."""

    def prepare(self, backbone, model_path):
        return backbone.requires_grad_(False)

    def finalize(self, backbone):
        return backbone
