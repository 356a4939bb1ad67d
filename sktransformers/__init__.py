"""sktransformers: adapt pretrained transformers to labelled text with the scikit-learn API.

Every adaptation method is a scikit-learn estimator with ``fit``, ``predict``,
``predict_proba`` and ``score``: it drops into ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and ``joblib.dump``. Classifiers take single labels or a
multi-label indicator matrix; each trainable method also has a ``*Regressor``;
inputs may be single texts or text pairs (two columns), and long texts can be
chunked (``long_text="chunk"``). ``RewardModel`` and ``DPOTuner`` learn from
preference pairs (a reward model, then preference tuning of a causal LM).
"""

from ._artifact import load
from ._cache import EmbeddingCache, embedding_cache
from ._loading import clear_cache
from ._onnx import predict_with_onnx_runtime
from ._persistence import pickle_options
from .adapter import AdapterClassifier, AdapterRegressor
from .embedding import (
    TransformerEmbedder,
    TransformerFeatureClassifier,
    TransformerFeatureRegressor,
)
from .head import HeadFinetuneClassifier, HeadFinetuneRegressor
from .in_context import InContextClassifier
from .online_tuning import RLOOTuner
from .preference_tuning import DPOTuner
from .prompting import (
    PrefixTunedClassifier,
    PrefixTunedRegressor,
    PromptTunedClassifier,
    PromptTunedRegressor,
)
from .reward import RewardModel
from .tuned import FullFinetuneClassifier, FullFinetuneRegressor, LoRAClassifier, LoRARegressor

__version__ = "0.3.0"

__all__ = [
    "AdapterClassifier",
    "AdapterRegressor",
    "DPOTuner",
    "EmbeddingCache",
    "FullFinetuneClassifier",
    "FullFinetuneRegressor",
    "HeadFinetuneClassifier",
    "HeadFinetuneRegressor",
    "InContextClassifier",
    "LoRAClassifier",
    "LoRARegressor",
    "PrefixTunedClassifier",
    "PrefixTunedRegressor",
    "PromptTunedClassifier",
    "PromptTunedRegressor",
    "RLOOTuner",
    "RewardModel",
    "TransformerEmbedder",
    "TransformerFeatureClassifier",
    "TransformerFeatureRegressor",
    "clear_cache",
    "embedding_cache",
    "load",
    "predict_with_onnx_runtime",
    "pickle_options",
]
