"""Preference data: checks for ``prompt``/``chosen``/``rejected``/``margin`` frames.

Preference data uses the column names of the field's tools (TRL, the HH-RLHF
release): ``chosen`` is the preferred and ``rejected`` the dispreferred response
to ``prompt`` (optional, may be empty); ``margin`` (optional) says by how much
``chosen`` should win. Every problem is reported with the column (and row) it is
in; nothing the user passed is modified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validation import _check_text, check_texts

_FRAME = ("Pass a pandas DataFrame (or a dict of equal-length lists) with columns "
          "'chosen' and 'rejected', and optionally 'prompt' and 'margin'.")


@dataclass
class Preferences:
    """Validated preference pairs (new lists; ``prompts`` holds ``""`` where none)."""

    prompts: list
    chosen: list
    rejected: list
    margin: np.ndarray

    def __len__(self):
        return len(self.chosen)


def _as_frame(X, name, required):
    import pandas as pd

    if isinstance(X, dict):
        try:
            X = pd.DataFrame(X)
        except ValueError as exc:
            raise ValueError(f"{name} is a dict whose columns cannot form a table ({exc}). "
                             f"{_FRAME}") from exc
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"{name} of type {type(X).__name__} is not preference data. {_FRAME}")
    missing = [c for c in required if c not in X.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing} (it has {list(X.columns)}). "
                         f"{_FRAME}")
    if len(X) == 0:
        raise ValueError(f"{name} has no rows; pass at least one preference pair.")
    return X


def _column(X, column, name, allow_empty=False) -> list:
    values = X[column].tolist()
    for i, value in enumerate(values):
        _check_text(value, f"{name}[{column!r}][{i}]")
        if not allow_empty and not value.strip():
            raise ValueError(f"{name}[{column!r}][{i}] is an empty response; every "
                             f"{column!r} response needs text. Drop the row.")
    return values


def _prompts(X, name) -> list:
    if "prompt" not in X.columns:
        return [""] * len(X)
    return _column(X, "prompt", name, allow_empty=True)


def _margin(X, name) -> np.ndarray:
    if "margin" not in X.columns:
        return np.zeros(len(X), dtype=np.float32)
    column = X["margin"]
    try:
        values = np.asarray(column.tolist(), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}['margin'] must hold numbers (how much 'chosen' should win "
                        f"by); it holds {column.dtype} values. Convert it with "
                        "pd.to_numeric, or drop the column.") from exc
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"{name}['margin'][{row}] is {values[row]}; margins must be finite "
                         "numbers. Fill or drop the row.")
    return values.astype(np.float32)


def check_preferences(X, name: str = "X") -> Preferences:
    """Validate preference pairs and return them as new lists and arrays.

    Raises
    ------
    TypeError
        ``X`` is not a table, a text column holds non-text, or ``margin`` is not numeric.
    ValueError
        A column is missing, ``X`` is empty, a response is empty or missing, a margin is
        not finite, or a pair's ``chosen`` equals its ``rejected``.
    """
    X = _as_frame(X, name, ("chosen", "rejected"))
    prefs = Preferences(_prompts(X, name), _column(X, "chosen", name),
                        _column(X, "rejected", name), _margin(X, name))
    for i, (chosen, rejected) in enumerate(zip(prefs.chosen, prefs.rejected, strict=True)):
        if chosen == rejected:
            raise ValueError(f"Row {i} of {name} has identical 'chosen' and 'rejected' "
                             "responses; a pair must differ to teach a preference. Drop it.")
    return prefs


def check_prompted_responses(X, name: str = "X") -> tuple[list, list]:
    """Responses to score: texts, or a frame with ``response`` (and ``prompt``) columns.

    Returns ``(prompts, responses)``; prompts are ``""`` where none are given.
    """
    if hasattr(X, "columns") and "response" in X.columns:
        X = _as_frame(X, name, ("response",))
        return _prompts(X, name), _column(X, "response", name, allow_empty=True)
    if hasattr(X, "columns") and "chosen" in X.columns:
        raise ValueError(f"{name} holds preference pairs ('chosen'/'rejected'); predict "
                         "scores single responses. Use decision_function or score for pairs, "
                         "or pass X['chosen'].")
    texts = check_texts(X, name)
    if isinstance(texts[0], tuple):
        return [a for a, _ in texts], [b for _, b in texts]
    return [""] * len(texts), texts


def check_prompts(X, name: str = "X") -> list:
    """Prompts to generate from: texts, or a frame with a ``prompt`` column."""
    if hasattr(X, "columns") and "prompt" in X.columns:
        X = _as_frame(X, name, ("prompt",))
        return _column(X, "prompt", name)
    texts = check_texts(X, name)
    if isinstance(texts[0], tuple):
        raise ValueError(f"{name} holds pairs of texts; pass one prompt per row.")
    return texts
