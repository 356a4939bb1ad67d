"""The safe model folder: ``est.save(path)`` and :func:`load`, with no pickle anywhere.

A folder holds

- ``manifest.json``: format version, the estimator's class, the library, torch,
  transformers and scikit-learn versions, the base model's reference and hash,
  and the sha256 of every other file;
- ``state.json``: parameters, classes, history and every other fitted attribute,
  in a tagged JSON that only ever builds objects from a fixed list of classes;
- ``weights.safetensors``: the tensors that training changed (``trained_state_``);
- ``array-*.npy``: large numeric arrays (a ``DocumentIndex``'s vectors), read with
  ``allow_pickle=False``;
- ``adapter/``: where PEFT's own model computes the same vectors (LoRA; soft prompts
  trained with PEFT's forward), the adapter as a folder that PEFT itself loads
  (``PeftModel.from_pretrained``), for use outside this library;
- ``*.skops``: fitted scikit-learn parts (the downstream model of a
  ``TransformerFeatureClassifier``), in skops' safe format;
- ``bases/<hash>/``: with ``include_base=True``, the base model's files.

Loading reads JSON, safetensors and skops (which refuses types it does not trust)
and never runs code from the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..backbones.reference import BUNDLE_DIRS, BaseReference, copy_base, pickle_options, resolve
from ..core.distributed import is_main_process
from ..core.registry import ESTIMATORS, SAFE_CLASSES
from .state import FORMAT_VERSION, STAMP, check_stamp, stamp

FORMAT = "sktransformers-model"
MANIFEST, STATE, WEIGHTS, ADAPTER = "manifest.json", "state.json", "weights.safetensors", "adapter"
#: Numeric arrays of at least this many values are written as ``.npy`` files (no pickle)
#: rather than JSON lists: an index's chunk vectors, for one.
NPY_MIN_SIZE = 4096


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------ writing
class _Writer:
    """Encodes a state into JSON, writing tensors, skops files and nested estimators beside it."""

    def __init__(self, root: Path, include_base: bool):
        self.root, self.include_base, self.n_files = root, include_base, 0

    def _name(self, stem: str, suffix: str) -> str:
        self.n_files += 1
        return f"{stem}-{self.n_files}{suffix}"

    def encode(self, value):
        from sklearn.base import BaseEstimator
        from sklearn.frozen import FrozenEstimator

        if value is None or isinstance(value, (bool, str, int)) and not isinstance(
                value, np.generic):
            return value
        if isinstance(value, float):
            return value if np.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.generic):
            return {"__scalar__": self.encode(value.item()), "dtype": value.dtype.str}
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and (
                value.size >= NPY_MIN_SIZE):  # large numeric arrays: .npy, not JSON
            name = self._name("array", ".npy")
            np.save(self.root / name, value, allow_pickle=False)
            return {"__npy__": name}
        if isinstance(value, np.ndarray):
            return {"__ndarray__": [self.encode(v) for v in value.ravel().tolist()],
                    "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {"__dict__": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, Path):
            return {"__path__": str(value)}
        if isinstance(value, BaseReference):
            self._bundle(value)
        if type(value).__name__ in SAFE_CLASSES and isinstance(
                value, SAFE_CLASSES[type(value).__name__]):
            state = value.__getstate__() or {}
            return {"__object__": type(value).__name__, "state": self.encode(dict(state))}
        if type(value).__name__ in ESTIMATORS and not _is_fitted(value):
            return {"__unfitted__": type(value).__name__,  # a parameter: its parameters
                    "params": self.encode(value.get_params(deep=False))}
        if type(value).__name__ in ESTIMATORS:
            name = self._name("estimator", "")
            value.save(self.root / name, include_base=self.include_base)
            return {"__estimator__": name}
        if isinstance(value, FrozenEstimator):
            return {"__frozen__": self.encode(value.estimator)}
        if isinstance(value, BaseEstimator):
            import skops.io as sio

            name = self._name("sklearn", ".skops")
            sio.dump(value, self.root / name)
            return {"__skops__": name}
        raise TypeError(
            f"A {type(value).__name__} cannot be saved in the safe format (only parameters, "
            "scikit-learn estimators and sktransformers objects can). Set that parameter to "
            "None before saving, or use joblib for files you keep to yourself."
        )

    def _bundle(self, ref: BaseReference) -> None:
        if not self.include_base:
            return
        target = self.root / "bases" / (ref.sha256 or "unhashed")
        if not target.exists():
            copy_base(ref, resolve(ref), target)


def save(estimator, path, *, include_base: bool = False) -> Path:
    """Write ``estimator`` (fitted) as a safe folder at ``path`` (replaced if it exists).

    In a data-parallel run (several launched processes) only the main process writes.
    """
    check_is_fitted(estimator)
    path = Path(path)
    if not is_main_process():
        return path
    if path.exists() and not (path / MANIFEST).is_file():
        if not path.is_dir() or any(path.iterdir()):
            raise FileExistsError(
                f"{path} exists and is not a saved sktransformers model; choose a new or "
                "empty folder (saving never overwrites other files)."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=path.parent))
    try:
        _write(estimator, staging, include_base)
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _write(estimator, root: Path, include_base: bool) -> None:
    from safetensors.torch import save_file

    with pickle_options(include_base=False):
        state = estimator.__getstate__()
    state.pop(STAMP, None)
    tensors = state.pop("trained_state_", None)
    writer = _Writer(root, include_base)
    (root / STATE).write_text(json.dumps(writer.encode(state), indent=1))
    if tensors is not None:
        save_file({k: v.contiguous() for k, v in tensors.items()}, root / WEIGHTS)
    peft_model = estimator._peft_model() if hasattr(estimator, "_peft_model") else None
    if peft_model is not None:
        peft_model.save_pretrained(root / ADAPTER)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _nested(root, p))
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "version": stamp()["version"],
        "estimator": type(estimator).__name__,
        "versions": _versions(), "include_base": include_base,
        "base": estimator.base_.to_dict() if hasattr(estimator, "base_") else None,
        "files": {str(p.relative_to(root)): _sha256(p) for p in files},
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _nested(root: Path, file: Path) -> bool:
    """Whether ``file`` belongs to a nested estimator folder (it has its own manifest)."""
    parents = file.relative_to(root).parents
    return any((root / p / MANIFEST).is_file() for p in parents if str(p) != ".")


def _versions() -> dict:
    import sklearn
    import torch
    import transformers

    return {"sktransformers": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "scikit-learn": sklearn.__version__}


# ------------------------------------------------------------------ reading
class _Reader:
    """Decodes ``state.json``; builds only the allowed classes."""

    def __init__(self, root: Path, trusted):
        self.root, self.trusted = root, list(trusted or [])

    def decode(self, value):
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        (tag, body), *rest = value.items()
        handler = getattr(self, "_" + tag.strip("_"), None)
        if handler is None or not tag.startswith("__"):
            raise ValueError(f"Unknown entry {tag!r} in {STATE}: the file is damaged.")
        return handler(body, dict(rest))

    def _float(self, body, extra):
        return float(body)

    def _scalar(self, body, extra):
        return np.dtype(extra["dtype"]).type(self.decode(body))

    def _ndarray(self, body, extra):
        dtype = np.dtype(extra["dtype"])
        values = [self.decode(v) for v in body]
        if dtype.kind == "O":  # keep the elements' own types (str, int) as they were
            array = np.empty(len(values), dtype=object)
            array[:] = values
        else:
            array = np.asarray(values, dtype=dtype)
        return array.reshape(extra["shape"])

    def _npy(self, body, extra):
        return np.load(self.root / _inside(self.root, body), allow_pickle=False)

    def _tuple(self, body, extra):
        return tuple(self.decode(v) for v in body)

    def _dict(self, body, extra):
        return {self.decode(k): self.decode(v) for k, v in body}

    def _path(self, body, extra):
        return Path(body)

    def _object(self, body, extra):
        classes = SAFE_CLASSES
        if body not in classes:
            raise ValueError(f"{STATE} names a class {body!r} that is not allowed.")
        cls = classes[body]
        obj = cls.__new__(cls)
        state = self.decode(extra["state"])
        if "__setstate__" in vars(cls):
            obj.__setstate__(state)
        else:
            vars(obj).update(state)
        return obj

    def _estimator(self, body, extra):
        return load(self.root / _inside(self.root, body), trusted=self.trusted)

    def _unfitted(self, body, extra):
        if body not in ESTIMATORS:
            raise ValueError(f"{STATE} names an estimator {body!r} that is not allowed.")
        return ESTIMATORS[body](**self.decode(extra["params"]))  # __init__ stores only

    def _frozen(self, body, extra):
        from sklearn.frozen import FrozenEstimator

        return FrozenEstimator(self.decode(body))

    def _skops(self, body, extra):
        import skops.io as sio

        file = self.root / _inside(self.root, body)
        untrusted = [t for t in sio.get_untrusted_types(file=file) if t not in self.trusted]
        if untrusted:
            raise ValueError(
                f"{file.name} holds types skops does not trust by default: {untrusted}. If "
                "you trust this model's author, pass them: load(path, trusted=[...])."
            )
        return sio.load(file, trusted=self.trusted or None)


def _is_fitted(estimator) -> bool:
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _inside(root: Path, name: str) -> str:
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise ValueError(f"{STATE} refers to {name!r}, outside the model folder.")
    return name


def load(path, *, trusted=None):
    """Load an estimator saved with ``est.save(path)``; no code from the folder runs.

    Parameters
    ----------
    path : str or path
        The folder ``save`` wrote.
    trusted : list of str, optional
        Extra types to allow in the skops files of fitted scikit-learn parts, as
        ``skops.io.get_untrusted_types`` names them (needed only for custom ones).

    Returns
    -------
    estimator
        The fitted estimator, predicting exactly as the one that was saved.

    Raises
    ------
    ValueError
        Not a saved model, a damaged file (hash mismatch), a newer format, or a base
        model whose content differs from the one the model was fitted on.
    FileNotFoundError
        The base model is not on this machine and was not saved with the model.

    Examples
    --------
    >>> import tempfile
    >>> from sktransformers import TransformerFeatureClassifier, load
    >>> clf = TransformerFeatureClassifier().fit(["a great film", "an awful film"],
    ...                                          ["pos", "neg"])
    >>> folder = clf.save(tempfile.mkdtemp() + "/clf")
    >>> load(folder).predict(["great"]).tolist() == clf.predict(["great"]).tolist()
    True
    """
    root = Path(path)
    manifest = _manifest(root)
    for name, digest in manifest["files"].items():
        file = root / _inside(root, name)
        if not file.is_file() or _sha256(file) != digest:
            raise ValueError(f"{file} is missing or changed since the model was saved "
                             "(sha256 mismatch): the folder is damaged or was edited.")
    classes = ESTIMATORS
    if manifest["estimator"] not in classes:
        raise ValueError(f"{root} holds a {manifest['estimator']!r}, which this version of "
                         "sktransformers does not know; upgrade it.")
    state = _Reader(root, trusted).decode(json.loads((root / STATE).read_text()))
    if (root / WEIGHTS).is_file():
        from safetensors.torch import load_file

        state["trained_state_"] = load_file(root / WEIGHTS)
    state[STAMP] = {"format": manifest["format_version"], "version": manifest["version"]}
    cls = classes[manifest["estimator"]]
    estimator = cls.__new__(cls)
    with _bundles(root / "bases"):
        estimator.__setstate__(state)
    return estimator


def _manifest(root: Path) -> dict:
    file = root / MANIFEST
    if not file.is_file():
        raise ValueError(f"{root} is not a saved sktransformers model (no {MANIFEST}); "
                         "a joblib file loads with joblib.load, and only from a trusted source.")
    manifest = json.loads(file.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not an sktransformers manifest.")
    check_stamp({STAMP: {"format": manifest["format_version"], "version": manifest["version"]}},
                "saved model")
    return manifest


@contextlib.contextmanager
def _bundles(folder: Path):
    BUNDLE_DIRS.append(folder)
    try:
        yield
    finally:
        BUNDLE_DIRS.remove(folder)
