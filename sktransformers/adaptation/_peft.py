"""The one call into PEFT that wraps a backbone."""

from __future__ import annotations

import warnings


def task_type(backbone):
    """PEFT's task type for ``backbone``: a causal LM that generates (a policy) gets
    ``CAUSAL_LM`` (its PEFT model generates, and PEFT's own loaders read it back as
    one); an encoder, or a decoder used for its hidden states, ``FEATURE_EXTRACTION``."""
    from peft import TaskType  # peft loads in seconds: only when a method needs it

    generates = callable(getattr(backbone, "can_generate", None)) and backbone.can_generate()
    return TaskType.CAUSAL_LM if generates else TaskType.FEATURE_EXTRACTION


def apply_peft(backbone, config):
    """Wrap ``backbone`` with a PEFT ``config``; only the method's parameters stay trainable."""
    from peft import get_peft_model

    try:
        with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(backbone, config)
    except ValueError as exc:
        raise ValueError(
            f"{type(config).__name__} could not be applied to this backbone: {exc}. For "
            "LoRA pass target_modules with names of its linear layers, e.g. "
            "['query', 'value'] for BERT."
        ) from exc
