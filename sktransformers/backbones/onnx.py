"""ONNX export: a fitted model that ONNX Runtime and the ``tokenizers`` library run alone.

:func:`export_onnx` writes a folder with

- ``model.onnx``: ``input_ids``, ``attention_mask`` and, for tokenizers that make
  them, ``token_type_ids`` (int64, ``(batch, tokens)``) in; ``probabilities``
  (classifiers; per label for multi-label) or ``values`` (regressors, on the
  target's own scale) out;
- ``tokenizer.json``: the fast tokenizer, with this model's truncation and padding
  already set, so ``Tokenizer.from_file(...).encode_batch(texts)`` gives the inputs;
- ``onnx_config.json``: the task, the classes or output names, ``max_length``;
- with ``quantize="int8"``, ``model.onnx`` holds 7-bit weights that are exact on
  every x86 host, and ``model.vnni.onnx`` full 8-bit ones for hosts with VNNI.

Neither torch nor sktransformers is needed to predict with it (see
:func:`predict_with_onnx_runtime`, a reference of what a consumer does). The graph is
traced by ``torch.onnx.export`` (its dynamo exporter), with dynamic batch size and
length. Soft prompts, prefixes, LoRA (merged), adapters and full fine-tuning export
alike, as do frozen features + head; windows of long texts and bi-encoded pairs,
whose pooling spans several rows of the batch, do not.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..core.device import int8_vnni

ONNX_EXTRA = "pip install 'sktransformers[onnx]'"


class _Outputs(nn.Module):
    """A model's raw outputs turned into what ``predict_proba`` / ``predict`` return."""

    def __init__(self, module: nn.Module, kind: str, mean=None, scale=None):
        super().__init__()
        self.module, self.kind = module, kind
        if kind == "regression":
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        outputs = self.module(input_ids, attention_mask, **extra).float()
        if self.kind == "classification":
            return torch.softmax(outputs, dim=-1)
        if self.kind == "multilabel":
            return torch.sigmoid(outputs)
        return outputs * self.scale + self.mean


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"ONNX export needs onnx and onnxscript: {ONNX_EXTRA}.") from exc


def _check_exportable(estimator) -> None:
    if getattr(estimator, "long_text", "truncate") == "chunk":
        raise ValueError("ONNX export reads one window per text; refit with "
                         "long_text='truncate' to export, or predict in Python.")
    if estimator.pairs_ and estimator._pair_encoding() == "bi":
        raise ValueError("ONNX export takes one encoded sequence per row; bi-encoded pairs "
                         "(pair_encoding='bi', or 'auto' on a sentence encoder) are not "
                         "exportable: refit with pair_encoding='cross' or predict in Python.")


def _configured_tokenizer(tokenizer, max_length: int):
    """A copy of the fast tokenizer's backend with truncation and padding set."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.enable_truncation(max_length=max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    pad_token = tokenizer.pad_token or tokenizer.convert_ids_to_tokens(pad_id)
    backend.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return backend


def export_onnx(estimator, path, quantize=None) -> Path:
    """Write the fitted ``estimator`` as an ONNX model folder at ``path`` (see module doc).

    ``quantize="int8"`` replaces ``model.onnx`` by ONNX Runtime's dynamic int8
    quantisation of it (weights per channel, activations per batch).
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize={quantize!r} must be None or 'int8'.")
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "task_")
    _require_onnx()
    _check_exportable(estimator)
    task = estimator.task_
    kind = task.kind
    mean, scale = (task.mean_, task.scale_) if kind == "regression" else (None, None)
    module = estimator._onnx_module()
    if quantize == "int8":
        _eager_attention(module)
    wrapper = _Outputs(module, kind, mean, scale).eval()
    tokenizer, max_length = estimator._onnx_tokenizer()
    out = Path(path)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; export into a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    example = tokenizer(["an example", "a second, longer example text"], padding=True,
                        return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    inputs = tuple(example[n] for n in names)
    batch, length = torch.export.Dim("batch"), torch.export.Dim("tokens")
    axes = {0: batch, 1: length}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter logs every operator library it skips
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, inputs, str(out / "model.onnx"), dynamo=True, verbose=False,
                input_names=names,
                output_names=["values" if kind == "regression" else "probabilities"],
                dynamic_shapes={n: axes for n in names})
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        quiet.setLevel(level)
    if quantize == "int8":
        _quantize_int8(out / "model.onnx")
    _configured_tokenizer(tokenizer, max_length).save(str(out / "tokenizer.json"))
    config = {**_config(estimator, max_length), "quantize": quantize}
    (out / "onnx_config.json").write_text(json.dumps(config, indent=2))
    return out


def _eager_attention(module: nn.Module) -> None:
    """Trace attention as plain matrix products (in place), for int8 quantisation.

    ONNX Runtime's dynamic quantisation then covers the attention products too. On
    SST-2 (full fine-tune, 2 cores, same run) the int8 model ran at 1.94x our fp32
    prediction with eager attention and 1.43x with the fused SDPA operator.
    """
    for part in module.modules():
        if hasattr(part, "set_attn_implementation"):
            try:
                part.set_attn_implementation("eager")
            except (ValueError, NotImplementedError):  # a model with one implementation
                pass


