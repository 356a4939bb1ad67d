"""Soft prompt tuning through PEFT: trainable virtual-token embeddings before the input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._peft import apply_peft
from .base import AdaptationBase, register_adaptation


@register_adaptation
@dataclass
class PromptTuning(AdaptationBase):
    """``n_virtual_tokens`` trainable embeddings prepended to every input.

    With ``init_text`` the virtual tokens start as the embeddings of that text's
    tokens (repeated or cut to ``n_virtual_tokens``), else at random.

    Parameters
    ----------
    n_virtual_tokens : int, default=20
        Trainable embeddings prepended to every input.
    init_text : str or None, default=None
        Text whose token embeddings initialise the virtual tokens; ``None``: random.
    pool_virtual_tokens : bool, default=False
        Whether mean pooling counts the virtual tokens' outputs (0.2.0 did; later
        versions pool the text's positions only).
    """

    name: ClassVar[str] = "prompt"
    default_lr: ClassVar[float] = 3e-3
    peft_adapter: ClassVar[bool] = True
    #: the virtual tokens change every text token's output through attention
    starts_as_base: ClassVar[bool] = False

    n_virtual_tokens: int = 20
    init_text: str | None = None
    pool_virtual_tokens: bool = False

    def __setstate__(self, state):
        state = dict(state)
        state.setdefault("pool_virtual_tokens", True)  # saved by 0.2.0
        vars(self).update(state)

    @property
    def positions_used(self) -> int:
        """Input positions the virtual tokens take from the text (all of them)."""
        return self.n_virtual_tokens

    def prepare(self, backbone, model_path):
        from peft import PromptTuningConfig, PromptTuningInit, TaskType

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
        return apply_peft(backbone, config)

