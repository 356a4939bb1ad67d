"""Retrieval-augmented answers: a causal LM answers with retrieved chunks in its prompt."""

from __future__ import annotations

import json
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from ..backbones.causal_lm import load_causal_lm
from ..backbones.loading import load_tokenizer
from ..backbones.packaged import DEFAULT_LM, lm_path
from ..backbones.policy import generate
from ..backbones.reference import reference_for
from ..core.validation import check_texts
from ..retrieval.answers import ABSTAIN, token_f1
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, TextInputMixin, store_params
from .indexing import DocumentIndex

#: The default prompt: ``{context}`` are the retrieved chunks, ``{question}`` the question.
TEMPLATE = ("Answer the question using only the context. Reply with a short phrase."
            "{abstain}\n\nContext:\n{context}\n\nQuestion: {question}")
_ABSTAIN_RULE = f' If the context does not contain the answer, reply "{ABSTAIN}".'


class RetrievalAugmentedGenerator(TextInputMixin, BaseEstimator):
    """Answer questions from your documents: retrieve chunks, then let a causal LM answer.

    ``fit(documents)`` builds the index (a clone of ``index``); ``predict(questions)``
    retrieves the ``n_chunks`` best chunks for each question and generates an answer
    with them in the prompt (greedy decoding); ``answer`` also returns the sources.
    ``score`` is SQuAD's token F1 (an unanswerable question scores 1 for an
    abstention).

    Parameters
    ----------
    index : DocumentIndex or None, default=None
        How documents are searched; ``None``: ``DocumentIndex()`` (dense, the packaged
        MiniLM). A fitted index wrapped in ``sklearn.frozen.FrozenEstimator`` is used
        as it is (``fit(None)``).
    model : str or path, default=None
        The causal LM; ``None`` uses the packaged SmolLM2-135M-Instruct.
    n_chunks : int, default=3
        Retrieved chunks put in the prompt (``0``: closed-book, no retrieval).
    template : str, default=TEMPLATE
        With ``{context}``, ``{question}`` and ``{abstain}`` fields.
    abstain : bool, default=True
        Tell the model to answer "not in the documents" when the context lacks the
        answer.
    max_new_tokens : int, default=24
        Longest answer, in tokens (the first line of what is generated is kept).
    batch_size : int, default=8
        Questions per generation batch.
    device, precision, verbose
        As for the other estimators.

    Attributes
    ----------
    index_ : DocumentIndex
    tokenizer_ : tokenizer
    base_ : BaseReference
        The causal LM.
    """

    _rebuilt = ("tokenizer_", "model_path_")
    _parameter_constraints = {
        "index": [HasMethods(["search"]), None],
        "model": ENCODER_CONSTRAINTS["model"],
        "n_chunks": [Interval(Integral, 0, None, closed="left")],
        "template": [str],
        "abstain": ["boolean"],
        "max_new_tokens": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "precision": NO_INT8_PRECISION,
        "verbose": ["verbose"],
    }

    def __init__(self, index=None, model=None, *, n_chunks=3, template=TEMPLATE, abstain=True,
                 max_new_tokens=24, batch_size=8, device="auto", precision="auto", verbose=0):
        store_params(self, locals())

    def fit(self, X=None, y=None):
        """Index the documents ``X`` and load the language model.

        Parameters
        ----------
        X : list of str, Series, DataFrame, or None
            Documents, as ``DocumentIndex.fit`` takes them; ``None`` with a fitted
            ``index`` (``FrozenEstimator``).
        y : None
            Ignored.

        Returns
        -------
        self : RetrievalAugmentedGenerator
        """
        self._validate_params()
        self._check_device()
        for field in ("{context}", "{question}"):
            if field not in self.template:
                raise ValueError(f"template must contain {field}; got {self.template!r}.")
        if X is None:
            if self.index is None or not hasattr(self.index, "documents_"):
                raise ValueError("fit(None) needs a fitted index (wrap it in "
                                 "sklearn.frozen.FrozenEstimator); else pass documents.")
            index = self.index
        else:
            index = (DocumentIndex() if self.index is None else clone(self.index)).fit(X)
        path = lm_path(self.model, self.verbose)
        vars(self).update(index_=index, tokenizer_=load_tokenizer(path), model_path_=path,
                          base_=reference_for(self.model, path, DEFAULT_LM))
        return self

    def _restore(self, path):
        self.tokenizer_, self.model_path_ = load_tokenizer(path), path

    def _prompts(self, questions):
        if self.n_chunks == 0:
            return [self._prompt("", q) for q in questions], [[] for _ in questions]
        found = self.index_.search(list(questions), self.n_chunks)
        sources = [found[found.query_id == str(i)] for i in range(len(questions))]
        prompts = [self._prompt("\n\n".join(rows.chunk), q)
                   for rows, q in zip(sources, questions, strict=True)]
        return prompts, sources

    def _prompt(self, context, question):
        return self.template.format(context=context or "(none)", question=question,
                                    abstain=_ABSTAIN_RULE if self.abstain else "")

    def answer(self, X) -> pd.DataFrame:
        """Answers with their sources.

        Parameters
        ----------
        X : list of str or Series
            Questions.

        Returns
        -------
        answers : DataFrame
            ``question``, ``answer``, ``doc_ids`` and ``chunks`` (what the prompt held).
        """
        check_is_fitted(self, "index_")
        questions = list(check_texts(X))
        prompts, sources = self._prompts(questions)
        device, dtype = self._device_dtype()
        model = load_causal_lm(self.model_path_, device)
        texts = generate(model, self.tokenizer_, prompts, max_new_tokens=self.max_new_tokens,
                         do_sample=False, temperature=1.0, top_p=1.0,
                         batch_size=self.batch_size, device=device, dtype=dtype)
        return pd.DataFrame({
            "question": questions, "answer": [t.split("\n")[0].strip() for t in texts],
            "doc_ids": [list(getattr(s, "doc_id", [])) for s in sources],
            "chunks": [list(getattr(s, "chunk", [])) for s in sources]})

    def predict(self, X):
        """The answer to each question.

        Parameters
        ----------
        X : list of str or Series
            Questions.

        Returns
        -------
        answers : ndarray of str, shape (n_questions,)
        """
        return self.answer(X)["answer"].to_numpy(dtype=object)

    def score(self, X, y):
        """Mean SQuAD token F1 of ``predict(X)`` against the reference answers ``y``.

        Parameters
        ----------
        X : list of str or Series
            Questions.
        y : sequence of list of str, or of JSON lists
            Reference answers per question (``[]``: unanswerable).

        Returns
        -------
        f1 : float
        """
        references = [json.loads(r) if isinstance(r, str) else list(r) for r in y]
        if len(references) != len(check_texts(X)):
            raise ValueError(f"{len(references)} reference lists for "
                             f"{len(check_texts(X))} questions.")
        answers = self.predict(X)
        return float(np.mean([token_f1(a, r) for a, r in
                              zip(answers, references, strict=True)]))


__all__ = ["TEMPLATE", "RetrievalAugmentedGenerator"]
