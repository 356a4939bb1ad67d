"""Input validation: texts, labels and sample weights.

Every public estimator calls these and nothing else to check what the user
passes, so a problem gets the same clear message everywhere. Nothing the user
passed is modified: the helpers build new lists and arrays.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.multiclass import type_of_target

_ACCEPTED = (
    "Pass a list, tuple or 1-D numpy array of str, a pandas Series of str, "
    "or a one-column DataFrame / 2-D array of str."
)


def _is_missing(value) -> bool:
    if value is None:
        return True
    return isinstance(value, numbers.Real) and np.isnan(value)


def _as_sequence(X, name):
    """Turn a supported container into a flat Python list, without copying data."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} is a single string; the estimators take a collection of texts. "
            f"Wrap it in a list: [{name}]."
        )
    if X is None:
        raise ValueError(f"{name} is None. {_ACCEPTED}")
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # pandas DataFrame
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} is a DataFrame with {X.shape[1]} columns; text estimators take "
                "exactly one text column. Select it, e.g. df['text'] or df[['text']]."
            )
        return X.iloc[:, 0].tolist()
    if hasattr(X, "iloc"):  # pandas Series
        return X.tolist()
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            return X[:, 0].tolist()
        if X.ndim != 1:
            raise ValueError(
                f"{name} is an array of shape {X.shape}; text estimators take a 1-D array "
                "of texts or a 2-D array with exactly one column."
            )
        return X.tolist()
    if isinstance(X, (list, tuple)):
        return list(X)
    raise TypeError(f"{name} of type {type(X).__name__} is not supported. {_ACCEPTED}")


def check_texts(X, name: str = "X") -> list[str]:
    """Validate a collection of texts and return it as a new list of ``str``.

    Parameters
    ----------
    X : list, tuple, ndarray, pandas Series or one-column DataFrame
        The texts.
    name : str, default="X"
        The argument's name, used in error messages.

    Returns
    -------
    texts : list of str
        A new list; ``X`` itself is not modified.

    Raises
    ------
    TypeError
        If ``X`` is a bare string, an unsupported container, or holds non-strings.
    ValueError
        If ``X`` is empty, ``None``, has the wrong shape, or holds missing values.

    Examples
    --------
    >>> check_texts(("good film", "bad film"))
    ['good film', 'bad film']
    """
    texts = _as_sequence(X, name)
    if len(texts) == 0:
        raise ValueError(f"{name} is empty; pass at least one text.")
    for i, text in enumerate(texts):
        if isinstance(text, str):
            continue
        if isinstance(text, (list, tuple, np.ndarray)) and len(text) == 1:
            raise ValueError(
                f"{name} looks like a nested list (element {i} is {text!r}); "
                "pass a flat list of strings."
            )
        if _is_missing(text):
            raise ValueError(
                f"{name}[{i}] is a missing value ({text!r}); remove the row or fill it "
                "with a string, e.g. X.fillna('')."
            )
        raise TypeError(
            f"{name}[{i}] is of type {type(text).__name__} ({text!r}), not str; "
            "convert the column to text first, e.g. X.astype(str)."
        )
    return texts


def check_labels(y, n_samples: int) -> np.ndarray:
    """Validate classification targets and return them as a new 1-D array.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels, strings or integers.
    n_samples : int
        The number of texts they must match.

    Returns
    -------
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> check_labels(["pos", "neg"], 2)
    array(['pos', 'neg'], dtype='<U3')
    """
    if y is None:
        raise ValueError("y is None; classifiers need one label per text.")
    if isinstance(y, str):
        raise TypeError("y is a single string; pass one label per text, e.g. a list.")
    labels = _as_sequence(y, "y")
    if any(_is_missing(v) for v in labels):
        raise ValueError("y contains missing values (None or NaN); drop those rows first.")
    y_arr = np.asarray(labels)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_arr.shape}.")
    if len(y_arr) != n_samples:
        raise ValueError(
            f"X has {n_samples} texts but y has {len(y_arr)} labels; pass one label per text."
        )
    kind = type_of_target(y_arr)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y looks like a {kind!r} target; these classifiers take discrete class "
            "labels (strings or integers)."
        )
    if len(np.unique(y_arr)) < 2:
        raise ValueError(
            f"y has a single class ({y_arr[0]!r}); a classifier needs at least two classes."
        )
    return y_arr


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Validate ``sample_weight`` and return a new float32 array (ones if ``None``).

    Examples
    --------
    >>> check_sample_weight(None, 2)
    array([1., 1.], dtype=float32)
    """
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float32)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or len(w) != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per text ({n_samples}); "
            f"got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("sample_weight must be finite, non-negative and not all zero.")
    return w.astype(np.float32)
