"""Bottleneck adapters (Houlsby or Pfeiffer placement) with a classification or regression head."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ..adaptation import Adapters
from .adapted import AdaptedClassifier, AdaptedRegressor, doc, example
from .base import REGRESSION_CONSTRAINTS, TRAINING_CONSTRAINTS, store_params

_ADAPTER_DOC = """
    Each adapter is ``h + up(gelu(down(h)))`` with ``up`` initialised to zero, so
    the untrained model equals the base model. ``placement="houlsby"`` puts one
    after the attention output projection and one after the feed-forward output
    projection of every layer; ``"pfeiffer"`` only after the feed-forward one.
    Only the adapters, the head and (with ``train_layer_norms``) the layer norms
    train. Built-in placements cover BERT-family encoders (bert, roberta, ...) and
    Llama-family decoders (llama, mistral, qwen2, ...); ``adapter_modules`` names
    the layers for any other architecture.

    Parameters
    ----------
    bottleneck_dim : int or None, default=None
        Adapter width; ``None`` means ``hidden_size // reduction_factor``.
    reduction_factor : int, default=16
        Hidden size divided by the bottleneck width, used when ``bottleneck_dim`` is
        ``None``.
    placement : {"houlsby", "pfeiffer"}, default="houlsby"
        ``"houlsby"``: an adapter after both attention and feed-forward of every
        layer; ``"pfeiffer"``: after the feed-forward only.
    adapter_modules : list of str or None, default=None
        Regular expressions of module names to follow with an adapter.
    train_layer_norms : bool, default=False
        Also train the backbone's layer norms (as Houlsby et al. do)."""

_ADAPTER_CONSTRAINTS = {
    "bottleneck_dim": [Interval(Integral, 1, None, closed="left"), None],
    "reduction_factor": [Interval(Integral, 1, None, closed="left")],
    "placement": [StrOptions({"houlsby", "pfeiffer"})],
    "adapter_modules": [list, tuple, None],
    "train_layer_norms": ["boolean"],
}


class _Adapters:
    def _adaptation(self):
        return Adapters(self.bottleneck_dim, self.reduction_factor, self.placement,
                        self.adapter_modules, self.train_layer_norms)


class AdapterClassifier(_Adapters, AdaptedClassifier):
    __doc__ = doc(
        """Train small bottleneck adapters inside a frozen transformer, plus a head.
""" + _ADAPTER_DOC + """
{shared}
""" + example("AdapterClassifier", "bottleneck_dim=8, "))

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **_ADAPTER_CONSTRAINTS}

    def __init__(self, model=None, *, bottleneck_dim=None, reduction_factor=16,
                 placement="houlsby", adapter_modules=None, train_layer_norms=False,
                 pooling="mean", max_length=None, long_text="truncate", stride=32,
                 chunk_pooling="mean", pair_encoding="auto", batch_size=32, max_epochs=3, lr=1e-3,
                 weight_decay=0.01, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, head_init="probe",
                 device="auto",
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())


class AdapterRegressor(_Adapters, AdaptedRegressor):
    __doc__ = doc(
        """Train small bottleneck adapters inside a frozen transformer, plus a regression head.
""" + _ADAPTER_DOC + """
{shared_regressor}
""" + example("AdapterRegressor", "bottleneck_dim=8, ", regressor=True))

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **_ADAPTER_CONSTRAINTS}

    def __init__(self, model=None, *, bottleneck_dim=None, reduction_factor=16,
                 placement="houlsby", adapter_modules=None, train_layer_norms=False,
                 pooling="mean", max_length=None, long_text="truncate", stride=32,
                 chunk_pooling="mean", pair_encoding="auto", batch_size=32, max_epochs=3, lr=1e-3,
                 weight_decay=0.01, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, loss="squared_error", normalize=True, head_init="probe",
                 device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())
