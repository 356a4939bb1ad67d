"""The estimator matrix every contract test runs over (tiny, fast settings)."""

from __future__ import annotations

from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
)

TRAIN = {"max_epochs": 2, "batch_size": 8, "verbose": 0, "random_state": 0, "max_length": 16}

CLASSIFIERS = {
    "feature": (TransformerFeatureClassifier, {"batch_size": 8, "max_length": 16}),
    "head": (HeadFinetuneClassifier, {**TRAIN, "max_epochs": 3, "lr": 1e-2}),
    "full": (FullFinetuneClassifier, {**TRAIN, "lr": 1e-3}),
    "lora": (LoRAClassifier, {**TRAIN, "r": 2, "lr": 1e-2}),
    "prompt": (PromptTunedClassifier, {**TRAIN, "n_virtual_tokens": 3, "lr": 1e-2}),
    "prefix": (PrefixTunedClassifier, {**TRAIN, "n_virtual_tokens": 3, "lr": 1e-2,
                                       "prefix_projection_dim": 8}),
    "adapter": (AdapterClassifier, {**TRAIN, "bottleneck_dim": 4, "lr": 1e-2}),
}

TRAINABLE = [name for name in CLASSIFIERS if name != "feature"]


def make(name, model, **overrides):
    """A fresh classifier of kind ``name`` on the tiny model."""
    cls, params = CLASSIFIERS[name]
    if name == "feature":
        return cls(model=model, **{**params, **overrides})
    return cls(model, **{**params, **overrides})
