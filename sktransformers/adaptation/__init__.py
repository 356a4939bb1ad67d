"""Adaptation strategies: how a backbone is prepared for training, one small object each.

Each strategy takes a freshly loaded backbone and returns the module to train
with exactly the intended parameters trainable (``prepare``), then turns the
trained module into the one used for prediction (``finalize``). The estimator
adds the head (classification, regression or reward), which always trains.

Estimators that take ``adaptation=`` accept a name from :data:`ADAPTATIONS`
(the strategy with its default settings) or a strategy object, e.g.
``LoRA(r=16)``. A new method is a subclass of :class:`AdaptationBase` registered
with :func:`register_adaptation` (see "How to add an adaptation method" in the
design notes).

This package is the registry: the rest of the library imports strategies from
here, never from their modules. It may import :mod:`sktransformers.core` and
:mod:`sktransformers.backbones`.
"""

from .adapters import Adapters
from .base import (
    ADAPTATIONS,
    Adaptation,
    AdaptationBase,
    default_lr,
    make_adaptation,
    register_adaptation,
)
from .frozen import Frozen
from .full import FullFinetuning
from .lora import LoRA
from .prefix import PrefixTuning
from .prompt import PromptTuning

__all__ = ["ADAPTATIONS", "Adaptation", "AdaptationBase", "Adapters", "Frozen",
           "FullFinetuning", "LoRA", "PrefixTuning", "PromptTuning", "default_lr",
           "make_adaptation", "register_adaptation"]
