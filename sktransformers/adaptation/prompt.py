"""Soft prompt tuning through PEFT: trainable virtual-token embeddings before the input."""

from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass
class PromptTuning:
    """``n_virtual_tokens`` trainable embeddings prepended to every input.

    With ``init_text`` the virtual tokens start as the embeddings of that text's
    tokens (repeated or cut to ``n_virtual_tokens``), else at random.
    """

    n_virtual_tokens: int = 20
    init_text: str | None = None

    def prepare(self, backbone, model_path):
        from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

        init = {}
        if self.init_text:
            init = {
                "prompt_tuning_init": PromptTuningInit.TEXT,
                "prompt_tuning_init_text": self.init_text,
                "tokenizer_name_or_path": model_path,
            }
        config = PromptTuningConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            num_virtual_tokens=self.n_virtual_tokens,
            **init,
        )
        with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(backbone, config)

    def finalize(self, backbone):
        return backbone
