"""Soft prompt tuning through PEFT: trainable virtual-token embeddings before the input."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from ._peft import apply_peft
from ._prompt_model import keep_text_positions
from .base import AdaptationBase, register_adaptation


@register_adaptation
@dataclass
class PromptTuning(AdaptationBase):
    """``n_virtual_tokens`` trainable embeddings prepended to every input.

    With ``init_text`` the virtual tokens start as the embeddings of that text's
    tokens (repeated or cut to ``n_virtual_tokens``); with ``sample_vocab`` as the
    embeddings of tokens drawn from the vocabulary (Lester et al., 2021); else at
    random (PEFT's ``nn.Embedding`` initialisation).

    On encoders with absolute position embeddings the text keeps the positions it
    was pre-trained at (see :mod:`sktransformers.adaptation._prompt_model`): PEFT's
    own forward moves it right by ``n_virtual_tokens``, which at 8 SST-2 sentences
    per class put soft prompts 6 points below frozen features.

    Parameters
    ----------
    n_virtual_tokens : int, default=20
        Trainable embeddings prepended to every input.
    init_text : str or None, default=None
        Text whose token embeddings initialise the virtual tokens; ``None``: random.
    pool_virtual_tokens : bool, default=False
        Whether mean pooling counts the virtual tokens' outputs (0.2.0 did; later
        versions pool the text's positions only).
    sample_vocab : bool, default=False
        Start from embeddings of vocabulary tokens drawn at random (when
        ``init_text`` is ``None``). Siamese pair encoders use it: random vectors
        move every sentence vector away from the sentence encoder's, and on 1,000
        STS-B pairs prompt tuning then ended at R2 0.699 against 0.729 from sampled
        tokens (frozen pair features: 0.725).
    keep_text_positions : bool, default=True
        Number the text as the backbone does without a prompt (the virtual tokens
        take its first position) and pass segment ids through; ``False`` is PEFT's
        forward (models saved by 0.3.0 and earlier load with it; siamese pairs use
        it, :meth:`for_siamese_pairs`). With ``True`` no ``adapter/`` folder is
        written: PEFT's forward would compute other vectors.
    """

    name: ClassVar[str] = "prompt"
    default_lr: ClassVar[float] = 3e-3
    #: the virtual tokens change every text token's output through attention
    starts_as_base: ClassVar[bool] = False

    n_virtual_tokens: int = 20
    init_text: str | None = None
    pool_virtual_tokens: bool = False
    sample_vocab: bool = False
    keep_text_positions: bool = True

    def __setstate__(self, state):
        state = dict(state)
        state.setdefault("pool_virtual_tokens", True)  # saved by 0.2.0
        state.setdefault("sample_vocab", False)
        state.setdefault("keep_text_positions", False)  # saved by 0.3.0
        vars(self).update(state)

    @property
    def peft_adapter(self) -> bool:
        """Whether PEFT's own model computes this strategy's vectors (``adapter/``)."""
        return not self.keep_text_positions

    def for_siamese_pairs(self):
        """This strategy with vocabulary-sampled virtual tokens at PEFT's positions
        (``init_text`` wins).

        Sampled word embeddings numbered 0..n-1 before the text read like a sentence
        before it; stacked at the text's first position they did worse: on 1,000
        STS-B pairs R2 0.686 against 0.729 at PEFT's positions (frozen pair
        features: 0.725).

        Returns
        -------
        strategy : PromptTuning
            A copy with ``sample_vocab=True`` and ``keep_text_positions=False``, or
            itself when ``init_text`` is set.
        """
        if self.init_text:
            return self
        return replace(self, sample_vocab=True, keep_text_positions=False)

    @property
    def positions_used(self) -> int:
        """Input positions the virtual tokens take from the text (all of them)."""
        return self.n_virtual_tokens

    def prepare(self, backbone, model_path):
        from peft import PromptTuningConfig, PromptTuningInit, TaskType

        init = {}
        if self.sample_vocab and not self.init_text:
            init = {"prompt_tuning_init": PromptTuningInit.SAMPLE_VOCAB}
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
        model = apply_peft(backbone, config)
        return keep_text_positions(model) if self.keep_text_positions else model

