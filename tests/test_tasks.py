"""Tasks beyond single-label classification: regression, multi-label, text pairs, long texts.

The generic contract (clone, persistence, Pipeline/GridSearchCV/CV, containers,
determinism) runs over the regressors in ``test_contract.py``; this file checks
what each task adds.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import is_classifier, is_regressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from sktransformers import (
    HeadFinetuneRegressor,
    InContextClassifier,
    TransformerEmbedder,
    TransformerFeatureClassifier,
    embedding_cache,
    load,
)
from sktransformers.adaptation import PromptTuning
from sktransformers.backbones.inference import run_module
from sktransformers.backbones.loading import (
    is_sentence_encoder,
    load_backbone,
    load_tokenizer,
    resolve_pair_encoding,
)
from sktransformers.backbones.modules import pool_windows
from sktransformers.backbones.text import tokenize
from sktransformers.estimators.base import probe_head

from conftest import NEG, POS
from estimators import CLASSIFIERS, REGRESSORS, TRAINABLE, TRAINABLE_REGRESSORS, make, outputs

REG = list(REGRESSORS)
MULTILABEL = [name for name in CLASSIFIERS if name != "incontext"]

# ------------------------------------------------------------------ regression


@pytest.mark.parametrize("name", REG)
def test_regressor_predicts_floats_scores_r2(name, tiny_bert, regression_data):
    X, y = regression_data
    est = make(name, tiny_bert).fit(X, y)
    assert is_regressor(est) and not is_classifier(est)
    pred = est.predict(X)
    assert pred.shape == (len(X),) and pred.dtype.kind == "f"
    assert est.score(X, y) == pytest.approx(r2_score(y, pred))


@pytest.mark.parametrize("name", REG)
def test_regressor_multi_output_and_refit_resets_shape(name, tiny_bert, regression_data):
    X, y = regression_data
    Y = np.c_[y, -2 * np.asarray(y)]
    est = make(name, tiny_bert).fit(X, Y)
    assert est.predict(X).shape == (len(X), 2)
    assert est.score(X, Y) == pytest.approx(r2_score(Y, est.predict(X)))
    est.fit(X, y)
    assert est.predict(X).shape == (len(X),)


@pytest.mark.parametrize("name", TRAINABLE_REGRESSORS)
def test_targets_are_standardised_and_mapped_back(name, tiny_bert, regression_data):
    X, y = regression_data
    est = make(name, tiny_bert).fit(X, 1000 + 50 * np.asarray(y))
    np.testing.assert_allclose(est.task_.mean_, [1000 + 50 * np.mean(y)])
    np.testing.assert_allclose(est.task_.scale_, [50 * np.std(y)])
    # an untrained-scale head still predicts on the target's scale, not around 0
    assert np.all(np.abs(est.predict(X) - est.task_.mean_[0]) < 5 * est.task_.scale_[0])


def test_head_regressor_learns_a_separable_target(tiny_bert, regression_data):
    X, y = regression_data
    est = HeadFinetuneRegressor(tiny_bert, max_epochs=200, lr=3e-2, head_dropout=0.0,
                                random_state=0, verbose=0).fit(X, y)
    assert est.score(X, y) > 0.8


def test_huber_loss_is_used_and_differs_from_squared_error(tiny_bert, regression_data):
    X, y = regression_data
    y = np.asarray(y)
    y[0] = 100.0  # an outlier
    squared = make("head-reg", tiny_bert).fit(X, y)
    huber = make("head-reg", tiny_bert, loss="huber").fit(X, y)
    # an error of 10 standard deviations costs 9.5 under Huber (linear), 100 squared
    error = (torch.tensor([[10.0]]), torch.tensor([[0.0]]))
    assert huber.task_.criterion()(*error).item() == pytest.approx(9.5)
    assert squared.task_.criterion()(*error).item() == pytest.approx(100.0)
    assert huber.history_[0]["train_loss"] < squared.history_[0]["train_loss"]


BAD_TARGETS = [
    ("strings", ["a", "b", "c", "d"], ValueError, "non-numeric"),
    ("NaN", [1.0, np.nan, 2.0, 3.0], ValueError, "missing or infinite"),
    ("None", [1.0, None, 2.0, 3.0], ValueError, "missing or infinite"),
    ("length", [1.0, 2.0], ValueError, "has 4 texts but y has 2"),
    ("y None", None, ValueError, "y is None"),
    ("3-d", np.zeros((4, 1, 1)), ValueError, "1-D or 2-D"),
]


@pytest.mark.parametrize("name", REG)
@pytest.mark.parametrize("label, y, error, message", BAD_TARGETS, ids=[b[0] for b in BAD_TARGETS])
def test_bad_regression_targets(name, label, y, error, message, tiny_bert):
    with pytest.raises(error, match=message):
        make(name, tiny_bert).fit(["good", "bad", "fine", "awful"], y)


@pytest.mark.parametrize("name", ["head-reg", "lora-reg"])
def test_regressor_early_stopping_uses_a_random_split(name, tiny_bert, regression_data):
    est = make(name, tiny_bert, early_stopping=True, validation_fraction=0.25, max_epochs=4)
    est.fit(*regression_data)
    assert all("valid_loss" in row and "valid_accuracy" not in row for row in est.history_)


# ----------------------------------------------------------------- multi-label


@pytest.fixture
def multilabel_data(binary_data):
    X, y = binary_data
    positive = np.asarray(y) == "pos"
    film = np.array(["film" in t for t in X])
    Y = np.c_[positive, ~positive, film].astype(int)  # the third label overlaps the others
    return X, Y


@pytest.mark.parametrize("name", MULTILABEL)
def test_multilabel_indicator_in_indicator_out(name, tiny_bert, multilabel_data):
    X, Y = multilabel_data
    est = make(name, tiny_bert).fit(X, Y)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    proba = est.predict_proba(X)
    assert proba.shape == Y.shape and np.all((proba >= 0) & (proba <= 1))
    pred = est.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    assert est.score(X, Y) == pytest.approx(accuracy_score(Y, pred))  # subset accuracy


@pytest.mark.parametrize("name", TRAINABLE)
def test_multilabel_threshold_applies_at_predict_time(name, tiny_bert, multilabel_data):
    X, Y = multilabel_data
    est = make(name, tiny_bert).fit(X, Y)
    proba = est.predict_proba(X)
    for threshold in (0.2, 0.5, 0.8):
        est.set_params(threshold=threshold)
        np.testing.assert_array_equal(est.predict(X), (proba >= threshold).astype(int))


@pytest.mark.parametrize("name", TRAINABLE)
def test_multilabel_uses_sigmoid_and_binary_cross_entropy(name, tiny_bert, multilabel_data):
    X, Y = multilabel_data
    est = make(name, tiny_bert).fit(X, Y)
    # per-label binary cross-entropy: a logit of 0 costs log 2 whatever the target
    loss = est.task_.criterion()(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(loss.numpy(), np.log(2) * np.ones((1, 3)), rtol=1e-6)
    rows = est.predict_proba(X).sum(axis=1)
    assert not np.allclose(rows, 1.0)  # independent labels, not a softmax


def test_multilabel_learns_overlapping_labels(tiny_bert, multilabel_data):
    X, Y = multilabel_data
    est = make("head", tiny_bert, max_epochs=300, lr=3e-2, head_dropout=0.0).fit(X, Y)
    assert est.score(X, Y) == 1.0


def test_feature_classifier_multilabel_wraps_or_keeps_the_estimator(tiny_bert,
                                                                    multilabel_data):
    X, Y = multilabel_data
    default = make("feature", tiny_bert).fit(X, Y)
    assert type(default.estimator_).__name__ == "OneVsRestClassifier"
    native = make("feature", tiny_bert, estimator=KNeighborsClassifier(3)).fit(X, Y)
    assert isinstance(native.estimator_, KNeighborsClassifier)
    assert native.predict(X).shape == Y.shape


@pytest.mark.parametrize("name", TRAINABLE)
def test_multilabel_early_stopping(name, tiny_bert, multilabel_data):
    est = make(name, tiny_bert, early_stopping=True, validation_fraction=0.25, max_epochs=3)
    assert est.fit(*multilabel_data).predict(multilabel_data[0]).shape == (24, 3)


def test_lists_of_label_lists_get_the_binarizer_hint(tiny_bert):
    with pytest.raises(ValueError, match="MultiLabelBinarizer"):
        make("lora", tiny_bert).fit(["a", "b"], [["x", "y"], ["y"]])
    Y = MultiLabelBinarizer().fit_transform([["x", "y"], ["y"]])
    assert make("lora", tiny_bert).fit(["good", "bad"], Y).predict(["good"]).shape == (1, 2)


def test_in_context_refuses_multilabel(tiny_bert, multilabel_data):
    with pytest.raises(ValueError, match="multi-label y .* not supported"):
        make("incontext", tiny_bert).fit(*multilabel_data)


# ----------------------------------------------------------------------- pairs

PAIR_X = [("good film", "great movie"), ("bad film", "great movie"), ("nice story", "fun actor"),
          ("boring story", "fun actor"), ("best plot", "love this film"),
          ("worst plot", "love this film")] * 4
PAIR_Y = ["same", "different"] * 12


def _pair_containers():
    a, b = zip(*PAIR_X, strict=True)
    return {"dataframe": pd.DataFrame({"premise": a, "hypothesis": b}),
            "array": np.array(PAIR_X, dtype=object), "tuples": list(PAIR_X)}


def test_pairs_are_encoded_as_the_backbone_expects(tiny_bert):
    tokenizer = load_tokenizer(tiny_bert)
    [enc] = tokenize(tokenizer, [("good film", "bad")], max_length=16)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens == ["[CLS]", "good", "film", "[SEP]", "bad", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1]
    [cut] = tokenize(tokenizer, [("good film is fun and nice", "bad")], max_length=7)
    # the longer text loses tokens first; the short one is kept whole
    assert tokenizer.convert_ids_to_tokens(cut["input_ids"])[-3:] == ["[SEP]", "bad", "[SEP]"]
    assert len(cut["input_ids"]) == 7


@pytest.mark.parametrize("name", [*CLASSIFIERS, *REG])
def test_pair_input_forms_agree_and_order_matters(name, tiny_bert, tiny_llama):
    y = np.linspace(0, 1, len(PAIR_X)) if name in REGRESSORS else PAIR_Y
    extra = {}
    if name == "incontext":  # label words the tiny Llama's vocabulary has
        extra = {"template": "a : {text_a} \n b : {text_b} \n label : {label}"}
        y = ["positive", "negative"] * 12
    est = make(name, tiny_bert, **extra).fit(_pair_containers()["dataframe"], y)
    expected = outputs(est, PAIR_X)
    for kind, X in _pair_containers().items():
        np.testing.assert_allclose(outputs(est, X), expected, rtol=1e-5, err_msg=kind)
    swapped = [(b, a) for a, b in PAIR_X]
    assert not np.allclose(outputs(est, swapped), expected)
    with pytest.raises(ValueError, match="fitted on text pairs"):
        est.predict(["good film"])


def test_pair_trains_on_a_llama_backbone(tiny_llama):
    est = make("lora", tiny_llama).fit(PAIR_X, PAIR_Y)
    assert est.predict(PAIR_X).shape == (len(PAIR_X),)


def test_bi_pair_features_are_the_standard_four(tiny_bert):
    clf = TransformerFeatureClassifier(model=tiny_bert, pair_encoding="bi").fit(PAIR_X, PAIR_Y)
    assert clf.embedder_.n_features_out_ == 4 * 32
    Z = clf.embedder_.transform(PAIR_X[:2])
    emb = TransformerEmbedder(tiny_bert, normalize=True).fit()
    u = emb.transform([a for a, _ in PAIR_X[:2]])
    v = emb.transform([b for _, b in PAIR_X[:2]])
    np.testing.assert_allclose(Z, np.hstack([u, v, np.abs(u - v), u * v]), rtol=1e-5)


@pytest.mark.parametrize("name", TRAINABLE + TRAINABLE_REGRESSORS)
def test_siamese_pair_encoding(name, tiny_bert):
    y = np.linspace(0, 1, len(PAIR_X)) if name in REGRESSORS else PAIR_Y
    est = make(name, tiny_bert, pair_encoding="bi").fit(PAIR_X, y)
    head = est.module_.head
    assert head[-1].in_features == 4 * 32  # [u, v, |u - v|, u * v]
    swapped = [(b, a) for a, b in PAIR_X]
    assert not np.allclose(outputs(est, swapped), outputs(est, PAIR_X))
    if not name.startswith("head"):  # each text runs through the adapted encoder alone
        encoder = est.module_.encoder.eval()
        tokenizer = load_tokenizer(tiny_bert)
        [item] = tokenize(tokenizer, PAIR_X[:1], 16, pair_encoding="bi")
        u, v = (encoder(**{k: torch.tensor([w[k]]) for k in ("input_ids", "attention_mask")})
                for w in item["windows"])
        with torch.no_grad():
            expected = est.module_.head(torch.cat([u, v, (u - v).abs(), u * v], dim=1))
        np.testing.assert_allclose(est._raw(PAIR_X[:1], "cpu", None), expected.numpy(),
                                   atol=1e-5)


@pytest.fixture(scope="module")
def tiny_sentence_encoder(tiny_bert, tmp_path_factory):
    """The tiny BERT as a sentence-transformers folder (with its ``modules.json``)."""
    folder = tmp_path_factory.mktemp("tiny-sentence-encoder") / "model"
    shutil.copytree(tiny_bert, folder)
    (folder / "modules.json").write_text("[]")
    return str(folder)


def test_auto_pair_encoding_is_siamese_on_sentence_encoders_only(tiny_bert,
                                                                   tiny_sentence_encoder):
    assert is_sentence_encoder(tiny_sentence_encoder) and not is_sentence_encoder(tiny_bert)
    assert not is_sentence_encoder("no-such-owner/no-such-model")  # never goes online
    assert resolve_pair_encoding("auto", tiny_sentence_encoder) == "bi"
    assert resolve_pair_encoding("auto", tiny_bert) == "cross"
    assert resolve_pair_encoding("cross", tiny_sentence_encoder) == "cross"
    est = make("lora", tiny_sentence_encoder).fit(PAIR_X, PAIR_Y)
    assert (est.pair_encoding, est.pair_encoding_) == ("auto", "bi")
    assert est.module_.head[-1].in_features == 4 * 32
    assert make("lora", tiny_bert).fit(PAIR_X, PAIR_Y).pair_encoding_ == "cross"
    for model, width in ((tiny_sentence_encoder, 4 * 32), (tiny_bert, 32)):  # frozen ones too
        frozen = TransformerFeatureClassifier(model=model, pair_encoding="auto")
        assert frozen.fit(PAIR_X, PAIR_Y).embedder_.n_features_out_ == width
    single = make("lora", tiny_sentence_encoder).fit(POS + NEG, ["p"] * 6 + ["n"] * 6)
    assert single.pair_encoding_ == "bi" and single.module_.head[-1].in_features == 32


def _probe_on_trained_encoder(est, X, y):
    """The head the probe fits on ``est``'s trained encoder's pair vectors."""
    encodings = tokenize(est.tokenizer_, X, est.max_length_, None, "bi")
    features = run_module(est.module_.encoder, est.tokenizer_, encodings, batch_size=8,
                          device="cpu", dtype=None)
    targets = (np.searchsorted(est.classes_, y) if hasattr(est, "classes_") else
               ((np.asarray(y) - est.task_.mean_) / est.task_.scale_).reshape(-1, 1))
    return probe_head(est.task_, features, targets, np.ones(len(X)), None)


@pytest.mark.parametrize("name", ["full", "lora-reg"])
def test_siamese_training_ends_with_the_probe_on_the_trained_encoder(name,
                                                                      tiny_sentence_encoder):
    y = np.linspace(0, 1, len(PAIR_X)) if name in REGRESSORS else PAIR_Y
    est = make(name, tiny_sentence_encoder).fit(PAIR_X, y)
    expected = _probe_on_trained_encoder(est, PAIR_X, y)
    layer = est.module_.head[-1]
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected["weight"], atol=2e-4)
    np.testing.assert_allclose(layer.bias.detach().numpy(), expected["bias"], atol=2e-4)
    random = make(name, tiny_sentence_encoder, head_init="random").fit(PAIR_X, y)
    expected = _probe_on_trained_encoder(random, PAIR_X, y)
    assert not np.allclose(random.module_.head[-1].weight.detach().numpy(),
                           expected["weight"], atol=1e-2)


def test_siamese_soft_prompts_start_from_vocabulary_tokens_at_pefts_positions(
        tiny_sentence_encoder):
    siamese = PromptTuning(4).for_siamese_pairs()
    assert siamese.sample_vocab and not siamese.keep_text_positions
    assert not PromptTuning(4, init_text="similar").for_siamese_pairs().sample_vocab
    torch.manual_seed(0)
    backbone = load_backbone(tiny_sentence_encoder)
    vocabulary = backbone.get_input_embeddings().weight.detach().clone()
    prepared = PromptTuning(4).for_siamese_pairs().prepare(backbone, tiny_sentence_encoder)
    prompts = prepared.prompt_encoder["default"].embedding.weight.detach()
    assert (prompts[:, None] == vocabulary[None]).all(dim=2).any(dim=1).all()  # each a token's
    pairs = make("prompt", tiny_sentence_encoder).fit(PAIR_X, PAIR_Y).adaptation_
    single = make("prompt", tiny_sentence_encoder).fit(POS + NEG, ["p"] * 6 + ["n"] * 6)
    assert pairs.sample_vocab and not pairs.keep_text_positions
    assert not single.adaptation_.sample_vocab and single.adaptation_.keep_text_positions


def test_auto_siamese_model_saves_loads_and_refuses_onnx(tiny_sentence_encoder, tmp_path):
    est = make("prompt", tiny_sentence_encoder).fit(PAIR_X, PAIR_Y)
    loaded = load(est.save(tmp_path / "model"))
    assert loaded.pair_encoding_ == "bi" and loaded.adaptation_.sample_vocab
    np.testing.assert_allclose(outputs(loaded, PAIR_X), outputs(est, PAIR_X), atol=1e-5)
    with pytest.raises(ValueError, match="not exportable.*pair_encoding='cross'"):
        est.export_onnx(tmp_path / "onnx")


def test_pool_windows_pair_features():
    u, v = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 1.0]])
    out = pool_windows(torch.cat([u, v]), torch.tensor([0, 0]), 1, "pair")
    np.testing.assert_allclose(out, [[1.0, -2.0, 3.0, 1.0, 2.0, 3.0, 3.0, -2.0]])


def test_head_pair_encodings(tiny_bert):
    bi = make("head", tiny_bert).fit(PAIR_X, PAIR_Y)
    cross = make("head", tiny_bert, pair_encoding="cross").fit(PAIR_X, PAIR_Y)
    assert bi.module_.head[-1].in_features == 4 * 32
    assert cross.module_.head[-1].in_features == 32
    assert bi.predict(PAIR_X).shape == cross.predict(PAIR_X).shape == (len(PAIR_X),)
    rates = lambda est: [m.p for m in est.module_.modules()  # noqa: E731
                         if isinstance(m, torch.nn.Dropout)]
    assert rates(bi) == [0.5] and rates(cross) == [0.1]  # head_dropout=None: by input width
    assert rates(make("head", tiny_bert, head_dropout=0.2).fit(PAIR_X, PAIR_Y)) == [0.2]


def test_in_context_pair_template_is_checked(tiny_bert):
    with pytest.raises(ValueError, match=r"\{text_a\}, \{text_b\}"):
        make("incontext", tiny_bert).fit(PAIR_X, PAIR_Y)  # the default template has {text}


def test_single_text_model_refuses_pairs(tiny_bert, binary_data):
    est = make("head", tiny_bert).fit(*binary_data)
    with pytest.raises(ValueError, match="fitted on single texts"):
        est.predict(PAIR_X)


# ----------------------------------------------------------------- long texts

LONG = "good film and a great movie with a fun actor " * 6 + "but the plot was awful and bad"


def test_windows_overlap_by_stride_and_fit_max_length(tiny_bert):
    tokenizer = load_tokenizer(tiny_bert)
    [doc] = tokenize(tokenizer, [LONG], max_length=16, stride=4)
    windows = [w["input_ids"] for w in doc["windows"]]
    n_tokens = len(tokenizer(LONG, add_special_tokens=False)["input_ids"])
    assert len(windows) == int(np.ceil((n_tokens - 4) / (14 - 4)))
    assert all(len(w) <= 16 for w in windows)
    for first, second in zip(windows, windows[1:], strict=False):
        assert first[1:-1][-4:] == second[1:5]  # the last 4 text tokens start the next
    [short] = tokenize(tokenizer, ["good film"], max_length=16, stride=4)
    assert len(short["windows"]) == 1


def test_bad_stride_and_chunked_pairs_are_clear(tiny_bert, binary_data):
    with pytest.raises(ValueError, match="stride=20 must be"):
        make("full", tiny_bert, long_text="chunk", stride=20).fit(*binary_data)
    with pytest.raises(ValueError, match="long_text='truncate' for pairs"):
        make("full", tiny_bert, long_text="chunk").fit(PAIR_X, PAIR_Y)


def test_pool_windows():
    vectors = torch.tensor([[1.0, 4.0], [3.0, 0.0], [5.0, 5.0], [2.0, 2.0]])
    owner = torch.tensor([0, 0, 1, 2])
    mean = pool_windows(vectors, owner, 3, "mean")
    np.testing.assert_allclose(mean, [[2.0, 2.0], [5.0, 5.0], [2.0, 2.0]])
    np.testing.assert_allclose(pool_windows(vectors, owner, 3, "max"),
                               [[3.0, 4.0], [5.0, 5.0], [2.0, 2.0]])
    np.testing.assert_allclose(pool_windows(vectors, owner, 3, "first"),
                               [[1.0, 4.0], [5.0, 5.0], [2.0, 2.0]])


@pytest.fixture
def long_data():
    texts = [LONG, LONG.replace("awful and bad", "great and fun"),
             "good " * 40 + "film", "bad " * 40 + "film"] * 3
    return texts, ["neg", "pos", "pos", "neg"] * 3


def test_chunked_embeddings(tiny_bert, long_data):
    X, _ = long_data
    embedding_cache.clear()
    base = {"max_length": 16, "long_text": "chunk", "stride": 4}
    first = TransformerEmbedder(tiny_bert, chunk_pooling="first", **base).fit_transform(X)
    truncated = TransformerEmbedder(tiny_bert, max_length=16).fit_transform(X)
    np.testing.assert_allclose(first, truncated, atol=1e-5)
    misses = embedding_cache.misses
    mean = TransformerEmbedder(tiny_bert, chunk_pooling="mean", **base).fit_transform(X)
    maxed = TransformerEmbedder(tiny_bert, chunk_pooling="max", **base).fit_transform(X)
    assert embedding_cache.misses == misses  # windows are cached: pooling changes encode nothing
    assert not np.allclose(mean, truncated) and not np.allclose(mean, maxed)


@pytest.mark.parametrize("name", [*TRAINABLE, *TRAINABLE_REGRESSORS, "feature"])
def test_chunked_training_and_prediction(name, tiny_bert, long_data):
    X, y = long_data
    if name in REGRESSORS:
        y = [float(label == "pos") for label in y]
    chunked = make(name, tiny_bert, long_text="chunk", stride=4).fit(X, y)
    truncated = make(name, tiny_bert).fit(X, y)
    assert chunked.predict(X).shape == (len(X),)
    # windows beyond the first reach the model: the outputs differ from truncation
    assert not np.allclose(outputs(chunked, X), outputs(truncated, X))


def test_grid_search_over_long_text_settings(tiny_bert, long_data):
    grid = GridSearchCV(make("head", tiny_bert, max_length=16),
                        {"long_text": ["truncate", "chunk"], "stride": [2, 6],
                         "chunk_pooling": ["mean", "max"]}, cv=2).fit(*long_data)
    assert len(grid.cv_results_["params"]) == 8
    assert grid.best_params_["long_text"] in ("truncate", "chunk")


def test_in_context_accepts_a_path_model(tiny_bert, binary_data):
    from pathlib import Path

    from estimators import TINY_LM

    clf = InContextClassifier(Path(TINY_LM["path"]), template="review : {text} \n "
                              "sentiment : {label}").fit(*binary_data)
    assert clf.predict(binary_data[0]).shape == (24,)
