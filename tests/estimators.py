"""The estimator matrix every contract test runs over (tiny, fast settings)."""

from __future__ import annotations

from sktransformers import (
    AdaptedClassifier,
    AdaptedRegressor,
    AdapterClassifier,
    AdapterRegressor,
    ContrastiveClassifier,
    FullFinetuneClassifier,
    FullFinetuneRegressor,
    HeadFinetuneClassifier,
    HeadFinetuneRegressor,
    InContextClassifier,
    LoRAClassifier,
    LoRARegressor,
    PrefixTunedClassifier,
    PrefixTunedRegressor,
    PromptTunedClassifier,
    PromptTunedRegressor,
    TransformerFeatureClassifier,
    TransformerFeatureRegressor,
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
    "incontext": (InContextClassifier, {"template": "review : {text} \n sentiment : {label}",
                                        "n_examples": 2, "batch_size": 8,
                                        "max_text_tokens": 16, "random_state": 0}),
}

TRAINABLE = [name for name in CLASSIFIERS if name not in ("feature", "incontext")]

#: The regressor of each method, named ``<method>-reg``, with the same tiny settings.
_REGRESSOR_CLASSES = {
    "feature": TransformerFeatureRegressor, "head": HeadFinetuneRegressor,
    "full": FullFinetuneRegressor, "lora": LoRARegressor, "prompt": PromptTunedRegressor,
    "prefix": PrefixTunedRegressor, "adapter": AdapterRegressor,
}
REGRESSORS = {f"{name}-reg": (cls, CLASSIFIERS[name][1])
              for name, cls in _REGRESSOR_CLASSES.items()}
TRAINABLE_REGRESSORS = [f"{name}-reg" for name in TRAINABLE]

#: The generic estimators (any method, by name), through the contract with one method.
GENERIC = {
    "adapted": (AdaptedClassifier, {**TRAIN, "adaptation": "adapter", "lr": 1e-2}),
    "adapted-reg": (AdaptedRegressor, {**TRAIN, "adaptation": "adapter", "lr": 1e-2}),
    "contrastive": (ContrastiveClassifier, {**TRAIN, "lr": 1e-3}),
}

#: Every estimator of the contract matrix: classifiers and regressors.
ESTIMATORS = {**CLASSIFIERS, **REGRESSORS, **GENERIC}


def is_regressor_name(name) -> bool:
    return name.endswith("-reg")


def outputs(est, X):
    """What a fitted estimator gives for ``X``: probabilities, or predicted values."""
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)

#: The causal LM for "incontext" (set by the test session; it needs a decoder, the
#: other estimators take the tiny BERT passed to ``make``).
TINY_LM = {}


def applicable(name, param) -> bool:
    """Whether estimator ``name`` has parameter ``param``."""
    return param in ESTIMATORS[name][0]().get_params()


def make(name, model, **overrides):
    """A fresh estimator of kind ``name`` on the tiny model."""
    cls, params = ESTIMATORS[name]
    if name in ("feature", "feature-reg"):
        return cls(model=model, **{**params, **overrides})
    if name == "incontext":  # the tiny BERT serves as the retrieval encoder
        return cls(TINY_LM["path"], embedding_model=model, **{**params, **overrides})
    return cls(model, **{**params, **overrides})
