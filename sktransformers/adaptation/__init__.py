"""Adaptation strategies: how a backbone is prepared for training, one small object each.

Each strategy takes a freshly loaded backbone and returns the module to train
with exactly the intended parameters trainable (``prepare``), then turns the
trained module into the one used for prediction (``finalize``). The estimator
adds the head (classification, regression or reward), which always trains.

Estimators that take ``adaptation=`` accept a name from :data:`ADAPTATIONS`
(the strategy with its default settings) or a strategy object, e.g.
``LoRA(r=16)``.
"""

from .adapters import Adapters
from .frozen import Frozen
from .full import FullFinetuning
from .lora import LoRA
from .prefix import PrefixTuning
from .prompt import PromptTuning

#: Strategy names, their classes and the default learning rate for each.
ADAPTATIONS = {
    "lora": (LoRA, 5e-4),
    "full": (FullFinetuning, 5e-5),
    "head": (Frozen, 1e-3),
    "adapter": (Adapters, 1e-3),
    "prompt": (PromptTuning, 3e-3),
    "prefix": (PrefixTuning, 1e-3),
}


def make_adaptation(spec):
    """The strategy object for ``spec`` (a name from :data:`ADAPTATIONS` or a strategy)."""
    if isinstance(spec, str):
        if spec not in ADAPTATIONS:
            raise ValueError(f"adaptation={spec!r} is not one of {sorted(ADAPTATIONS)}; pass "
                             "one of those names or a strategy object such as LoRA(r=16).")
        return ADAPTATIONS[spec][0]()
    if not (hasattr(spec, "prepare") and hasattr(spec, "finalize")):
        raise TypeError(f"adaptation={spec!r} is neither a name from {sorted(ADAPTATIONS)} nor "
                        "a strategy object (with prepare and finalize), such as LoRA(r=16).")
    return spec


def default_lr(spec) -> float:
    """The default learning rate of the strategy ``spec`` names or is (5e-4 if unknown)."""
    if isinstance(spec, str):
        return ADAPTATIONS[spec][1]
    return next((lr for cls, lr in ADAPTATIONS.values() if isinstance(spec, cls)), 5e-4)


__all__ = ["ADAPTATIONS", "Adapters", "Frozen", "FullFinetuning", "LoRA", "PrefixTuning",
           "PromptTuning", "default_lr", "make_adaptation"]
