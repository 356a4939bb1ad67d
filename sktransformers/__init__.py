"""sktransformers: adapt pretrained transformers to labelled text with the scikit-learn API.

Every adaptation method is a scikit-learn estimator with ``fit``, ``predict``,
``predict_proba`` and ``score``: it drops into ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and ``joblib.dump``. Classifiers take single labels or a
multi-label indicator matrix; each trainable method also has a ``*Regressor``;
inputs may be single texts or text pairs (two columns), and long texts can be
chunked (``long_text="chunk"``). ``RewardModel`` and ``DPOTuner`` learn from
preference pairs (a reward model, then preference tuning of a causal LM).

The package is layered (docs/design.md): ``core`` (training loop, tasks, devices),
``backbones`` (loading, text, encoders, causal LMs), ``adaptation`` (one strategy per
method, and their registry), ``persistence`` (pickles and the safe folder),
``estimators`` (the public families) and the outer ring (``compare``, ``display``,
``datasets``, the command line). Import public names from here.
"""

from . import _legacy
from ._version import __version__ as __version__
from .backbones.cache import EmbeddingCache, embedding_cache
from .backbones.loading import clear_cache
from .backbones.onnx import predict_with_onnx_runtime
from .backbones.reference import pickle_options
from .estimators.adapted import AdaptedClassifier, AdaptedRegressor
from .estimators.adapter import AdapterClassifier, AdapterRegressor
from .estimators.contrastive import ContrastiveClassifier
from .estimators.embedding import (
    TransformerEmbedder,
    TransformerFeatureClassifier,
    TransformerFeatureRegressor,
)
from .estimators.head import HeadFinetuneClassifier, HeadFinetuneRegressor
from .estimators.in_context import InContextClassifier
from .estimators.indexing import DocumentIndex
from .estimators.online_tuning import GRPOTuner, PPOTuner, RLOOTuner
from .estimators.preference_tuning import DPOTuner
from .estimators.prompting import (
    PrefixTunedClassifier,
    PrefixTunedRegressor,
    PromptTunedClassifier,
    PromptTunedRegressor,
)
from .estimators.rag import RetrievalAugmentedGenerator
from .estimators.reward import RewardModel
from .estimators.tuned import (
    FullFinetuneClassifier,
    FullFinetuneRegressor,
    LoRAClassifier,
    LoRARegressor,
)
from .persistence.folder import load

__all__ = [
    "AdaptedClassifier",
    "AdaptedRegressor",
    "AdapterClassifier",
    "AdapterRegressor",
    "ContrastiveClassifier",
    "DPOTuner",
    "DocumentIndex",
    "GRPOTuner",
    "EmbeddingCache",
    "FullFinetuneClassifier",
    "FullFinetuneRegressor",
    "HeadFinetuneClassifier",
    "HeadFinetuneRegressor",
    "InContextClassifier",
    "LoRAClassifier",
    "LoRARegressor",
    "PPOTuner",
    "PrefixTunedClassifier",
    "PrefixTunedRegressor",
    "PromptTunedClassifier",
    "PromptTunedRegressor",
    "RLOOTuner",
    "RetrievalAugmentedGenerator",
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

_legacy.install()  # module paths of 0.3 and earlier (old pickles name them)
