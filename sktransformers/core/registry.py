"""Registrations: which classes a saved model may name, recorded where each is defined.

The safe model folder (:mod:`sktransformers.persistence.folder`) builds objects
only from classes registered here: tasks, adaptation strategies, base-model
references and frozen encoders register with :func:`safe_state`; estimators
register themselves when their class is defined (``PortableStateMixin``). No list
of them is kept by hand, so a new method or task is loadable once it is defined.
"""

from __future__ import annotations

#: Class name -> class, for objects held by fitted estimators (tasks, strategies, ...).
SAFE_CLASSES: dict[str, type] = {}
#: Class name -> class, for the estimators a saved folder may hold.
ESTIMATORS: dict[str, type] = {}


def _add(registry: dict, cls: type) -> type:
    known = registry.get(cls.__name__)
    if known is not None and known.__module__ != cls.__module__ and (
            known.__module__.startswith("sktransformers.")):
        raise ValueError(
            f"Two classes named {cls.__name__!r} are registered ({known.__module__} and "
            f"{cls.__module__}); saved models name classes by their name, so give yours "
            "another one."
        )
    registry[cls.__name__] = cls
    return cls


def safe_state(cls: type) -> type:
    """Class decorator: the safe loader may rebuild objects of ``cls`` from their state.

    The state is ``__getstate__()`` (or ``vars``), written as tagged JSON; on load the
    object is made with ``cls.__new__`` and given the state back (``__setstate__``),
    so no ``__init__`` and no code from the folder runs.
    """
    return _add(SAFE_CLASSES, cls)


def register_estimator(cls: type) -> type:
    """Record an estimator class that saved folders may name (its public name)."""
    return _add(ESTIMATORS, cls)
