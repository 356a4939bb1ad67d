"""Module paths of 0.3 and earlier, kept for the pickles and imports that name them.

Pickles (``joblib.dump``) record each object's class by module path; the package
was reorganised by layer after 0.3 (``sktransformers.tuned`` became
``sktransformers.estimators.tuned``, ``sktransformers._tasks`` became
``sktransformers.core.tasks``, ...). :func:`install` makes every old path name
the module that now holds its classes, so old pickles load and old imports work.
"""

from __future__ import annotations

import importlib
import sys

#: Old module path -> where its contents live now.
MOVED = {
    "_device": "core.device", "_distributed": "core.distributed", "_progress": "core.progress",
    "_profiling": "core.profiling", "_validation": "core.validation",
    "_preference_data": "core.preference_data", "_history": "core.history",
    "_tasks": "core.tasks", "_training": "core.training", "_callbacks": "core.callbacks",
    "_loading": "backbones.loading", "_reference": "backbones.reference",
    "_text": "backbones.text", "_modules": "backbones.modules",
    "_inference": "backbones.inference", "_cache": "backbones.cache",
    "_disk_cache": "backbones.disk_cache", "_encoder": "backbones.encoder",
    "_causal_lm": "backbones.causal_lm", "_policy": "backbones.policy",
    "_onnx": "backbones.onnx", "_persistence": "persistence.portable",
    "_artifact": "persistence.folder", "_base": "estimators.base",
    "_adapted": "estimators.adapted", "_repr": "estimators.card",
    "_template_search": "estimators.template_search", "embedding": "estimators.embedding",
    "head": "estimators.head", "tuned": "estimators.tuned", "prompting": "estimators.prompting",
    "adapter": "estimators.adapter", "in_context": "estimators.in_context",
    "reward": "estimators.reward", "preference_tuning": "estimators.preference_tuning",
    "online_tuning": "estimators.online_tuning",
}


def install(package: str = "sktransformers") -> None:
    """Register every old module path in ``sys.modules`` as its new module."""
    for old, new in MOVED.items():
        sys.modules.setdefault(f"{package}.{old}", importlib.import_module(f"{package}.{new}"))
