"""The state format's stamp: which layout and release wrote a pickle or a saved folder.

An estimator's state (what ``pickle``/``joblib`` store, and what
:mod:`~sktransformers.persistence.folder` writes as a safe folder) is its
parameters, its fitted attributes, the tensors that training changed
(``trained_state_``) and a reference to the base model
(:mod:`~sktransformers.persistence.portable`). Every state carries a stamp; a
reader refuses states from a newer format and upgrades older ones.
"""

from __future__ import annotations

from .._version import __version__

#: The version of the state layout; a reader refuses states newer than it knows.
FORMAT_VERSION = 1
STAMP = "_sktransformers_format"


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
    return {"format": FORMAT_VERSION, "version": __version__}
