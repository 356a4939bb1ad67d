"""InContextClassifier: exact scoring, demonstration selection, calibration, prompts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sktransformers import InContextClassifier
from sktransformers.backbones.causal_lm import load_causal_lm, score_labels, score_labels_naively
from sktransformers.backbones.loading import load_tokenizer

TEMPLATE = "review : {text} \n sentiment : {label}"
X = ["good film", "bad film", "great movie", "awful plot", "nice story", "boring actor"] * 2
Y = ["positive", "negative"] * 6


def _ids(tok, texts):
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


@pytest.mark.parametrize("prefix_text", ["", "review : good \n sentiment : positive \n\n"])
@pytest.mark.parametrize("batch_size", [1, 4, 64])
def test_cached_batched_scoring_equals_naive(tiny_llama, prefix_text, batch_size):
    model, tok = load_causal_lm(tiny_llama), load_tokenizer(tiny_llama)
    prefix = tok(prefix_text)["input_ids"] if prefix_text else []
    queries = _ids(tok, ["review : bad", "review : a very long and boring film story", "the"])
    # three labels, two sharing their leading token, of different lengths
    labels = _ids(tok, [" positive", " very good", " very bad film"])
    fast = score_labels(model, prefix, queries, labels, batch_size=batch_size, device="cpu",
                        dtype=None, pad_id=tok.pad_token_id)
    naive = score_labels_naively(model, prefix, queries, labels, device="cpu")
    np.testing.assert_allclose(fast, naive, rtol=1e-5, atol=1e-5)
    assert len(set(np.round(fast[0], 6))) == 3


def test_predict_proba_is_the_softmax_of_label_likelihoods(tiny_llama):
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, calibrate=False).fit(X, Y)
    tok = load_tokenizer(tiny_llama)
    queries = _ids(tok, ["review : good film \n sentiment :"])
    labels = _ids(tok, [" negative", " positive"])
    scores = score_labels_naively(load_causal_lm(tiny_llama), [], queries, labels, device="cpu")
    expected = np.exp(scores) / np.exp(scores).sum()
    np.testing.assert_allclose(clf.predict_proba(["good film"]), expected, rtol=1e-5)
    normed = clf.set_params(length_normalize=True).predict_proba(["good film"])
    assert normed.shape == (1, 2)


def test_contextual_calibration_divides_by_content_free_probabilities(tiny_llama):
    raw = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2,
                              random_state=0).fit(X, Y)
    calibrated = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2,
                                     random_state=0, calibrate=True).fit(X, Y)
    p, p_cf = raw.predict_proba(X[:3]), raw.predict_proba(["N/A"])[0]
    expected = (p / p_cf) / (p / p_cf).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrated.predict_proba(X[:3]), expected, rtol=1e-5)


def test_label_words_verbalise_classes(tiny_llama):
    clf = InContextClassifier(tiny_llama, template=TEMPLATE,
                              label_words={0: "negative", 1: "positive"})
    clf.fit(X, [0, 1] * 6)
    same = InContextClassifier(tiny_llama, template=TEMPLATE).fit(X, Y)
    np.testing.assert_allclose(clf.predict_proba(X), same.predict_proba(X))
    assert set(clf.predict(X)) <= {0, 1}


def test_balanced_selection_takes_classes_in_turn(tiny_llama, multiclass_data):
    X3, y3 = multiclass_data
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=6,
                              random_state=0).fit(X3, y3)
    counts = np.bincount(np.asarray(y3)[clf.demonstrations_], minlength=3)
    assert counts.tolist() == [2, 2, 2]
    again = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=6,
                                random_state=0).fit(X3, y3)
    np.testing.assert_array_equal(clf.demonstrations_, again.demonstrations_)


def test_random_selection_depends_on_the_seed(tiny_llama):
    chosen = [tuple(InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=4,
                                        selection="random", random_state=s)
                    .fit(X, Y).demonstrations_) for s in range(4)]
    assert len(set(chosen)) > 1


def test_nearest_selection_retrieves_the_most_similar_text_last(tiny_llama, tiny_bert):
    pool = ["good film", "awful plot", "the city", "a person", "great movie", "boring actor"]
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=3, selection="nearest",
                              embedding_model=tiny_bert).fit(pool, ["a", "b"] * 3)
    assert clf.demonstrations_ is None
    demos = clf._demonstrations_for(["the city", "boring actor"])
    assert [pool[d[-1]] for d in demos] == ["the city", "boring actor"]
    assert all(len(set(d)) == 3 for d in demos)


def test_long_texts_are_cut_and_demonstrations_dropped_to_fit(tiny_llama):
    long_texts = ["good film " * 300, "bad film " * 300] * 3
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=4, max_text_tokens=40,
                              max_context=120).fit(long_texts, Y[:6])
    proba = clf.predict_proba(long_texts)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    prefix, queries = clf._prompts(list(clf.demonstrations_), long_texts[:1],
                                   [[5], [6, 7]])
    assert len(prefix) + len(queries[0]) + 2 <= 120
    assert len(queries[0]) <= 40 + 8


def test_template_grid_search_picks_the_best_scoring_template(tiny_llama):
    templates = [TEMPLATE, "{text} ? {label}", "text : {text} \n answer : {label}"]
    grid = GridSearchCV(InContextClassifier(tiny_llama, n_examples=2, random_state=0),
                        {"template": templates}, cv=3).fit(X, Y)
    scores = grid.cv_results_["mean_test_score"]
    assert grid.best_params_["template"] == templates[int(np.argmax(scores))]
    assert len(grid.cv_results_["params"]) == 3


@pytest.mark.parametrize("params, message", [
    ({"template": "no fields here"}, r"must contain \{text\}, \{label\}"),
    ({"template": "{label} before {text}"}, "must come before"),
    ({"template": "{text} {other} {label}"}, "field other than"),
    ({"label_words": {"positive": "good"}}, "no word for class"),
    ({"label_words": {"positive": "x", "negative": "x"}}, "distinct"),
    ({"n_examples": 50}, "only 12 training texts"),
])
def test_prompt_errors_name_the_fix(tiny_llama, params, message):
    with pytest.raises(ValueError, match=message):
        InContextClassifier(tiny_llama, **{"template": TEMPLATE, **params}).fit(X, Y)


def test_pickle_refers_to_the_model_instead_of_copying_it(tiny_llama):
    clf = InContextClassifier(tiny_llama, template=TEMPLATE).fit(X, Y)
    blob = pickle.dumps(clf)
    weights = sum(p.numel() * 4 for p in load_causal_lm(tiny_llama).parameters())
    assert len(blob) < weights
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(X), clf.predict_proba(X))


def test_nearest_with_content_free_calibration_uses_each_prompt(tiny_llama, tiny_bert):
    kw = {"template": TEMPLATE, "n_examples": 2, "selection": "nearest",
          "embedding_model": tiny_bert}
    raw = InContextClassifier(tiny_llama, **kw).fit(X, Y)
    calibrated = InContextClassifier(tiny_llama, calibrate="content_free", **kw).fit(X, Y)
    queries = ["good film", "awful plot", "the city"]
    model = load_causal_lm(tiny_llama)
    labels = raw._label_tokens()
    expected = []
    for text, demos in zip(queries, raw._demonstrations_for(queries), strict=True):
        prefix, (query, cf) = raw._prompts(demos, [text], labels, content_free=True)
        scores = score_labels_naively(model, prefix, [query, cf], labels, device="cpu")
        p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        expected.append((p[0] / p[1]) / (p[0] / p[1]).sum())
    np.testing.assert_allclose(calibrated.predict_proba(queries), expected, rtol=1e-5)


def test_prior_calibration_divides_by_the_training_mean(tiny_llama):
    raw = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2, calibrate=False,
                              random_state=0).fit(X, Y)
    prior = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2, random_state=0,
                                calibrate="prior").fit(X, Y)
    assert prior.prior_.shape == (2,) and np.isclose(prior.prior_.sum(), 1.0)
    p = raw.predict_proba(X)
    expected = (p / prior.prior_) / (p / prior.prior_).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(prior.predict_proba(X), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="selection='nearest'"):
        InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2, selection="nearest",
                            calibrate="prior").fit(X, Y)


def test_prior_is_uniform_when_every_training_text_is_a_demonstration(tiny_llama):
    two = ["good film", "bad film"]
    prior = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2, random_state=0,
                                calibrate="prior").fit(two, ["pos", "neg"])
    raw = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2, random_state=0,
                              calibrate=False).fit(two, ["pos", "neg"])
    np.testing.assert_allclose(prior.prior_, [0.5, 0.5])
    np.testing.assert_allclose(prior.predict_proba(X), raw.predict_proba(X), rtol=1e-6)


def test_auto_calibration_is_prior_where_every_text_shares_the_prompt(tiny_llama):
    shared = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2).fit(X, Y)
    assert shared.settings_["calibrate"] == "prior" and shared.prior_.shape == (2,)
    nearest = InContextClassifier(tiny_llama, template=TEMPLATE, n_examples=2,
                                  selection="nearest").fit(X, Y)
    assert nearest.settings_["calibrate"] is False and not hasattr(nearest, "prior_")


def test_auto_template_is_the_best_cross_validated_candidate(tiny_llama):
    from sktransformers.estimators.template_search import TEMPLATES

    clf = InContextClassifier(tiny_llama, n_examples=2, random_state=0).fit(X, Y)
    scores = clf.template_scores_
    assert list(scores) == list(TEMPLATES["single"])
    assert clf.template_ == max(scores, key=scores.get) == clf.settings_["template"]
    # the chosen template is the one used: same probabilities as passing it explicitly
    explicit = InContextClassifier(tiny_llama, template=clf.template_, n_examples=2,
                                   random_state=0).fit(X, Y)
    assert explicit.template_scores_ is None
    assert set(explicit.demonstrations_) <= set(range(len(X)))
    pairs = InContextClassifier(tiny_llama).fit([(a, a) for a in X], Y)
    assert list(pairs.template_scores_) == list(TEMPLATES["pairs"])


def test_template_search_scores_each_text_once_per_template(tiny_llama, monkeypatch):
    import sktransformers.backbones.causal_lm as lm
    from sktransformers.estimators.template_search import TEMPLATES

    scored = []
    real = lm.score_labels
    monkeypatch.setattr("sktransformers.estimators.in_context.score_labels",
                        lambda model, prefix, queries, *a, **k: scored.append(len(queries))
                        or real(model, prefix, queries, *a, **k))
    texts, labels = X * 30, Y * 30  # 360 texts: the search classifies 300
    InContextClassifier(tiny_llama, n_examples=2, random_state=0).fit(texts, labels)
    n_templates = len(TEMPLATES["single"])
    # 3 folds per template, each text of the 300 once per template; then the prior (64)
    assert scored == [100] * 3 * n_templates + [64]
    # the search costs <= 5x one fit (the prior's 64 texts) + predicting those 300 texts
    assert sum(scored[:-1]) <= 5 * (64 + 300)


# ---------------------------------------------------------------- instructions (APE)

def test_a_list_of_instructions_keeps_the_best_and_uses_it(tiny_llama):
    candidates = ["review the film .", "good or bad ?", "the plot"]
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, instruction=candidates,
                              n_examples=2, random_state=0).fit(X, Y)
    scores = clf.instruction_scores_
    assert list(scores) == candidates
    best = max(candidates, key=lambda c: scores[c])  # ties: the earlier candidate
    assert clf.instruction_ == best == clf.settings_["instruction"]
    assert clf.get_params()["instruction"] == candidates  # the parameter is untouched
    explicit = InContextClassifier(tiny_llama, template=TEMPLATE, instruction=best,
                                   n_examples=2, random_state=0).fit(X, Y)
    assert explicit.instruction_scores_ is None
    tok = load_tokenizer(tiny_llama)
    assert tok.decode(clf._prefix(clf.demonstrations_), skip_special_tokens=True).startswith(
        best)
    # the search drew from the seeded generator: give both the same demonstrations
    explicit.demonstrations_, explicit.prior_ = clf.demonstrations_, clf.prior_
    np.testing.assert_allclose(clf.predict_proba(X), explicit.predict_proba(X), rtol=1e-6)


def test_auto_instruction_proposes_from_demonstrations_and_bounds_its_cost(tiny_llama,
                                                                          monkeypatch):
    from sktransformers.estimators import template_search

    seen = []

    def fake_generate(model, tokenizer, prompts, **kwargs):
        seen.extend(prompts)
        assert kwargs["chat"] is False and kwargs["do_sample"] is True
        return [" label each review as positive or negative. Input: x",
                " label each review as positive or negative.", "\n", " say good"][
            : len(prompts)] * 3
    monkeypatch.setattr("sktransformers.estimators.template_search.generate", fake_generate)
    texts, labels = X * 30, Y * 30
    clf = InContextClassifier(tiny_llama, instruction="auto", n_instructions=4,
                              random_state=0).fit(texts, labels)
    assert len(seen) == 4 and all(p.endswith("The instruction was to") for p in seen)
    assert all(p.count("\nOutput: ") == template_search.PROPOSAL_DEMOS for p in seen)
    assert any("Output: positive" in p for p in seen)  # the label words are the outputs
    # duplicates and non-sentences dropped; no instruction competes first
    assert list(clf.instruction_scores_) == [
        "", "Label each review as positive or negative.", "Say good."]
    cost = clf.search_cost_
    assert cost["generated_texts"] == 4
    n_templates = len(template_search.TEMPLATES["single"])
    # the template search scores 300 texts per template, the instruction search at most
    # SEARCH_BUDGET over its candidates: each <= 5x one fit (64) + predicting 300 texts
    assert cost["scored_texts"] == 300 * n_templates + 3 * 300
    assert 3 * 300 <= template_search.SEARCH_BUDGET <= 5 * (64 + 300)


def test_many_instructions_share_the_budget(tiny_llama):
    from sktransformers.estimators.template_search import SEARCH_BUDGET

    candidates = [""] + [f"instruction {i} ." for i in range(9)]
    clf = InContextClassifier(tiny_llama, template=TEMPLATE, instruction=candidates,
                              random_state=0).fit(X * 40, Y * 40)
    assert clf.search_cost_["scored_texts"] == 10 * (SEARCH_BUDGET // 10) <= SEARCH_BUDGET


@pytest.mark.parametrize("text, expected", [
    (" classify each review as good or bad. Input: x", "Classify each review as good or bad."),
    (' "answer with the topic"\nmore', "Answer with the topic."),
    (" write!", ""),
    ("\n", ""),
])
def test_proposals_become_one_sentence_instructions(text, expected):
    from sktransformers.estimators.template_search import as_instruction

    assert as_instruction(text) == expected


@pytest.mark.parametrize("instruction", [[], ["ok", 3]])
def test_bad_instruction_lists_are_refused(tiny_llama, instruction):
    with pytest.raises(ValueError, match="list of instructions"):
        InContextClassifier(tiny_llama, instruction=instruction).fit(X, Y)


def test_gguf_conversion_parses_the_file_once_and_restores_gguf(tmp_path):
    gguf = pytest.importorskip("gguf")
    from sktransformers.backbones.packaged import _gguf_parsed_once

    writer = gguf.GGUFWriter(tmp_path / "tiny.gguf", "llama")
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with _gguf_parsed_once():
        first = gguf.GGUFReader(tmp_path / "tiny.gguf")
        assert gguf.GGUFReader(str(tmp_path / "tiny.gguf")) is first
        assert first.tensors[0].name == "token_embd.weight"
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == (reader_class, name_map)
    assert gguf.GGUFReader(tmp_path / "tiny.gguf") is not first
