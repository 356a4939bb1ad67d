"""LoRA through PEFT: low-rank updates ``W + B·A·alpha/r`` on chosen linear layers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass
class LoRA:
    """Low-rank adaptation of the backbone's attention projections.

    ``target_modules=None`` lets PEFT pick its per-architecture default (for BERT
    ``query``/``value``, for Llama ``q_proj``/``v_proj``). With ``merge=True`` the
    update is folded into the weights after training, so prediction costs what
    the base model costs.
    """

    r: int = 8
    lora_alpha: float = 16
    lora_dropout: float = 0.1
    target_modules: object = None
    merge: bool = True

    def prepare(self, backbone, model_path):
        from peft import LoraConfig, TaskType, get_peft_model

        target = self.target_modules
        config = LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(target) if isinstance(target, (list, tuple)) else target,
        )
        try:
            with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(backbone, config)
        except ValueError as exc:
            raise ValueError(
                f"LoRA could not be applied to this backbone: {exc}. Pass target_modules "
                "with names of its linear layers, e.g. ['query', 'value'] for BERT."
            ) from exc

    def finalize(self, backbone):
        return backbone.merge_and_unload() if self.merge else backbone
