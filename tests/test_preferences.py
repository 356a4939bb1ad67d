"""RewardModel and DPOTuner: the scikit-learn contract, the losses, and token handling.

Both run over one matrix (``PREFERENCE``) for what any estimator owes; the
method-specific tests follow. Tiny random models keep every test to seconds.
"""

from __future__ import annotations

import inspect
import json
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sktransformers import DPOTuner, RewardModel
from sktransformers.adaptation import LoRA
from sktransformers.backbones.policy import (
    PolicyCollator,
    prompt_ids,
    sequence_logps,
    tokenize_pairs,
)
from sktransformers.backbones.text import tokenize_responses
from sktransformers.core.preference_data import check_preferences
from sktransformers.core.tasks import BradleyTerryLoss, DPOLoss

from conftest import NEG, POS


def pairs(n_copies=2, prompt="what is it"):
    return pd.DataFrame({"prompt": [prompt] * 6 * n_copies, "chosen": POS * n_copies,
                         "rejected": NEG * n_copies})


def make_est(name, tiny_bert, tiny_llama, **overrides):
    if name == "reward":
        params = dict(max_epochs=3, lr=1e-2, batch_size=4, verbose=0, random_state=0)
        return RewardModel(tiny_bert, **{**params, **overrides})
    params = dict(max_epochs=2, lr=1e-2, batch_size=4, max_new_tokens=3, verbose=0,
                  random_state=0)
    return DPOTuner(tiny_llama, **{**params, **overrides})


def outputs(est, X):
    """What the fitted estimator gives for ``X`` (rewards, or implicit-reward margins)."""
    return est.decision_function(X)


PREFERENCE = ["reward", "dpo"]


@pytest.fixture
def make(tiny_bert, tiny_llama):
    return lambda name, **kw: make_est(name, tiny_bert, tiny_llama, **kw)


# ---------------------------------------------------------------- the contract


@pytest.mark.parametrize("name", PREFERENCE)
def test_init_stores_parameters_and_clones(name, make):
    est = make(name)
    params = est.get_params(deep=False)
    assert set(params) == set(inspect.signature(type(est).__init__).parameters) - {"self"}
    assert not [a for a in vars(est) if a.endswith("_")]
    assert clone(est).get_params() == params
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_parameter=1)


@pytest.mark.parametrize("name", PREFERENCE)
@pytest.mark.parametrize("method", ["predict", "decision_function", "score"])
def test_not_fitted(name, method, make):
    X = ["good film"] if method == "predict" else pairs(1)
    with pytest.raises(NotFittedError):
        getattr(make(name), method)(X)


@pytest.mark.parametrize("name", PREFERENCE)
def test_fit_learns_the_preference(name, make):
    X = pairs()
    # the reward model ranked 10 or 11 of 12 pairs after 6 epochs, depending on the seed's
    # dropout masks; all 12 for every one of 8 seeds after 10
    est = make(name, max_epochs=10 if name == "reward" else 6)
    assert est.fit(X) is est
    assert est.score(X) == 1.0
    margins = est.decision_function(X)
    assert margins.shape == (12,) and (margins > 0).all()
    assert est.history_[-1]["train_loss"] < est.history_[0]["train_loss"]
    assert 0 < est.n_trainable_params_ < est.n_total_params_


