"""Estimators that keep the backbone frozen and learn virtual tokens: soft prompts, prefixes."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ..adaptation import PrefixTuning, PromptTuning
from .adapted import AdaptedClassifier, AdaptedRegressor, doc, example
from .base import REGRESSION_CONSTRAINTS, TRAINING_CONSTRAINTS, store_params

_PROMPT_DOC = """
    The backbone stays frozen; only ``n_virtual_tokens`` embedding vectors and
    the head train. Prompt tuning needs a larger learning rate than fine-tuning.

    Parameters
    ----------
    n_virtual_tokens : int, default=20
        Trainable vectors: prepended to the input (prompt tuning) or to every layer's
        keys and values (prefix tuning).
    prompt_init_text : str or None, default=None
        Initialise the virtual tokens from this text's token embeddings (e.g.
        ``"Classify the sentiment of this review"``); random when ``None``."""

_PROMPT_CONSTRAINTS = {
    "n_virtual_tokens": [Interval(Integral, 1, None, closed="left")],
    "prompt_init_text": [str, None],
}


class _PromptTuning:
    def _adaptation(self):
        return PromptTuning(self.n_virtual_tokens, self.prompt_init_text)


class PromptTunedClassifier(_PromptTuning, AdaptedClassifier):
    __doc__ = doc(
        """Train soft prompt embeddings prepended to the input (via PEFT) and a head.
""" + _PROMPT_DOC + """
{shared}
""" + example("PromptTunedClassifier", "n_virtual_tokens=4, "))

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **_PROMPT_CONSTRAINTS}

    def __init__(self, model=None, *, n_virtual_tokens=20, prompt_init_text=None, pooling="mean",
                 max_length=None, long_text="truncate", stride=32, chunk_pooling="mean",
                 pair_encoding="auto", batch_size=32, max_epochs=3, lr=3e-3, weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=2,
                 class_weight=None, threshold=0.5, normalize=True, head_init="probe",
                 device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())


class PromptTunedRegressor(_PromptTuning, AdaptedRegressor):
    __doc__ = doc(
        """Train soft prompt embeddings prepended to the input and a regression head.
""" + _PROMPT_DOC + """
{shared_regressor}
""" + example("PromptTunedRegressor", "n_virtual_tokens=4, ", regressor=True))

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **_PROMPT_CONSTRAINTS}

    def __init__(self, model=None, *, n_virtual_tokens=20, prompt_init_text=None, pooling="mean",
                 max_length=None, long_text="truncate", stride=32, chunk_pooling="mean",
                 pair_encoding="auto", batch_size=32, max_epochs=3, lr=3e-3, weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=2,
                 loss="squared_error", normalize=True, head_init="probe",
                 device="auto", precision="auto", random_state=None,
                 verbose=1, checkpoint_dir=None):
        store_params(self, locals())


_PREFIX_DOC = """
    The backbone stays frozen; each layer's attention also attends to
    ``n_virtual_tokens`` trainable key/value vectors, produced by PEFT's prefix
    encoder (through a small MLP when ``prefix_projection_dim`` is set, as in
    the original method). Works with BERT-family encoders and Llama-family
    decoders (see :mod:`sktransformers.adaptation.prefix` for why we feed the
    prefixes ourselves rather than through PEFT's model wrapper).

    The default learning rate is 2e-3 (5e-3 until 0.3.0): at 8 SST-2 sentences per
    class 5e-3 ended 4.7 points below frozen features (5 draws, two of them near
    chance; 2e-3: 0.0), at the price of TREC at 8 questions per class (+7.8 points
    over frozen features against +13.7); at 1,000 texts 2e-3 scored SST-2 0.795, TREC
    0.914 and the tweets 0.720 against 0.787, 0.896 and 0.738 (one seed;
    ``benchmarks/results/prefix_lr.md``).

    Parameters
    ----------
    n_virtual_tokens : int, default=20
        Trainable vectors: prepended to the input (prompt tuning) or to every layer's
        keys and values (prefix tuning).
    prefix_projection_dim : int or None, default=128
        Width of the reparameterisation MLP; ``None`` trains the prefixes directly."""

_PREFIX_CONSTRAINTS = {
    "n_virtual_tokens": [Interval(Integral, 1, None, closed="left")],
    "prefix_projection_dim": [Interval(Integral, 1, None, closed="left"), None],
}


class _PrefixTuning:
    def _adaptation(self):
        return PrefixTuning(self.n_virtual_tokens, self.prefix_projection_dim)


class PrefixTunedClassifier(_PrefixTuning, AdaptedClassifier):
    __doc__ = doc(
        """Train key/value prefixes in every attention layer (prefix tuning) and a head.
""" + _PREFIX_DOC + """
{shared}
""" + example("PrefixTunedClassifier", "n_virtual_tokens=4, "))

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **_PREFIX_CONSTRAINTS}

    def __init__(self, model=None, *, n_virtual_tokens=20, prefix_projection_dim=128,
                 pooling="mean", max_length=None, long_text="truncate", stride=32,
                 chunk_pooling="mean", pair_encoding="auto", batch_size=32, max_epochs=3, lr=2e-3,
                 weight_decay=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, head_init="probe",
                 device="auto",
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())


class PrefixTunedRegressor(_PrefixTuning, AdaptedRegressor):
    __doc__ = doc(
        """Train key/value prefixes in every attention layer and a regression head.
""" + _PREFIX_DOC + """
{shared_regressor}
""" + example("PrefixTunedRegressor", "n_virtual_tokens=4, ", regressor=True))

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **_PREFIX_CONSTRAINTS}

    def __init__(self, model=None, *, n_virtual_tokens=20, prefix_projection_dim=128,
                 pooling="mean", max_length=None, long_text="truncate", stride=32,
                 chunk_pooling="mean", pair_encoding="auto", batch_size=32, max_epochs=3, lr=2e-3,
                 weight_decay=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, loss="squared_error", normalize=True, head_init="probe",
                 device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())
