"""Portable state: what a fitted estimator is, without a copy of its base model.

An estimator's state (what ``pickle``/``joblib`` store, and what
:mod:`sktransformers._artifact` writes as a safe folder) is its parameters, its
fitted attributes, the tensors that training changed (``trained_state_``) and a
:class:`~sktransformers._reference.BaseReference` to the pretrained model. Modules,
tokenizers and paths are rebuilt from the base model on load (``_restore``), so a
LoRA classifier pickles as its low-rank matrices and head, not as 90 MB of
backbone, and a model fitted on a GPU loads on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
import threading

import torch

from ._history import History
from ._reference import base_blobs, resolve, unpack_blobs

#: The version of the state layout; a reader refuses states newer than it knows.
FORMAT_VERSION = 1
STAMP = "_sktransformers_format"

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


def trainable_state(module: torch.nn.Module) -> dict:
    """The parameters of ``module`` that train, by name (sharing their storage)."""
    return {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}


def load_trained(module: torch.nn.Module, state: dict) -> torch.nn.Module:
    """Copy trained tensors into a freshly built ``module`` (every name must exist)."""
    result = module.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(
            f"The stored weights do not fit the rebuilt model ({len(result.unexpected_keys)} "
            f"unknown names, e.g. {result.unexpected_keys[0]!r}): the base model or a "
            "method setting differs from the one the estimator was fitted with."
        )
    return module


def check_stamp(state: dict, what: str = "estimator") -> None:
    """Refuse states without a format stamp or from a newer format, saying why."""
    stamp = state.get(STAMP)
    if stamp is None:
        raise ValueError(
            f"This {what} was pickled by sktransformers 0.1, whose pickles held whole "
            "torch modules; this version cannot read them. Load it with sktransformers "
            "0.1 and save it with est.save(folder) there, or refit it."
        )
    if stamp["format"] > FORMAT_VERSION:
        raise ValueError(
            f"This {what} was written by sktransformers {stamp['version']} (state format "
            f"{stamp['format']}), newer than this version reads (format {FORMAT_VERSION}). "
            "Upgrade: pip install -U sktransformers."
        )


def written_before(stamp: dict, version: tuple) -> bool:
    """Whether the state was written by a sktransformers release older than ``version``."""
    parts = []
    for part in stamp["version"].split(".")[: len(version)]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) < version


def stamp() -> dict:
    from . import __version__

    return {"format": FORMAT_VERSION, "version": __version__}


class PortableStateMixin:
    """Pickle an estimator as parameters, fitted attributes, trained tensors and a base reference.

    Subclasses name the attributes rebuilt from the base model (``_rebuilt``) and
    rebuild them in ``_restore(path)``. Fitted estimators hold ``base_`` (the
    reference) and ``model_path_`` (where the base is on this machine).
    """

    _rebuilt: tuple = ()
    #: Parameters added after 0.2.0 -> the value that reproduces how 0.2.0 behaved; a
    #: model saved by 0.2.0 gets it on load, so it predicts exactly as it did.
    _added_params = {"head_init": "random", "normalize": False}

    def __getstate__(self):
        state = dict(super().__getstate__())
        for name in self._rebuilt:
            state.pop(name, None)
        if "trained_state_" in state:
            state["trained_state_"] = {k: v.detach().cpu() for k, v in
                                       state["trained_state_"].items()}
        state[STAMP] = stamp()
        if including_base() and "base_" in state:
            state["_base_files"] = base_blobs(self.base_, self.model_path_)
        return state

    def __setstate__(self, state):
        state = dict(state)
        check_stamp(state, type(self).__name__)
        state_stamp = state.pop(STAMP)
        blobs = state.pop("_base_files", None)
        if written_before(state_stamp, (0, 3)):
            params = type(self)().get_params(deep=False) if hasattr(self, "get_params") else {}
            for name, legacy in self._added_params.items():
                if name in params:
                    state.setdefault(name, legacy)
        super().__setstate__(state)
        if isinstance(vars(self).get("history_"), list):  # JSON and 0.2 pickles hold a list
            self.history_ = History(self.history_)
        if "base_" in vars(self):
            bundled = None if blobs is None else (lambda: unpack_blobs(self.base_, blobs))
            self._restore(resolve(self.base_, bundled))
        elif "trained_state_" in vars(self):
            self._restore(None)

    def save(self, path, *, include_base: bool = False):
        """Save the fitted estimator as a safe folder (no pickle); read it with :func:`load`.

        Only what training changed is written (for LoRA, the low-rank matrices and
        the head), with a reference to the base model and its hash; the folder is
        safe to open from anyone, unlike a pickle or joblib file.

        Parameters
        ----------
        path : str or path
            A new or empty folder, or one this method wrote before (replaced).
        include_base : bool, default=False
            Also copy the base model's files, for machines that lack it.

        Returns
        -------
        path : pathlib.Path
        """
        from ._artifact import save

        return save(self, path, include_base=include_base)

    def _restore(self, path: str | None) -> None:
        """Rebuild the ``_rebuilt`` attributes from the base model at ``path``."""
        self.model_path_ = path
