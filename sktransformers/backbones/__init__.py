"""Backbones: pretrained models, from where they are to the tensors they return.

Owns the packaged offline models and GGUF conversion (``packaged``), base-model
references and content hashes (``reference``), loading and the shared model cache
(``loading``), tokenisation and batching (``text``), the torch modules estimators are
made of (``modules``: pooling, heads), the one inference loop (``inference``), the
embedding caches (``cache``, ``disk_cache``), the frozen encoder (``encoder``), causal
LMs and label scoring (``causal_lm``), policies (``policy``) and ONNX export (``onnx``).

May import: :mod:`sktransformers.core`. Adaptation strategies, persistence and the
estimators build on it.
"""
