"""RetrievalAugmentedGenerator on tiny models: prompts, sources, scoring, persistence."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator

import sktransformers.estimators.rag as rag
from sktransformers import DocumentIndex, RetrievalAugmentedGenerator, load
from sktransformers.retrieval.answers import ABSTAIN, token_f1

DOCS = pd.DataFrame({"doc_id": ["p1", "p2"],
                     "text": ["the city of paris is a place with many a person",
                              "a good film with a great actor and a fun story"]})


@pytest.fixture
def generator(tiny_bert, tiny_llama):
    def build(**kw):
        params = {"index": DocumentIndex(tiny_bert, mode="bm25"), "max_new_tokens": 3, **kw}
        return RetrievalAugmentedGenerator(model=tiny_llama, **params)
    return build


def test_the_prompt_holds_the_retrieved_chunks_and_answers_name_sources(generator,
                                                                        monkeypatch):
    seen = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        seen.extend(prompts)
        return ["paris\nmore text"] * len(prompts)

    monkeypatch.setattr(rag, "generate", fake_generate)
    rag_model = generator(n_chunks=1).fit(DOCS)
    out = rag_model.answer(["which city is it", "who is the actor"])
    assert out.answer.tolist() == ["paris", "paris"]  # the first line of the generation
    assert out.doc_ids.tolist() == [["p1"], ["p2"]]
    assert "the city of paris" in seen[0] and "which city is it" in seen[0]
    assert ABSTAIN in seen[0]
    closed = generator(n_chunks=0, abstain=False).fit(DOCS)
    seen.clear()
    assert closed.answer(["which city"]).doc_ids.tolist() == [[]]
    assert "paris" not in seen[0] and ABSTAIN not in seen[0]


def test_it_generates_with_the_real_loop_and_round_trips(generator, tmp_path):
    model = generator().fit(DOCS)
    answers = model.predict(["which city is it"])
    # the answer is the first line of the causal LM's own greedy generation for the prompt
    prompts, _ = model._prompts(["which city is it"])
    direct = rag.generate(rag.load_causal_lm(model.model_path_), model.tokenizer_, prompts,
                          max_new_tokens=3, do_sample=False, temperature=1.0, top_p=1.0,
                          batch_size=1, device="cpu", dtype=None)
    assert answers.tolist() == [direct[0].split("\n")[0].strip()]
    for loaded in (pickle.loads(pickle.dumps(model)), load(model.save(tmp_path / "rag"))):
        assert loaded.predict(["which city is it"]).tolist() == answers.tolist()


def test_a_fitted_index_is_used_as_it_is(generator, tiny_bert):
    index = DocumentIndex(tiny_bert, mode="bm25").fit(DOCS)
    model = generator(index=FrozenEstimator(index)).fit()
    assert model.index_.documents_ is index.documents_
    with pytest.raises(ValueError, match="fitted index"):
        generator().fit()


def test_squad_token_f1():
    assert token_f1("The Eiffel Tower!", ["eiffel tower"]) == 1.0
    assert token_f1("tower in paris", ["eiffel tower"]) == pytest.approx(2 * (1/3) * (1/2) /
                                                                         (1/3 + 1/2))
    assert token_f1("Not in the documents.", []) == 1.0
    assert token_f1("paris", []) == 0.0
    assert token_f1("paris", ["london", "Paris"]) == 1.0


def test_score_and_bad_input(generator, monkeypatch):
    monkeypatch.setattr(rag, "generate", lambda m, t, prompts, **k: ["paris"] * len(prompts))
    with pytest.raises(NotFittedError):
        generator().predict(["which city"])
    model = generator().fit(DOCS)
    assert model.score(["which city", "who acts"], ['["Paris"]', "[]"]) == 0.5
    with pytest.raises(ValueError, match="reference lists"):
        model.score(["which city"], [[], []])
    with pytest.raises(ValueError, match="must contain"):
        generator(template="no fields").fit(DOCS)
