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
    "a one-column DataFrame / 2-D array of str, or for text pairs a two-column "
    "DataFrame / (n, 2) array of str."
)


def _is_missing(value) -> bool:
    if value is None:
        return True
    # only floats can be NaN (np.isnan fails on integers beyond 64 bits)
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


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
        if X.shape[1] not in (1, 2):
            raise ValueError(
                f"{name} is a DataFrame with {X.shape[1]} columns; text estimators take "
                "one text column, or two for text pairs. Select them, e.g. df[['text']] "
                "or df[['question', 'answer']]."
            )
        if X.shape[1] == 2:
            return list(zip(X.iloc[:, 0].tolist(), X.iloc[:, 1].tolist(), strict=True))
        return X.iloc[:, 0].tolist()
    if hasattr(X, "iloc"):  # pandas Series
        return X.tolist()
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            return X[:, 0].tolist()
        if X.ndim == 2 and X.shape[1] == 2:
            return [tuple(row) for row in X.tolist()]
        if X.ndim != 1:
            raise ValueError(
                f"{name} is an array of shape {X.shape}; text estimators take a 1-D array "
                "of texts, a 2-D array with one column, or two columns for text pairs."
            )
        return X.tolist()
    if isinstance(X, (list, tuple)):
        return [tuple(x) if isinstance(x, (tuple, list)) and len(x) == 2 else x for x in X]
    raise TypeError(f"{name} of type {type(X).__name__} is not supported. {_ACCEPTED}")


def check_texts(X, name: str = "X") -> list:
    """Validate texts (or text pairs) and return them as a new list.

    A two-column DataFrame, an ``(n, 2)`` array or a list of 2-tuples is a
    collection of text pairs; the result then holds ``(text_a, text_b)`` tuples.

    Parameters
    ----------
    X : list, tuple, ndarray, pandas Series, or one- or two-column DataFrame
        The texts, or text pairs.
    name : str, default="X"
        The argument's name, used in error messages.

    Returns
    -------
    texts : list of str, or list of (str, str) tuples for pairs
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
    >>> check_texts([("a cat sits", "a cat is sitting")])
    [('a cat sits', 'a cat is sitting')]
    """
    texts = _as_sequence(X, name)
    if len(texts) == 0:
        raise ValueError(f"{name} is empty; pass at least one text.")
    pairs = isinstance(texts[0], tuple)
    for i, text in enumerate(texts):
        if pairs != isinstance(text, tuple):
            raise ValueError(
                f"{name} mixes single texts and text pairs (element {i} is {text!r}); pass "
                "either texts or (text_a, text_b) pairs throughout."
            )
        if pairs:
            for j, part in enumerate(text):
                _check_text(part, f"{name}[{i}][{j}]")
            continue
        _check_text(text, f"{name}[{i}]")
    return texts


def _check_text(text, where: str) -> None:
    """Raise the right error for one element that should be a ``str``."""
    if not isinstance(text, str):
        if isinstance(text, (list, tuple, np.ndarray)):
            raise ValueError(
                f"{where} looks like a nested list ({text!r}); pass a flat list of strings, "
                "or (text_a, text_b) pairs."
            )
        if _is_missing(text):
            raise ValueError(
                f"{where} is a missing value ({text!r}); remove the row or fill it "
                "with a string, e.g. X.fillna('')."
            )
        raise TypeError(
            f"{where} is of type {type(text).__name__} ({text!r}), not str; "
            "convert the column to text first, e.g. X.astype(str)."
        )


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
    kinds = {isinstance(v, (str, bytes)) for v in labels}
    if len(kinds) > 1:
        text = next(v for v in labels if isinstance(v, (str, bytes)))
        other = next(v for v in labels if not isinstance(v, (str, bytes)))
        raise TypeError(
            f"y mixes strings and other types (e.g. {text!r} and {other!r}); scikit-learn "
            "refuses such labels. Convert them to one type first, e.g. [str(v) for v in y]."
        )
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


_INDICATOR_HINT = (
    "multi-label y must be a 2-D binary indicator matrix (one column per label), e.g. "
    "MultiLabelBinarizer().fit_transform(list_of_label_lists)."
)


def check_multilabel(y, n_samples: int) -> np.ndarray:
    """Validate a multi-label indicator matrix and return it as a new int64 array.

    Examples
    --------
    >>> check_multilabel([[1, 0, 1], [0, 1, 0]], 2)
    array([[1, 0, 1],
           [0, 1, 0]])
    """
    try:
        Y = np.asarray(y)
    except ValueError as exc:  # ragged lists of label lists
        raise ValueError(f"y has rows of different lengths; {_INDICATOR_HINT}") from exc
    if Y.dtype.kind not in "biuf" or Y.ndim != 2:
        raise ValueError(f"y of shape {Y.shape} and dtype {Y.dtype} is not an indicator "
                         f"matrix; {_INDICATOR_HINT}")
    if Y.dtype.kind == "f" and not np.all(np.isfinite(Y)):
        raise ValueError("y contains missing values (NaN); drop those rows first.")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError(f"y holds values other than 0 and 1; {_INDICATOR_HINT}")
    if len(Y) != n_samples:
        raise ValueError(
            f"X has {n_samples} texts but y has {len(Y)} rows; pass one row of labels per text."
        )
    return Y.astype(np.int64)


def check_regression_targets(y, n_samples: int) -> np.ndarray:
    """Validate numeric targets (1-D, or 2-D for several outputs); return new float64.

    Examples
    --------
    >>> check_regression_targets([0.5, 2], 2)
    array([0.5, 2. ])
    """
    if y is None:
        raise ValueError("y is None; regressors need one target value (or row) per text.")
    if isinstance(y, str):
        raise TypeError("y is a single string; pass one number per text, e.g. a list.")
    try:
        raw = np.asarray(y)
    except ValueError as exc:
        raise ValueError("y has rows of different lengths; pass one number per text, or a "
                         "2-D array with one column per output.") from exc
    numeric = raw.dtype.kind in "biuf" or (raw.dtype.kind == "O" and all(
        isinstance(v, numbers.Real) or v is None for v in raw.ravel()))
    if not numeric:
        raise ValueError(
            f"y holds non-numeric values (dtype {raw.dtype}); regressors need numbers. "
            "For class labels use the matching *Classifier."
        )
    values = np.asarray(np.where(raw == None, np.nan, raw), dtype=np.float64)  # noqa: E711
    if values.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D (several outputs); got shape {values.shape}.")
    if len(values) != n_samples:
        raise ValueError(
            f"X has {n_samples} texts but y has {len(values)} targets; pass one per text."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("y contains missing or infinite values (None, NaN, inf); drop or "
                         "impute those rows first.")
    return values


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
