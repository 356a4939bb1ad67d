"""Adaptation strategies: how a backbone is prepared for training, one small object each.

Each strategy takes a freshly loaded backbone and returns the module to train
with exactly the intended parameters trainable (``prepare``), then turns the
trained module into the one used for prediction (``finalize``). The estimator
adds the classification head, which always trains.
"""

from .adapters import Adapters
from .full import FullFinetuning
from .lora import LoRA
from .prefix import PrefixTuning
from .prompt import PromptTuning

__all__ = ["Adapters", "FullFinetuning", "LoRA", "PrefixTuning", "PromptTuning"]
