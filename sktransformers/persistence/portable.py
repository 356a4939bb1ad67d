"""Portable estimators: pickled and saved as what trained plus a reference to the base.

:class:`PortableStateMixin` is what every estimator inherits for ``pickle`` /
``joblib`` and ``save``: its state is the parameters, the fitted attributes, the
trained tensors and a :class:`~sktransformers.backbones.reference.BaseReference`;
modules and tokenizers are rebuilt from the base model on load. Defining a
subclass registers it for the safe folder format.
"""

from __future__ import annotations

from ..backbones.reference import base_blobs, including_base, resolve, unpack_blobs
from ..core.history import History
from ..core.registry import register_estimator
from .folder import save
from .state import STAMP, check_stamp, stamp, written_before


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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            register_estimator(cls)  # a saved folder may name it

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
        return save(self, path, include_base=include_base)

    def _restore(self, path: str | None) -> None:
        """Rebuild the ``_rebuilt`` attributes from the base model at ``path``."""
        self.model_path_ = path
