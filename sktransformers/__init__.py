"""sktransformers: adapt pretrained transformers to labelled text with the scikit-learn API.

Every adaptation method is a scikit-learn estimator with ``fit``, ``predict``,
``predict_proba`` and ``score``: it drops into ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` and ``joblib.dump``.
"""

from ._cache import EmbeddingCache, embedding_cache
from .adapter import AdapterClassifier
from .embedding import TransformerEmbedder, TransformerFeatureClassifier
from .head import HeadFinetuneClassifier
from .in_context import InContextClassifier
from .prompting import PrefixTunedClassifier, PromptTunedClassifier
from .tuned import FullFinetuneClassifier, LoRAClassifier

__version__ = "0.1.0"

__all__ = [
    "AdapterClassifier",
    "EmbeddingCache",
    "FullFinetuneClassifier",
    "HeadFinetuneClassifier",
    "InContextClassifier",
    "LoRAClassifier",
    "PrefixTunedClassifier",
    "PromptTunedClassifier",
    "TransformerEmbedder",
    "TransformerFeatureClassifier",
    "embedding_cache",
]
