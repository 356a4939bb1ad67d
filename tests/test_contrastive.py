"""ContrastiveClassifier: the in-batch cosine loss, the contrastive phase, the probe head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from sktransformers import ContrastiveClassifier, load
from sktransformers.core.contrastive import InBatchCosineLoss, InBatchRankingLoss

TINY = {"max_epochs": 4, "batch_size": 8, "verbose": 0, "random_state": 0, "max_length": 16,
        "lr": 1e-3}


def reference_loss(vectors, alike):
    """The loss written plainly: per text, mean (cos - 1)² over positives and mean
    cos² over negatives, the two halves averaged (a missing half left out)."""
    losses = []
    for i in range(len(vectors)):
        pos, neg = [], []
        for j in range(len(vectors)):
            if i == j:
                continue
            cos = float(vectors[i] @ vectors[j] / np.linalg.norm(vectors[i])
                        / np.linalg.norm(vectors[j]))
            (pos if alike(i, j) else neg).append((cos - 1) ** 2 if alike(i, j) else cos ** 2)
        halves = [np.mean(h) for h in (pos, neg) if h]
        losses.append(np.mean(halves))
    return np.array(losses)


def test_loss_equals_a_plain_computation_for_classes():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 5))
    labels = np.array([0, 0, 1, 2, 1, 0, 3])  # class 3 has no positive in the batch
    got = InBatchCosineLoss()(torch.tensor(vectors), torch.tensor(labels)).numpy()
    expected = reference_loss(vectors, lambda i, j: labels[i] == labels[j])
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_loss_counts_texts_sharing_a_label_as_alike_for_multilabel():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(5, 4))
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    got = InBatchCosineLoss(multilabel=True)(torch.tensor(vectors), torch.tensor(labels))
    expected = reference_loss(vectors, lambda i, j: bool(labels[i] @ labels[j]))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_loss_is_zero_when_classes_are_orthogonal_and_tight():
    vectors = torch.tensor([[1.0, 0], [2.0, 0], [0, 1.0], [0, 3.0]])
    loss = InBatchCosineLoss()(vectors, torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(loss, torch.zeros(4), atol=1e-7)


def _set_loss(clf, X, y):
    """The contrastive loss of the whole training set as one batch, on the fitted encoder."""
    labels = torch.tensor(np.unique(y, return_inverse=True)[1])
    return float(InBatchCosineLoss()(torch.tensor(clf.embed(X)), labels).mean())


#: (lr, epochs) that move the tiny random BERT (measured: the set's loss falls from
#: 0.42 to 0.23 / 0.02 / 0.28 / 0.01)
SETTINGS = {"full": (1e-3, 6), "lora": (3e-2, 12), "adapter": (3e-2, 12), "prefix": (3e-2, 8)}


@pytest.mark.parametrize("adaptation", sorted(SETTINGS))
def test_contrastive_phase_lowers_the_loss_of_the_training_set(tiny_bert, binary_data,
                                                               adaptation):
    X, y = binary_data
    lr, epochs = SETTINGS[adaptation]
    clf = ContrastiveClassifier(tiny_bert, adaptation=adaptation,
                                **{**TINY, "max_epochs": epochs, "lr": lr}).fit(X, y)
    untrained = ContrastiveClassifier(tiny_bert, adaptation=adaptation,
                                      **{**TINY, "max_epochs": 1, "lr": 1e-12}).fit(X, y)
    assert _set_loss(clf, X, y) < 0.75 * _set_loss(untrained, X, y)
    assert len(clf.history_) == epochs


def test_soft_prompts_train_only_the_prompt_and_the_head(tiny_bert, binary_data):
    X, y = binary_data
    clf = ContrastiveClassifier(tiny_bert, adaptation="prompt", **TINY).fit(X, y)
    assert sorted({name.split(".")[0] for name in clf.trained_state_}) == ["encoder", "head"]
    assert all("prompt" in name for name in clf.trained_state_ if name.startswith("encoder"))
    assert clf.predict(X).shape == (24,)


def test_head_is_a_balanced_logistic_regression_on_the_tuned_vectors(tiny_bert, binary_data):
    X, y = binary_data
    clf = ContrastiveClassifier(tiny_bert, **TINY).fit(X, y)
    features = clf.embed(X)
    probe = LogisticRegression(max_iter=1000, class_weight="balanced").fit(features, y)
    np.testing.assert_allclose(clf.predict_proba(X), probe.predict_proba(features), atol=1e-4)
    assert list(clf.classes_) == ["neg", "pos"]


def test_multilabel_y_trains_and_predicts_indicator_rows(tiny_bert, binary_data):
    X, _ = binary_data
    Y = np.array([[1, 0], [1, 1], [0, 1]] * 8)
    clf = ContrastiveClassifier(tiny_bert, **TINY).fit(X, Y)
    assert clf.predict(X).shape == (24, 2)
    assert set(np.unique(clf.predict(X))) <= {0, 1}


def test_refuses_what_it_cannot_tune_with_a_clear_message(tiny_bert, binary_data):
    X, y = binary_data
    with pytest.raises(ValueError, match="trains nothing in the encoder"):
        ContrastiveClassifier(tiny_bert, adaptation="head", **TINY).fit(X, y)
    pairs = [[a, b] for a, b in zip(X, X[::-1], strict=True)]
    fitted = ContrastiveClassifier(tiny_bert, **{**TINY, "max_epochs": 1}).fit(X, y)
    proba = fitted.predict_proba(X)
    with pytest.raises(ValueError, match="two classes, the greater one"):
        fitted.fit(np.array(pairs), np.arange(24) % 3)  # ranking needs relevant / not
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)  # the old fit is kept


def test_save_and_load_keep_the_tuned_encoder_and_head(tiny_bert, binary_data, tmp_path):
    X, y = binary_data
    clf = ContrastiveClassifier(tiny_bert, adaptation="lora", **{**TINY, "lr": 1e-2}).fit(X, y)
    clf.save(tmp_path / "clf")
    again = load(tmp_path / "clf")
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    assert again.n_trainable_params_ == clf.n_trainable_params_


def test_early_stopping_watches_the_held_out_contrastive_loss(tiny_bert, binary_data):
    X, y = binary_data
    frozen = {**TINY, "lr": 1e-12, "max_epochs": 10}  # nothing moves: no epoch improves
    clf = ContrastiveClassifier(tiny_bert, early_stopping=True, validation_fraction=0.25,
                                n_iter_no_change=2, **frozen).fit(X, y)
    assert len(clf.history_) == 3 and all("valid_loss" in h for h in clf.history_)


def test_a_killed_contrastive_fit_resumes_from_its_checkpoint(tiny_bert, binary_data,
                                                              monkeypatch, tmp_path):
    from sktransformers.core import training as _training

    X, y = binary_data
    settings = {**TINY, "max_epochs": 3}
    full = ContrastiveClassifier(tiny_bert, **settings).fit(X, y)
    calls = {"n": 0}
    original = _training._Net.train_step

    def train_step(self, batch, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # during epoch 3 (3 steps an epoch)
            raise KeyboardInterrupt
        return original(self, batch, **kwargs)

    monkeypatch.setattr(_training._Net, "train_step", train_step)
    clf = ContrastiveClassifier(tiny_bert, checkpoint_dir=str(tmp_path), **settings)
    with pytest.warns(_training.InterruptedFitWarning):
        clf.fit(X, y)
    calls["n"] = -100
    clf.fit(X, y)
    assert calls["n"] == -100 + 3  # only the third epoch ran again
    assert [h["train_loss"] for h in clf.history_[:2]] == [h["train_loss"] for h in
                                                           full.history_[:2]]


def test_onnx_export_predicts_what_the_estimator_predicts(tiny_bert, binary_data, tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra")
    from sktransformers import predict_with_onnx_runtime

    X, y = binary_data
    clf = ContrastiveClassifier(tiny_bert, adaptation="lora", **{**TINY, "lr": 1e-2}).fit(X, y)
    folder = clf.export_onnx(tmp_path / "onnx")
    np.testing.assert_allclose(predict_with_onnx_runtime(folder, X[:5]),
                               clf.predict_proba(X[:5]), atol=1e-4)


def test_ranking_loss_equals_a_plain_softmax_over_the_batch_documents():
    rng = np.random.default_rng(2)
    query, document = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    features = np.hstack([query, document, np.abs(query - document), query * document])
    labels = np.array([1, 0, 1, 1, 0, 0])
    got = InBatchRankingLoss(scale=5.0)(torch.tensor(features), torch.tensor(labels)).numpy()
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    logits = 5.0 * unit(query) @ unit(document).T
    plain = [np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(logits)]
    relevant = labels == 1
    assert got.mean() == pytest.approx(np.mean(np.array(plain)[relevant]), rel=1e-5)
    assert not got[~relevant].any()  # pairs labelled 0 only lend their documents


QUESTIONS = ["who plays the lead", "where is the city", "what is the plot", "is it boring",
             "who is the person", "was the actor good", "how long is the film", "is it sad"]
ANSWERS = ["the lead is a great actor", "the city is by the sea", "the plot follows a thief",
           "it is dull and slow", "the person is a teacher", "the actor was wonderful",
           "two hours and ten minutes", "it ends in tears"]


def _mrr(clf):
    """MRR of each question's own answer among all answers, by cosine of the embeddings."""
    q, d = clf.embed(QUESTIONS), clf.embed(ANSWERS)
    scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ d.T
    ranks = (scores > np.diag(scores)[:, None]).sum(1) + 1
    return float(np.mean(1 / ranks))


def test_text_pairs_train_a_bi_encoder_that_ranks_each_query_s_document_first(tiny_bert):
    pairs = [[q, a] for q, a in zip(QUESTIONS, ANSWERS, strict=True)]
    pairs += [[q, a] for q, a in zip(QUESTIONS, ANSWERS[1:] + ANSWERS[:1], strict=True)]
    labels = [1] * 8 + [0] * 8  # each question with its answer, and with another's
    settings = {**TINY, "max_epochs": 15, "batch_size": 16}
    clf = ContrastiveClassifier(tiny_bert, **settings).fit(np.array(pairs), labels)
    untrained = ContrastiveClassifier(tiny_bert, **{**settings, "max_epochs": 1, "lr": 1e-12})
    assert clf.pairs_ and clf.pair_encoding_ == "bi"
    before, after = _mrr(untrained.fit(np.array(pairs), labels)), _mrr(clf)
    assert before < 0.7 and after == 1.0  # measured: 0.65 (shared words) and 1.0
    assert clf.predict_proba(np.array(pairs)).shape == (16, 2)
