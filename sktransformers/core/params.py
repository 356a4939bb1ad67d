"""Trainable parameters: what a fit changed, counting them, putting them back."""

from __future__ import annotations

import torch


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


def count_params(module, trainable_only=False) -> int:
    """Number of (trainable) parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