@pytest.mark.parametrize("name", PREFERENCE)
def test_same_seed_same_model_and_refit_resets(name, make):
    X, other = pairs(), pairs().rename(columns={"chosen": "rejected", "rejected": "chosen"})
    a = make(name).fit(X)
    b = make(name).fit(other).fit(X)
    np.testing.assert_allclose(outputs(a, X), outputs(b, X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", PREFERENCE)
def test_gradient_checkpointing_trains_the_same_model(name, make):
    from transformers import PreTrainedModel

    flag = ("is_activation_checkpointing"  # transformers 5.25's name
            if hasattr(PreTrainedModel, "is_activation_checkpointing") else
            "is_gradient_checkpointing")

    def checkpointing(est):
        modules = [v for v in vars(est).values() if isinstance(v, torch.nn.Module)]
        return any(getattr(m, flag) for module in modules
                   for m in module.modules() if isinstance(m, PreTrainedModel))

    X = pairs()
    plain = make(name).fit(X)
    recomputed = make(name, gradient_checkpointing=True).fit(X)
    assert checkpointing(recomputed) and not checkpointing(plain)
    # recomputation replays the random state: the same dropout masks, the same gradients
    np.testing.assert_allclose(outputs(recomputed, X), outputs(plain, X), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", PREFERENCE)
def test_joblib_round_trip(name, make, tmp_path):
    est = make(name).fit(pairs())
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(outputs(loaded, pairs()), outputs(est, pairs()))
    prompts = ["what is it", "good"]
    first = est.predict(prompts) if name == "dpo" else est.predict(POS)
    again = loaded.predict(prompts) if name == "dpo" else loaded.predict(POS)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", PREFERENCE)
def test_pipeline_grid_search_and_cross_validation(name, make):
    X = pairs(3)
    pipe = make_pipeline(FunctionTransformer(lambda df: df.assign(prompt=df.prompt.str.lower())),
                         make(name))
    assert pipe.fit(X).score(X) == pytest.approx(pipe[-1].score(X))
    grid_param = {"lr": [1e-4, 1e-2]} if name == "reward" else {"beta": [0.1, 1.0]}
    grid = GridSearchCV(make(name), grid_param, cv=2).fit(X)
    assert grid.best_score_ == max(grid.cv_results_["mean_test_score"])
    scores = cross_val_score(make(name), X, cv=3)
    assert scores.shape == (3,)


@pytest.mark.parametrize("name", PREFERENCE)
def test_failed_fit_keeps_the_previous_model(name, make):
    est = make(name).fit(pairs())
    before = outputs(est, pairs())
    with pytest.raises(ValueError):
        est.fit(pairs().assign(rejected=POS * 2))
    np.testing.assert_array_equal(outputs(est, pairs()), before)


@pytest.mark.parametrize("name", PREFERENCE)
@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda X: X.drop(columns="rejected"), ValueError, r"lacks the column\(s\) \['rejected'\]"),
    (lambda X: X.iloc[:0], ValueError, "no rows"),
    (lambda X: X.assign(chosen=X.rejected), ValueError, "identical 'chosen' and 'rejected'"),
    (lambda X: X.assign(chosen=["  "] + POS[1:] + POS), ValueError, r"\['chosen'\]\[0\] is an "
     "empty response"),
    (lambda X: X.assign(rejected=[np.nan] + NEG[1:] + NEG), ValueError,
     r"\['rejected'\]\[0\] is a missing value"),
    (lambda X: X.assign(prompt=[3] * 12), TypeError, r"\['prompt'\]\[0\] is of type int"),
    (lambda X: X.assign(margin=["big"] * 12), TypeError, r"\['margin'\] must hold numbers"),
    (lambda X: X.assign(margin=[np.inf] * 12), ValueError, r"\['margin'\]\[0\] is inf"),
    (lambda X: X.chosen.tolist(), TypeError, "not preference data"),
])
def test_bad_input_names_the_column(name, make, change, error, message):
    X = pairs()
    copy = X.copy()
    with pytest.raises(error, match=message):
        make(name).fit(change(X))
    pd.testing.assert_frame_equal(X, copy)  # nothing the user passed changed


def test_dict_of_lists_is_accepted():
    prefs = check_preferences({"chosen": ["a", "b"], "rejected": ["c", "d"], "margin": [1, 0]})
    assert prefs.prompts == ["", ""] and prefs.margin.tolist() == [1.0, 0.0]


# ---------------------------------------------------------------- the reward model


def test_bradley_terry_loss_with_margin():
    rewards = torch.tensor([[2.0, 0.5], [0.0, 1.0]])
    margin = torch.tensor([1.0, 0.0])
    expected = -torch.nn.functional.logsigmoid(torch.tensor([0.5, -1.0]))
    torch.testing.assert_close(BradleyTerryLoss()(rewards, margin), expected)


def test_margin_moves_the_rewards_apart(make):
    X = pairs()
    # after 3 epochs the two differed in the third decimal, either way by seed; after 8
    # the margin's rewards were 3-8% wider for each of 6 seeds
    plain = make("reward", max_epochs=8).fit(X).decision_function(X)
    wide = make("reward", max_epochs=8).fit(X.assign(margin=3.0)).decision_function(X)
    assert wide.mean() > plain.mean()


