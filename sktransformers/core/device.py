"""Device, precision and seeding: the one place that decides where and how tensors run."""

from __future__ import annotations

import contextlib
import os
import random
import warnings

import numpy as np
import torch

from .distributed import local_gpu

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: What :func:`resolve_precision` returns for ``"int8"``: prediction through a copy of
#: the model whose linear layers are dynamically quantised to int8 (CPU only).
INT8 = torch.qint8


def _device_kind(device: str) -> str:
    return device.split(":", 1)[0]


def check_device(device) -> None:
    """Raise a ``ValueError`` naming the options if ``device`` is not a device name."""
    if not isinstance(device, str) or _device_kind(device) not in DEVICES:
        raise ValueError(
            f"device={device!r} is not supported; use one of {DEVICES} (or 'cuda:N')."
        )


def resolve_device(device: str = "auto") -> str:
    """Return the torch device name to use for ``device``.

    ``"auto"`` picks cuda, then mps, then cpu; on a machine with several GPUs each
    process takes its own (:func:`claim_gpu`), so parallel search workers spread
    out. An explicit accelerator that is not present (for example a model fitted
    on a GPU and loaded on a laptop) falls back to the CPU with a warning, so a
    persisted model always predicts.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    check_device(device)
    kind = _device_kind(device)
    if kind == "auto":
        if local_gpu() is not None:  # a data-parallel process: the launcher's GPU
            return local_gpu()
        if torch.cuda.is_available():
            n_gpus = torch.cuda.device_count()
            return "cuda" if n_gpus <= 1 else f"cuda:{claim_gpu(n_gpus)}"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }[kind]
    if not available:
        warnings.warn(
            f"device={device!r} is not available on this machine; using the CPU. "
            "Pass device='auto' to choose the best available device.",
            stacklevel=3,
        )
        return "cpu"
    return device


_claimed: dict = {}


def claim_gpu(n_gpus: int, lock_dir=None) -> int:
    """The GPU this process uses for ``device="auto"`` on a machine with several.

    Each process holds, for its lifetime, an exclusive lock on one file per GPU
    (in ``lock_dir``, default: the temp folder), taking the first GPU no other
    process holds; so the workers of a search (joblib's loky, Dask or Ray
    processes) spread over the GPUs, one each while there are enough. With more
    workers than GPUs, the extra ones share, by process id. The choice is made
    once per process and kept.
    """
    import os
    import tempfile
    from pathlib import Path

    if n_gpus in _claimed:
        return _claimed[n_gpus][0]
    folder = Path(lock_dir or tempfile.gettempdir()) / "sktransformers-gpus"
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(n_gpus):
        handle = open(folder / f"gpu{index}.lock", "a+")  # noqa: SIM115 - held for life
        if _try_lock(handle):
            _claimed[n_gpus] = (index, handle)
            return index
        handle.close()
    _claimed[n_gpus] = (os.getpid() % n_gpus, None)
    return _claimed[n_gpus][0]


def _try_lock(handle) -> bool:
    """Take an exclusive lock on an open file without waiting; whether it was taken."""
    import os

    try:
        if os.name == "nt":  # pragma: no cover
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def resolve_precision(precision: str, device: str) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device`` (``None`` = fp32).

    ``"auto"`` uses bf16 autocast on CUDA devices that support it and fp32 elsewhere.
    ``"int8"`` (CPU only) returns :data:`INT8`: prediction runs through an int8 copy
    of the model's linear layers (:func:`int8_copy`); training runs in fp32.

    Examples
    --------
    >>> resolve_precision("auto", "cpu") is None
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not supported; use one of {PRECISIONS}.")
    on_cuda = _device_kind(device) == "cuda"
    if precision == "auto":
        return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "int8":
        if _device_kind(device) != "cpu":
            raise ValueError(f"precision='int8' runs on the CPU only, but the device is "
                             f"{device!r}; use precision='bf16' there, or device='cpu'.")
        return INT8
    return None


def training_dtype(dtype):
    """The autocast dtype to train with: int8 is for prediction, training runs in fp32."""
    return None if dtype is INT8 else dtype


def int8_copy(module: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode copy of ``module`` with its linear layers dynamically quantised to int8.

    Weights are stored as int8 with one scale per output channel; activations are
    quantised on the fly, per batch (``torch.ao.quantization.quantize_dynamic``). A
    model with an ``encoder`` and a head keeps its head in fp32. Measured on SST-2
    (LoRA): per-tensor scales lost 1.9 points of accuracy, per-channel scales with an
    fp32 head 0.6. Where the weights are packed for oneDNN, activations use all 8
    bits (:class:`FullRangeDynamicLinear`).
    """
    import copy

    from torch.ao.quantization import per_channel_dynamic_qconfig

    spec = {torch.nn.Linear: per_channel_dynamic_qconfig}
    engine = int8_engine()
    mapping = {torch.nn.Linear: FullRangeDynamicLinear} if engine == "onednn" else None
    quantized = copy.deepcopy(module).eval()
    with warnings.catch_warnings(), _quantized_engine(engine):
        warnings.simplefilter("ignore")  # torch announces the API's move to torchao
        target = quantized.encoder if hasattr(quantized, "encoder") else quantized
        target = torch.ao.quantization.quantize_dynamic(target, spec, dtype=torch.qint8,
                                                        mapping=mapping)
    if hasattr(quantized, "encoder"):
        quantized.encoder = target
        return quantized
    return target