#: The int8 graph for hosts whose int8 products sum in 32 bits (VNNI), beside
#: ``model.onnx``, whose 7-bit weights are exact on every host.
VNNI_MODEL = "model.vnni.onnx"


def _quantize_int8(model: Path) -> None:
    """ONNX Runtime's dynamic int8 quantisation of ``model``, in two schemes.

    ONNX Runtime multiplies uint8 activations by int8 weights. Without VNNI its x86
    kernels add pairs of those products in 16 bits and saturate (its documentation
    advises a reduced range there); a 7-bit weight keeps every pair within range
    (2 x 255 x 64 < 32,767), so the integer results are the same on every host.
    ``model.onnx`` gets 7-bit weights, safe wherever it is run; ``model.vnni.onnx``
    full 8-bit weights, which :func:`predict_with_onnx_runtime` takes where the host
    has VNNI (:func:`~sktransformers._device.int8_vnni`).
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ImportError(f"quantize='int8' needs onnxruntime: {ONNX_EXTRA}.") from exc
    for reduce_range, target in ((False, model.with_name(VNNI_MODEL)),
                                 (True, model.with_name("model.int8.onnx"))):
        quantize_dynamic(str(model), str(target), per_channel=True, reduce_range=reduce_range,
                         weight_type=QuantType.QInt8)
    model.with_name("model.int8.onnx").replace(model)


def _config(estimator, max_length) -> dict:
    task = estimator.task_
    config = {"format": "sktransformers-onnx", "version": __version__,
              "estimator": type(estimator).__name__, "task": task.kind,
              "max_length": int(max_length), "pairs": bool(estimator.pairs_)}
    if task.kind != "regression":
        config["classes"] = np.asarray(estimator.classes_).tolist()
    if task.kind == "multilabel":
        config["threshold"] = float(getattr(estimator, "threshold", 0.5))
    return config


def predict_with_onnx_runtime(folder, texts, *, batch_size=32) -> np.ndarray:
    """Probabilities (or values) for ``texts`` from an exported folder, with ONNX Runtime.

    Uses only ``onnxruntime``, ``tokenizers`` and numpy: this is what a service
    without torch does. Text pairs are given as ``(a, b)`` tuples. Texts run
    longest first in batches padded to their own longest text, as
    ``predict_proba`` does; the session is built once per folder and reused. Of an
    int8 folder's two graphs, the one for this host runs (``model.vnni.onnx`` where
    int8 products are summed in 32 bits, else ``model.onnx``).

    Parameters
    ----------
    folder : str or path
        What ``export_onnx`` wrote (``model.onnx``, ``tokenizer.json``).
    texts : list of str or of (str, str)
        Texts, or text pairs.
    batch_size : int, default=32
        Texts per call of the ONNX session.

    Returns
    -------
    outputs : ndarray of shape (n_texts, n_outputs)
        Class (or label) probabilities; for regressors, predicted values.
    """
    model = _model_file(Path(folder))
    session, tokenizer, pad_id = _runtime(str(model.resolve()), model.stat().st_mtime_ns)
    encodings = tokenizer.encode_batch(list(texts))
    wanted = {i.name for i in session.get_inputs()}
    fields = [(name, attr, fill) for name, attr, fill in (
        ("input_ids", "ids", pad_id), ("attention_mask", "attention_mask", 0),
        ("token_type_ids", "type_ids", 0)) if name in wanted]
    order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
    out = None
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = len(encodings[rows[0]].ids)  # the longest of the batch
        feed = {}
        for name, attr, fill in fields:
            batch = np.full((len(rows), width), fill, dtype=np.int64)
            for i, row in enumerate(rows):
                values = getattr(encodings[row], attr)
                batch[i, : len(values)] = values
            feed[name] = batch
        result = session.run(None, feed)[0]
        if out is None:
            out = np.empty((len(encodings), result.shape[1]), dtype=result.dtype)
        out[rows] = result
    return out


def _model_file(folder: Path) -> Path:
    """``model.vnni.onnx`` where it exists and the host sums int8 products in 32 bits,
    else ``model.onnx`` (see :func:`_quantize_int8`)."""
    vnni = folder / VNNI_MODEL
    return vnni if vnni.exists() and int8_vnni() else folder / "model.onnx"


@functools.lru_cache(maxsize=4)
def _runtime(model_path: str, mtime_ns: int):
    """The session, an unpadded tokenizer and the pad id of one exported model file."""
    import onnxruntime
    from tokenizers import Tokenizer

    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(Path(model_path).with_name("tokenizer.json")))
    pad_id = (tokenizer.padding or {}).get("pad_id", 0)
    tokenizer.no_padding()  # batches are padded to their own longest text
    return session, tokenizer, pad_id