def test_reward_predict_takes_texts_pairs_and_frames(make):
    rm = make("reward", max_epochs=6).fit(pairs())
    frame = pd.DataFrame({"prompt": ["what is it"] * 2, "response": [POS[0], NEG[0]]})
    by_frame = rm.predict(frame)
    by_pairs = rm.predict([("what is it", POS[0]), ("what is it", NEG[0])])
    np.testing.assert_allclose(by_frame, by_pairs, rtol=1e-5)
    assert by_frame[0] > by_frame[1]
    assert rm.predict(POS).shape == (6,)
    with pytest.raises(ValueError, match="decision_function or score for pairs"):
        rm.predict(pairs())


@pytest.mark.parametrize("adaptation", ["full", "head", "adapter", "prompt", "prefix",
                                        LoRA(r=2)])
def test_reward_model_every_adaptation(adaptation, make):
    lr = 3e-2 if adaptation == "prompt" else 1e-2  # soft prompts need a higher rate
    rm = make("reward", adaptation=adaptation, max_epochs=20, lr=lr).fit(pairs())
    assert rm.score(pairs()) >= 0.8
    assert rm.get_params()["adaptation"] is adaptation  # the user's object is not changed


def test_reward_model_on_a_causal_lm(tiny_llama):
    rm = RewardModel(tiny_llama, pooling="last", max_epochs=6, lr=1e-2, batch_size=4,
                     verbose=0, random_state=0).fit(pairs())
    assert rm.score(pairs()) == 1.0


def test_unknown_adaptation_is_refused(make):
    with pytest.raises(ValueError, match="adaptation"):
        make("reward", adaptation="bitfit").fit(pairs())


def test_encoder_reads_prompt_then_response_and_keeps_the_prompt_end(tiny_bert):
    from sktransformers.backbones.loading import load_tokenizer

    tok = load_tokenizer(tiny_bert)
    prompt = "the city " * 40 + "what is it"
    rows = tokenize_responses(tok, [prompt, ""], ["good film", "bad film"], 16)
    text = tok.decode(rows[0]["input_ids"])
    assert text.startswith("[CLS]") and text.endswith("what is it [SEP] good film [SEP]")
    assert rows[0]["token_type_ids"][-3:] == [1, 1, 1]
    assert len(rows[0]["input_ids"]) == 16
    assert tok.decode(rows[1]["input_ids"]) == "[CLS] bad film [SEP]"


# ---------------------------------------------------------------- preference tuning