class FullRangeDynamicLinear(torch.ao.nn.quantized.dynamic.Linear):
    """A dynamically quantised linear layer whose activations use all 8 bits.

    torch's layer quantises activations to 7 bits (``reduce_range=True``) so that x86
    kernels summing products in 16 bits cannot overflow. oneDNN on a CPU with VNNI
    sums in 32 bits, so :func:`int8_copy` uses this layer there. On SST-2 prediction
    (2 cores with VNNI) it halved the mean change in probability from fp32 (LoRA
    0.038 -> 0.019, full fine-tune 0.043 -> 0.022) and the accuracy lost to int8
    (LoRA 1.7 -> 0.3 points, full 1.3 -> 0.5), at the same speed.
    """

    def forward(self, x):
        packed = self._packed_params._packed_params
        return torch.ops.quantized.linear_dynamic(x, packed, reduce_range=False).to(x.dtype)

    def _get_name(self):
        return "FullRangeDynamicQuantizedLinear"


#: Per cap variable, the values that cap the kernels below VNNI: int8 products are then
#: summed pairwise in 16 bits and can saturate.
_CAPS_WITHOUT_VNNI = {
    "ONEDNN_MAX_CPU_ISA": {"SSE41", "AVX", "AVX2", "AVX512_CORE", "DEFAULT"},
    "DNNL_MAX_CPU_ISA": {"SSE41", "AVX", "AVX2", "AVX512_CORE", "DEFAULT"},
    "ATEN_CPU_CAPABILITY": {"DEFAULT", "AVX2"},
    "FBGEMM_ENABLE_INSTRUCTIONS": {"AVX2", "AVX512", "AVX512_256"},
}


def int8_vnni() -> bool:
    """Whether int8 products on this host are summed in 32 bits (VNNI instructions).

    Without VNNI, x86 int8 kernels (oneDNN's, ONNX Runtime's u8s8) add pairs of
    products in 16 bits with saturation, so full-range activations times full-range
    weights can overflow; 7-bit operands cannot (2 x 255 x 64 < 32,767). A cap set
    with ``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY`` or FBGEMM's
    ``FBGEMM_ENABLE_INSTRUCTIONS`` (``avx2``: how an AVX2-only host is reproduced on a
    newer one) counts as the host's, so the cap chooses the
    scheme that host needs, also for ONNX Runtime, which reads neither variable.

    Examples
    --------
    >>> isinstance(int8_vnni(), bool)
    True
    """
    if any(os.environ.get(name, "").strip().upper() in values
           for name, values in _CAPS_WITHOUT_VNNI.items()):
        return False
    return bool(getattr(torch.cpu, "_is_vnni_supported", lambda: False)())


def int8_engine() -> str:
    """The quantised-kernel library to pack int8 weights for: oneDNN on CPUs with VNNI.

    The packed weights keep their library, whatever the global engine is when the
    model runs. On SST-2 prediction (2 cores with VNNI and AMX) oneDNN's int8
    linear layers made the whole prediction 1.85x fp32 against 1.74x for the
    default ``x86`` engine (full fine-tune, medians of 5 alternating runs in one
    process; a one-off comparison, not a committed benchmark). Elsewhere torch's
    default engine and its 7-bit activations (:func:`int8_vnni`).
    """
    engines = torch.backends.quantized.supported_engines
    return "onednn" if "onednn" in engines and int8_vnni() else torch.backends.quantized.engine


@contextlib.contextmanager
def _quantized_engine(engine: str):
    """Set ``torch.backends.quantized.engine`` for the block, then restore it."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def autocast(device: str, dtype: torch.dtype | None):
    """A context manager running the forward pass in ``dtype`` (no-op for fp32 and int8)."""
    if dtype is None or dtype is INT8:
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device_kind(device), dtype=dtype)


def seed_everything(random_state) -> int | None:
    """Seed python, numpy and torch from ``random_state`` and return the integer seed.

    ``None`` leaves the generators alone. A ``numpy.random.RandomState`` draws a seed.

    Examples
    --------
    >>> seed_everything(0)
    0
    """
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        seed = int(random_state.randint(0, 2**31 - 1))
    else:
        seed = int(random_state)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the global generator is the point
    torch.manual_seed(seed)
    return seed
