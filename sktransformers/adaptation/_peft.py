"""The one call into PEFT that wraps a backbone."""

from __future__ import annotations

import warnings


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
