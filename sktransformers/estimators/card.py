"""The Jupyter display of a fitted estimator: scikit-learn's diagram plus a summary card.

The card answers what a notebook user asks after ``fit``: which method and
backbone, how much of the model trained, where it ran, how training went and
how large the saved model is.
"""

from __future__ import annotations

import html
import pickle
from pathlib import Path

from sklearn.utils import estimator_html_repr

_STYLE = ("font-family: var(--jp-content-font-family, sans-serif); font-size: 12px; "
          "border-collapse: collapse; margin-top: 4px")
_CELL = "padding: 2px 10px 2px 0; text-align: left; vertical-align: top"


def _size(n_bytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def _backbone(est) -> str:
    base = getattr(est, "base_", None) or getattr(getattr(est, "embedder_", None), "base_", None)
    if base is None:
        return str(getattr(est, "model", None) or "packaged default")
    name = Path(base.name).name if base.kind == "folder" else base.name
    return f"{name} ({base.kind})"


def _artifact_bytes(est) -> int:
    """About what ``save`` writes: the trained tensors (twice where a PEFT copy of the
    adapter goes beside them), or the pickled scikit-learn model."""
    state = getattr(est, "trained_state_", None)
    if state:
        sizes = {name: t.numel() * t.element_size() for name, t in state.items()}
        total = sum(sizes.values())
        adaptation = getattr(est, "adaptation_", None)
        if adaptation is not None and adaptation.peft_adapter:
            total += sum(n for name, n in sizes.items() if not name.startswith("head."))
        return total
    inner = getattr(est, "estimator_", None)
    return len(pickle.dumps(inner)) if inner is not None else 0


def _training(est) -> str | None:
    history = getattr(est, "history_", None)
    if not history:
        return None
    planned = getattr(est, "max_epochs", None)
    done = len(history)
    text = f"{done} of {planned} epochs" if planned else f"{done} steps"
    best = history.best() if hasattr(history, "best") else None
    if best is not None and "valid_loss" in best:
        text += f"; best validation loss {best['valid_loss']:.4f} (epoch {best['epoch']}"
        if "valid_accuracy" in best:
            text += f", accuracy {best['valid_accuracy']:.3f}"
        text += ")"
    elif best is not None and "train_loss" in best:
        text += f"; last train loss {best['train_loss']:.4f} (no validation split)"
    return text


def summary(est) -> dict:
    """What the card shows, as label -> text (fitted estimators only)."""
    rows = {"method": (type(est).__doc__ or type(est).__name__).strip().splitlines()[0],
            "backbone": _backbone(est)}
    trainable, total = getattr(est, "n_trainable_params_", None), getattr(est, "n_total_params_",
                                                                           None)
    if trainable is not None and total:
        rows["trainable parameters"] = (f"{trainable:,} of {total:,} "
                                        f"({100 * trainable / total:.3g}%)")
    device, dtype = est._device_dtype()
    rows["device, precision"] = (f"{device}, {est.precision} "
                                 f"({str(dtype).replace('torch.', '') if dtype else 'float32'})")
    training = _training(est)
    if training:
        rows["training"] = training
    rows["saved weights (about)"] = _size(_artifact_bytes(est))
    return rows


def card_html(rows: dict) -> str:
    cells = "".join(f"<tr><th style='{_CELL}'>{html.escape(k)}</th>"
                    f"<td style='{_CELL}'>{html.escape(v)}</td></tr>" for k, v in rows.items())
    return f"<table class='sktransformers-summary' style='{_STYLE}'>{cells}</table>"


class NotebookReprMixin:
    """Adds the summary card under scikit-learn's HTML diagram once fitted."""

    def _html_repr(self):
        diagram = estimator_html_repr(self)
        if not _is_fitted(self):
            return diagram
        return diagram + card_html(summary(self))


def _is_fitted(est) -> bool:
    return "n_trainable_params_" in vars(est) or "history_" in vars(est)