@pytest.fixture(scope="module")
def chat_llama(tiny_llama, tmp_path_factory):
    """The tiny Llama with a chat template (as an instruct model has)."""
    folder = tmp_path_factory.mktemp("chat-llama")
    shutil.copytree(tiny_llama, folder, dirs_exist_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = (
        "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> \n{% endfor %}"
        "{% if add_generation_prompt %}<s> answer : {% endif %}")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return str(folder)


def test_pairs_use_the_chat_template_mask_the_prompt_and_end_with_eos(chat_llama):
    from sktransformers.backbones.loading import load_tokenizer

    tok = load_tokenizer(chat_llama)
    prefs = check_preferences(pairs(1).iloc[:1])
    chosen, rejected = tokenize_pairs(tok, prefs, max_length=64, max_prompt_length=32)[0][
        "windows"]
    prompt = prompt_ids(tok, "what is it")
    assert tok.decode(prompt).endswith("answer :")
    assert chosen["input_ids"][: len(prompt)] == prompt
    assert chosen["completion_mask"] == [0] * len(prompt) + [1] * 3  # good film </s>
    assert chosen["input_ids"][-1] == tok.eos_token_id
    assert rejected["input_ids"][len(prompt):-1] == tok("bad film",
                                                        add_special_tokens=False)["input_ids"]


def test_long_prompts_keep_their_end_and_sequences_fit(chat_llama):
    from sktransformers.backbones.loading import load_tokenizer

    tok = load_tokenizer(chat_llama)
    prefs = check_preferences(pd.DataFrame({"prompt": ["the city " * 50 + "who"],
                                            "chosen": ["good " * 50], "rejected": ["bad"]}))
    chosen, rejected = tokenize_pairs(tok, prefs, max_length=40, max_prompt_length=10)[0][
        "windows"]
    assert len(chosen["input_ids"]) == 40 and sum(chosen["completion_mask"]) == 30
    assert tok.decode(rejected["input_ids"][:10]).endswith("answer :")


def test_sequence_logps_count_completion_tokens_only(tiny_llama):
    from sktransformers.backbones.causal_lm import load_policy
    from sktransformers.backbones.loading import load_tokenizer

    model, tok = load_policy(tiny_llama).eval(), load_tokenizer(tiny_llama)
    items = tokenize_pairs(tok, check_preferences(pairs(1)), 64, 32)
    batch, _ = PolicyCollator(tok.pad_token_id)([(item, [0, 0, 0, 0]) for item in items])
    with torch.no_grad():
        logps = sequence_logps(model, batch["input_ids"], batch["attention_mask"],
                               batch["completion_mask"])
        ids = items[0]["windows"][0]["input_ids"]
        mask = items[0]["windows"][0]["completion_mask"]
        logits = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
    expected = sum(logits[i - 1, ids[i]] for i in range(1, len(ids)) if mask[i])
    assert logps[0].item() == pytest.approx(expected.item(), abs=1e-4)
    assert batch["input_ids"][1, -1] == tok.pad_token_id or batch["attention_mask"][1].all()


def test_generation_pads_on_the_left(make):
    dpo = make("dpo").fit(pairs())
    together = dpo.predict(["what is it", "the city is a very nice place"])
    alone = [dpo.predict([p])[0] for p in ["what is it", "the city is a very nice place"]]
    assert list(together) == alone
    assert dpo.predict(pd.DataFrame({"prompt": ["what is it"]})).shape == (1,)


def test_lora_reference_is_the_adapter_switched_off(make):
    dpo = make("dpo", lr=1e-12).fit(pairs())  # a step too small to move the policy
    np.testing.assert_allclose(dpo.decision_function(pairs()), 0, atol=1e-5)
    assert hasattr(dpo.policy_, "disable_adapter")


@pytest.mark.parametrize("loss", ["sigmoid", "ipo", "hinge"])
@pytest.mark.parametrize("adaptation", ["lora", "full"])
def test_every_loss_and_adaptation_learns(loss, adaptation, make):
    dpo = make("dpo", loss=loss, adaptation=adaptation, max_epochs=6).fit(pairs())
    assert dpo.score(pairs()) == 1.0


def test_dpo_loss_formulas():
    logps = torch.tensor([[-5.0, -7.0]])
    ref = torch.tensor([[-6.0, -6.0, 4.0, 2.0]])
    h = (1.0) - (-1.0)
    torch.testing.assert_close(DPOLoss("sigmoid", 0.5)(logps, ref),
                               -torch.nn.functional.logsigmoid(torch.tensor([0.5 * h])))
    torch.testing.assert_close(DPOLoss("hinge", 0.1)(logps, ref), torch.tensor([1 - 0.2]))
    torch.testing.assert_close(DPOLoss("ipo", 0.5)(logps, ref),
                               torch.tensor([(1 / 4 - (-1 / 2) - 1.0) ** 2]))
    smoothed = DPOLoss("sigmoid", 0.5, label_smoothing=0.2)(logps, ref)
    expected = -(0.8 * torch.nn.functional.logsigmoid(torch.tensor([1.0]))
                 + 0.2 * torch.nn.functional.logsigmoid(torch.tensor([-1.0])))
    torch.testing.assert_close(smoothed, expected)


# ---------------------------------------------------------------- strategies
# (the online tuners: tests/test_online_tuning.py)


def test_adaptation_names_and_objects(make):
    from sktransformers.adaptation import ADAPTATIONS, Frozen, default_lr, make_adaptation

    head_only = make("reward", adaptation="head").fit(pairs())
    assert head_only.n_trainable_params_ == 32 + 1  # the tiny BERT's width, plus the bias
    assert default_lr("full") == ADAPTATIONS["full"][1] and default_lr(LoRA(r=2)) == 5e-4
    with pytest.raises(TypeError, match="strategy object"):
        make_adaptation(42)
    backbone = torch.nn.Linear(2, 2)
    assert not any(p.requires_grad for p in Frozen().prepare(backbone, "x").parameters())
