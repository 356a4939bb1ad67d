"""Bottleneck adapters (Houlsby or Pfeiffer placement) with a classification head."""

from __future__ import annotations

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ._adapted import AdaptedClassifier, doc
from ._base import TRAINING_CONSTRAINTS, store_params
from .adaptation import Adapters


class AdapterClassifier(AdaptedClassifier):
    __doc__ = doc(
        """Train small bottleneck adapters inside a frozen transformer, plus a head.

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
    placement : {"houlsby", "pfeiffer"}, default="houlsby"
    adapter_modules : list of str or None, default=None
        Regular expressions of module names to follow with an adapter.
    train_layer_norms : bool, default=False
{shared}

    Examples
    --------
    >>> from sktransformers import AdapterClassifier
    >>> clf = AdapterClassifier(bottleneck_dim=8, max_epochs=1, verbose=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    _parameter_constraints = {
        **TRAINING_CONSTRAINTS,
        "bottleneck_dim": [Interval(Integral, 1, None, closed="left"), None],
        "reduction_factor": [Interval(Integral, 1, None, closed="left")],
        "placement": [StrOptions({"houlsby", "pfeiffer"})],
        "adapter_modules": [list, tuple, None],
        "train_layer_norms": ["boolean"],
    }

    def __init__(self, model=None, *, bottleneck_dim=None, reduction_factor=16,
                 placement="houlsby", adapter_modules=None, train_layer_norms=False,
                 pooling="mean", max_length=128, batch_size=32, max_epochs=3, lr=1e-3,
                 weight_decay=0.01, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, class_weight=None, device="auto", precision="auto",
                 random_state=None, verbose=1):
        store_params(self, locals())

    def _adaptation(self):
        return Adapters(self.bottleneck_dim, self.reduction_factor, self.placement,
                        self.adapter_modules, self.train_layer_norms)
