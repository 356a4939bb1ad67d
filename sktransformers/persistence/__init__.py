"""Persistence: pickles and the safe model folder.

Owns the state format's stamp (``state``), the safe folder writer and reader
(``folder``: JSON, safetensors, skops; builds only registered classes) and the
mixin every estimator inherits for ``pickle``/``joblib``/``save`` (``portable``).

May import: :mod:`sktransformers.core`, :mod:`sktransformers.backbones` (base-model
references) and :mod:`sktransformers._version`. Imported by the estimators.
"""
