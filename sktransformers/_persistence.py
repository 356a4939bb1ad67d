"""Persistence: pickle/joblib support for objects holding torch modules.

Modules are stored as ``torch.save`` bytes and loaded back with
``map_location="cpu"``, so a model fitted on a GPU loads on a CPU-only machine;
prediction then moves it to whatever device the estimator resolves there.
"""

from __future__ import annotations

import io

import torch


class _TorchBlob:
    """A torch module serialised to bytes (device-independent on load)."""

    def __init__(self, module: torch.nn.Module):
        buffer = io.BytesIO()
        torch.save(module, buffer)
        self.data = buffer.getvalue()

    def load(self) -> torch.nn.Module:
        return torch.load(io.BytesIO(self.data), map_location="cpu", weights_only=False)


class TorchPicklingMixin:
    """Make every ``torch.nn.Module`` attribute survive pickling across devices."""

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(vars(self))
        state = dict(state)
        for name, value in state.items():
            if isinstance(value, torch.nn.Module):
                state[name] = _TorchBlob(value)
        return state

    def __setstate__(self, state):
        state = {k: v.load() if isinstance(v, _TorchBlob) else v for k, v in state.items()}
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            vars(self).update(state)
