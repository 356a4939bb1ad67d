"""The adaptation interface: what the core asks of a strategy, and the registry of them.

A strategy is a small object (a dataclass of its hyperparameters) that prepares a
freshly loaded backbone for training and turns the trained one into the module
used for prediction. :class:`Adaptation` lists everything the estimators and the
training core use; :class:`AdaptationBase` gives the defaults, so a new method is
its ``prepare`` plus whichever attribute differs. :func:`register_adaptation` makes
it available by name (``adaptation="name"``) and loadable from a saved folder.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

from ..core.registry import safe_state

#: Strategy name -> (class, default learning rate), filled by :func:`register_adaptation`.
ADAPTATIONS: dict[str, tuple[type, float]] = {}


@runtime_checkable
class Adaptation(Protocol):
    """What a strategy provides; the estimators and the core use nothing else.

    Attributes
    ----------
    name : str
        The name ``adaptation=`` takes (``"lora"``), unique among registered ones.
    default_lr : float
        The AdamW learning rate estimators use when ``lr=None``.
    keeps_dropout : bool
        Whether the backbone's dropout stays on in training (strategies that train
        few parameters beside a frozen backbone train faster without it).
    positions_used : int
        Input positions the method takes from the text (soft prompts: all of theirs).
    pool_virtual_tokens : bool
        Whether mean pooling counts the outputs at the method's virtual positions.
    peft_adapter : bool
        Whether the prepared backbone is a PEFT model whose adapter ``save`` also
        writes as a folder PEFT loads (``adapter/``).
    starts_as_base : bool
        Whether the prepared, untrained backbone computes what the base model
        computes (LoRA's ``B = 0``, zero-initialised adapters): the head's starting
        probe is then fitted on the cached frozen features; otherwise (soft prompts)
        on the prepared backbone's own.
    """

    name: ClassVar[str]
    default_lr: ClassVar[float]
    keeps_dropout: ClassVar[bool]
    peft_adapter: ClassVar[bool]
    starts_as_base: ClassVar[bool]

    @property
    def positions_used(self) -> int: ...

    @property
    def pool_virtual_tokens(self) -> bool: ...

    def prepare(self, backbone, model_path: str):
        """The module to train, with exactly the method's parameters trainable.

        Parameters
        ----------
        backbone : torch.nn.Module
            A freshly loaded pretrained model, the strategy's to change.
        model_path : str
            Where it was loaded from (for methods that read its tokenizer).

        Returns
        -------
        module : torch.nn.Module
        """

    def finalize(self, backbone):
        """The trained module as it predicts (e.g. LoRA merged into the weights).

        Parameters
        ----------
        backbone : torch.nn.Module
            What ``prepare`` returned, trained.

        Returns
        -------
        module : torch.nn.Module
        """

    def unmerged(self) -> Adaptation:
        """This strategy with its update kept apart from the base weights after
        training, so that switching it off gives the base model back (the reference
        policy of preference tuning); itself where nothing is merged."""

    def for_siamese_pairs(self) -> Adaptation:
        """This strategy as it starts on a siamese pair encoder (each text of a pair
        encoded alone, the head reading both vectors); itself where nothing differs."""


class AdaptationBase:
    """Defaults for :class:`Adaptation`: subclass it, set ``name``, write ``prepare``."""

    name: ClassVar[str] = ""
    default_lr: ClassVar[float] = 5e-4
    keeps_dropout: ClassVar[bool] = False
    peft_adapter: ClassVar[bool] = False
    starts_as_base: ClassVar[bool] = True
    positions_used: ClassVar[int] = 0
    pool_virtual_tokens: ClassVar[bool] = False

    def prepare(self, backbone, model_path: str):
        raise NotImplementedError(f"{type(self).__name__} must define prepare(backbone, path).")

    def finalize(self, backbone):
        return backbone

    def unmerged(self):
        return self

    def for_siamese_pairs(self):
        return self


def register_adaptation(strategy: type) -> type:
    """Class decorator: make ``strategy`` available as ``adaptation=strategy.name``.

    It is checked against :class:`Adaptation` and recorded for the safe folder
    format, so estimators that hold it save and load.

    Parameters
    ----------
    strategy : type
        A strategy class, usually a dataclass subclassing :class:`AdaptationBase`.

    Returns
    -------
    strategy : type
        The class itself, registered.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> from typing import ClassVar
    >>> from sktransformers.adaptation import AdaptationBase, register_adaptation
    >>> @register_adaptation
    ... @dataclass
    ... class BiasOnly(AdaptationBase):
    ...     name: ClassVar[str] = "bias-only"
    ...     def prepare(self, backbone, model_path):
    ...         for param_name, param in backbone.named_parameters():
    ...             param.requires_grad_(param_name.endswith("bias"))
    ...         return backbone
    >>> from sktransformers import AdaptedClassifier
    >>> AdaptedClassifier(adaptation="bias-only").adaptation
    'bias-only'
    """
    missing = [attr for attr in ("name", "default_lr", "keeps_dropout", "peft_adapter",
                                 "starts_as_base", "positions_used", "pool_virtual_tokens",
                                 "prepare", "finalize", "unmerged", "for_siamese_pairs")
               if not hasattr(strategy, attr)]
    if missing or not isinstance(strategy.name, str) or not strategy.name:
        raise TypeError(f"{strategy.__name__} is not an adaptation strategy: it lacks "
                        f"{missing or ['a name']}; subclass AdaptationBase and set name.")
    known = ADAPTATIONS.get(strategy.name)
    if known is not None and known[0].__qualname__ != strategy.__qualname__:
        raise ValueError(f"adaptation name {strategy.name!r} is taken by {known[0].__name__}; "
                         "choose another name.")
    ADAPTATIONS[strategy.name] = (safe_state(strategy), strategy.default_lr)
    return strategy


def make_adaptation(spec) -> Adaptation:
    """The strategy object for ``spec``.

    Parameters
    ----------
    spec : str or strategy object
        A registered name (:data:`ADAPTATIONS`), or an object with the
        :class:`Adaptation` interface (returned as it is).

    Returns
    -------
    adaptation : Adaptation
    """
    if isinstance(spec, str):
        if spec not in ADAPTATIONS:
            raise ValueError(f"adaptation={spec!r} is not one of {sorted(ADAPTATIONS)}; pass "
                             "one of those names or a strategy object such as LoRA(r=16).")
        return ADAPTATIONS[spec][0]()
    if not isinstance(spec, Adaptation):
        raise TypeError(f"adaptation={spec!r} is neither a name from {sorted(ADAPTATIONS)} nor "
                        "a strategy object (with prepare and finalize), such as LoRA(r=16).")
    return spec


def default_lr(spec) -> float:
    """The default learning rate of the strategy ``spec`` names or is."""
    if isinstance(spec, str):
        return ADAPTATIONS[spec][1]
    return spec.default_lr
