"""Hard inputs (property-based), interrupted and resumed fits, leaks, caches and threads."""

from __future__ import annotations

import gc
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sktransformers
from sktransformers import LoRAClassifier, TransformerEmbedder
from sktransformers.core.validation import check_labels, check_texts

from estimators import make

SPECIAL = ["", "   \t\n", "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",  # RTL
           "e\u0301\u0301a\u0308", "👍🏽" * 40, "\x00\x07\x1b[31m", "good film " * 400,
           "\U0001f600\U00020000\U000e0001", "\ufeff\u200b\u200d"]
#: Texts from every Unicode plane (surrogates excluded: they cannot be encoded).
TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
                 st.sampled_from(SPECIAL))
FUZZ = settings(max_examples=30, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fitted(tiny_bert):
    X = ["good film", "great movie", "bad film", "awful movie"] * 3
    return make("lora", tiny_bert).fit(X, ["p", "p", "n", "n"] * 3)


@FUZZ
@given(texts=st.lists(TEXT, min_size=1, max_size=5))
def test_any_text_gets_a_valid_prediction(fitted, texts):
    original = list(texts)
    proba = fitted.predict_proba(texts + texts)
    assert texts == original
    assert proba.shape == (2 * len(texts), 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(proba[:len(texts)], proba[len(texts):], rtol=1e-5, atol=1e-6)


@FUZZ
@given(texts=st.lists(TEXT, min_size=4, max_size=8, unique=True))
def test_any_texts_can_be_fitted(tiny_bert, texts):
    y = ["a", "b"] * (len(texts) // 2) + ["a"] * (len(texts) % 2)
    clf = make("head", tiny_bert, max_epochs=1).fit(texts, y)
    assert set(clf.predict(texts)) <= {"a", "b"}


ITEM = st.one_of(TEXT, st.binary(max_size=4), st.none(), st.just(float("nan")), st.integers(),
                 st.floats(allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(items=st.lists(ITEM, min_size=1, max_size=6))
def test_object_arrays_of_mixed_types_are_refused_clearly(items):
    X = np.empty(len(items), dtype=object)
    X[:] = items
    before = list(X)
    if all(isinstance(i, str) for i in items):
        assert check_texts(X) == items
    else:
        with pytest.raises((TypeError, ValueError), match=r"X\[\d+\]"):
            check_texts(X)
    assert all(a is b for a, b in zip(X, before, strict=True))  # untouched


LABEL = st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b"]), st.booleans(),
                  st.floats(-2, 2, allow_nan=False, width=16))


@settings(max_examples=200, deadline=None)
@given(labels=st.lists(LABEL, min_size=2, max_size=8))
def test_labels_are_kept_exactly_or_refused(labels):
    before = list(labels)
    strings = {isinstance(v, str) for v in labels}
    if len(strings) > 1:
        with pytest.raises(TypeError, match="mixes strings"):
            check_labels(labels, len(labels))
    else:
        try:
            y = check_labels(labels, len(labels))
        except ValueError as exc:  # continuous values or a single class
            assert "single class" in str(exc) or "discrete class" in str(exc)
        else:
            assert y.tolist() == np.asarray(labels).tolist()
    assert labels == before


def test_unseen_classes_at_score_time_count_as_errors(fitted):
    X = ["good film", "bad film"]
    assert fitted.score(X, ["unseen", "other"]) == 0.0


def test_cls_pooling_on_a_decoder_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="pooling='cls'"):
        LoRAClassifier(tiny_llama, pooling="cls", max_epochs=1, verbose=0).fit(
            ["good", "bad"], ["p", "n"])
    with pytest.raises(ValueError, match="pooling='cls'"):
        TransformerEmbedder(tiny_llama, pooling="cls").fit()


def test_in_context_set_params_after_fit_takes_effect_at_the_next_fit(tiny_bert, binary_data):
    words = {"pos": "positive", "neg": "negative"}  # in the tiny LM's vocabulary
    clf = make("incontext", tiny_bert, calibrate=False, label_words=words).fit(*binary_data)
    before = clf.predict_proba(binary_data[0])
    clf.set_params(calibrate="prior", template="opinion : {text} \n answer : {label}")
    np.testing.assert_array_equal(clf.predict_proba(binary_data[0]), before)
    clf.fit(*binary_data)
    assert clf.settings_["calibrate"] == "prior" and hasattr(clf, "prior_")
    assert not np.allclose(clf.predict_proba(binary_data[0]), before)


# --------------------------------------------------------- interrupted work
def _interrupt_at(monkeypatch, step):
    """Make the training step number ``step`` (1-based) raise KeyboardInterrupt (Ctrl-C)."""
    from sktransformers.core import training as _training

    calls = {"n": 0}
    original = _training._ClassifierNet.train_step

    def train_step(self, batch, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return original(self, batch, **kwargs)

    monkeypatch.setattr(_training._ClassifierNet, "train_step", train_step)
    return calls


def test_interrupted_fit_warns_and_keeps_the_finished_epochs(tiny_bert, binary_data,
                                                            monkeypatch):
    from sktransformers.core.training import InterruptedFitWarning

    _interrupt_at(monkeypatch, step=5)  # 24 texts, batches of 8: epoch 2's second step
    clf = make("lora", tiny_bert, max_epochs=3)
    with pytest.warns(InterruptedFitWarning, match="after 1 of 3 epochs"):
        clf.fit(*binary_data)
    assert len(clf.history_) == 1 and clf.predict(binary_data[0]).shape == (24,)


def test_fit_interrupted_in_its_first_epoch_leaves_no_model(tiny_bert, binary_data,
                                                           monkeypatch):
    from sklearn.exceptions import NotFittedError

    clf = make("lora", tiny_bert).fit(*binary_data)
    _interrupt_at(monkeypatch, step=2)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(*binary_data)
    with pytest.raises(NotFittedError):
        clf.predict(binary_data[0])


def test_a_killed_fit_resumes_from_its_checkpoint(tiny_bert, binary_data, monkeypatch,
                                                  tmp_path):
    from sktransformers.core import training as _training

    full = make("lora", tiny_bert, max_epochs=3).fit(*binary_data)
    calls = _interrupt_at(monkeypatch, step=7)  # killed during epoch 3
    clf = make("lora", tiny_bert, max_epochs=3, checkpoint_dir=str(tmp_path))
    with pytest.warns(_training.InterruptedFitWarning):
        clf.fit(*binary_data)
    assert (tmp_path / "progress.json").is_file()
    calls["n"] = -100  # no more interruptions; count the steps of the resumed fit
    clf.fit(*binary_data)
    assert calls["n"] == -100 + 3  # one epoch of 3 steps ran, not three epochs
    assert [h["epoch"] for h in clf.history_] == [1, 2, 3]
    assert [h["train_loss"] for h in clf.history_[:2]] == [h["train_loss"] for h in
                                                           full.history_[:2]]
    assert not (tmp_path / "progress.json").exists()  # removed once the fit completed


def test_a_checkpoint_of_another_run_is_not_resumed(tiny_bert, binary_data, monkeypatch,
                                                    tmp_path):
    from sktransformers.core import training as _training

    _interrupt_at(monkeypatch, step=4)
    with pytest.warns(_training.InterruptedFitWarning):
        make("lora", tiny_bert, checkpoint_dir=str(tmp_path)).fit(*binary_data)
    monkeypatch.undo()
    other = make("lora", tiny_bert, checkpoint_dir=str(tmp_path), lr=5e-3).fit(*binary_data)
    assert len(other.history_) == 2 and other.history_[0]["epoch"] == 1


def test_early_stopping_snapshots_only_trainable_parameters(tiny_bert, binary_data,
                                                           monkeypatch):
    from sktransformers.core import callbacks as _callbacks

    seen = []
    original = _callbacks.BestTrainableEarlyStopping.on_train_end

    def on_train_end(self, net, **kwargs):
        seen.append(sum(t.numel() for t in self.best_model_weights_.values()))
        return original(self, net, **kwargs)

    monkeypatch.setattr(_callbacks.BestTrainableEarlyStopping, "on_train_end", on_train_end)
    clf = make("lora", tiny_bert, early_stopping=True, validation_fraction=0.25,
               max_epochs=4).fit(*binary_data)
    assert seen == [clf.n_trainable_params_] and clf.n_trainable_params_ < clf.n_total_params_ / 5


# --------------------------------------------------------- memory and caches
def test_cpu_training_returns_freed_memory_after_every_training_batch(tiny_bert, binary_data,
                                                                       monkeypatch):
    """malloc_trim runs once per training batch (not per validation batch) on a CPU."""
    from sktransformers.core import callbacks as _callbacks

    calls = []
    monkeypatch.setattr(_callbacks, "_malloc_trim", lambda: calls.append)
    X, y = binary_data
    clf = make("lora", tiny_bert, max_epochs=2, batch_size=4, early_stopping=True,
               validation_fraction=0.25, device="cpu").fit(X, y)
    n_train = len(X) - round(0.25 * len(X))
    assert len(clf.history_) == 2
    assert calls == [0] * (2 * -(-n_train // 4)), (len(calls), n_train)


def test_release_of_freed_memory_is_skipped_without_glibc(monkeypatch):
    from sktransformers.core import callbacks as _callbacks

    monkeypatch.setattr(_callbacks, "_malloc_trim", lambda: None)
    _callbacks.ReleaseFreedMemory().on_batch_end(None, training=True)  # no error


def _live_tensor_bytes() -> int:
    import torch

    gc.collect()
    storages = {}
    with warnings.catch_warnings():  # isinstance on deprecated torch aliases warns
        warnings.simplefilter("ignore", FutureWarning)
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    for tensor in tensors:
        if tensor.is_meta or tensor.is_quantized:  # int8 copies hold packed weights
            continue
        try:
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        except RuntimeError:  # a fake tensor left by tracing (ONNX export) holds no memory
            continue
    return sum(storages.values())


def test_refits_release_the_previous_model(tiny_bert, binary_data):
    """Live tensor memory after 8 refits equals that after 2: nothing accumulates."""
    clf = make("lora", tiny_bert, max_epochs=1)
    sizes = []
    for _ in range(8):
        clf.fit(*binary_data)
        sizes.append(_live_tensor_bytes())
    assert sizes[-1] <= sizes[1] * 1.01, sizes


def test_rss_stays_flat_over_repeated_fits(tmp_path, binary_data):
    """RSS after 15 fits of a 12 MB model grows < 30 MB over RSS after 5 (a leak: 120 MB)."""
    import psutil
    from transformers import BertConfig, BertModel

    from tiny_models import make_tiny_bert

    folder = make_tiny_bert(tmp_path / "small")
    config = BertConfig.from_pretrained(folder)
    config.update({"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
                   "intermediate_size": 1024})
    BertModel(config).save_pretrained(folder)
    process = psutil.Process()
    clf = LoRAClassifier(folder, max_epochs=1, batch_size=8, max_length=16, verbose=0,
                         random_state=0)
    rss = []
    for _ in range(15):
        clf.fit(*binary_data)
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    assert rss[-1] - rss[4] < 30, [round(r) for r in rss]


def test_clear_cache_frees_shared_models_and_estimators_still_work(tiny_bert, binary_data):
    from sktransformers.backbones.loading import models

    clf = make("feature", tiny_bert).fit(*binary_data)
    expected = clf.predict_proba(binary_data[0])
    freed = sktransformers.clear_cache()
    assert freed["models"] >= 2 and freed["embeddings"] > 0
    assert models.clear() == 0 and len(sktransformers.embedding_cache) == 0
    np.testing.assert_array_equal(clf.predict_proba(binary_data[0]), expected)


def test_cache_key_follows_the_weights_not_the_path(tiny_bert, tmp_path, monkeypatch):
    """A different model in the same folder, or behind the same relative path, is re-encoded."""
    import torch
    from transformers import BertModel

    texts = ["good film", "bad plot"]
    for place in ("a", "b"):
        shutil.copytree(tiny_bert, tmp_path / place / "model")
    model = BertModel.from_pretrained(tmp_path / "b" / "model")
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.mul_(-1)
    model.save_pretrained(tmp_path / "b" / "model")
    monkeypatch.chdir(tmp_path / "a")
    first = TransformerEmbedder("model", max_length=16).fit_transform(texts)
    monkeypatch.chdir(tmp_path / "b")
    second = TransformerEmbedder("model", max_length=16).fit_transform(texts)
    assert not np.allclose(first, second)
    shutil.rmtree(tmp_path / "a" / "model")
    shutil.copytree(tmp_path / "b" / "model", tmp_path / "a" / "model")  # re-saved in place
    monkeypatch.chdir(tmp_path / "a")
    np.testing.assert_allclose(TransformerEmbedder("model", max_length=16).fit_transform(texts),
                               second, rtol=1e-6)


def test_threads_give_the_same_vectors_as_serial_calls(tiny_bert):
    """Concurrent predict calls (joblib's threading backend) on shared models and tokenizers."""
    texts = [f"good film number {i} " * (1 + i % 5) for i in range(40)]
    embedders = [TransformerEmbedder(tiny_bert, max_length=m, cache=False).fit()
                 for m in (8, 24)]
    serial = [e.transform(texts) for e in embedders]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: (i % 2, embedders[i % 2].transform(texts)),
                                range(32)))
    for which, vectors in results:
        np.testing.assert_array_equal(vectors, serial[which])
    from sktransformers.backbones.loading import load_frozen_backbone

    assert not load_frozen_backbone(tiny_bert).training


def test_compare_leaves_the_users_cache_and_backend_alone(tiny_bert, binary_data, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    from sktransformers.compare import compare, plot_results

    TransformerEmbedder(tiny_bert, max_length=16).fit_transform(["kept text"])
    held = len(sktransformers.embedding_cache)
    backend = matplotlib.get_backend()
    X, y = binary_data
    results = compare(X, y, X, y, methods=["tfidf", "feature"], model=tiny_bert, progress=None)
    plot_results(results, tmp_path / "plot.png")
    assert len(sktransformers.embedding_cache) == held
    assert matplotlib.get_backend() == backend



@pytest.mark.parametrize("name", ["full", "lora", "prompt", "prefix", "adapter"])
def test_early_stopping_works_for_every_adapted_classifier(name, tiny_bert, binary_data):
    """Validation accuracy needs the classes: skorch cannot infer them from token lists."""
    clf = make(name, tiny_bert, early_stopping=True, validation_fraction=0.25, max_epochs=3)
    clf.fit(*binary_data)
    assert all({"valid_loss", "valid_accuracy"} <= set(row) for row in clf.history_)


def test_roberta_models_lose_two_positions_to_their_padding_offset():
    from transformers import BertConfig, RobertaConfig

    from sktransformers.backbones.loading import check_max_length, usable_positions

    assert usable_positions(RobertaConfig(max_position_embeddings=514, pad_token_id=1)) == 512
    assert usable_positions(BertConfig(max_position_embeddings=512)) == 512
    with pytest.raises(ValueError, match="max_length<=512"):
        check_max_length(RobertaConfig(max_position_embeddings=514, pad_token_id=1), 514)
