"""Per method: exactly the intended parameters train, and the frozen ones stay put."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sktransformers.adaptation import PromptTuning
from sktransformers.backbones.loading import load_backbone, load_tokenizer

from estimators import make


def _backbone_state(backbone):
    return {k: v.detach().clone() for k, v in backbone.state_dict().items()}


def _assert_backbone_unchanged(fitted_backbone, reference, prefix=""):
    state = fitted_backbone.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(state[prefix + key], value, msg=f"{key} changed")


def test_lora_trains_only_low_rank_matrices_and_head(tiny_bert, binary_data):
    clf = make("lora", tiny_bert, merge_weights=False, lr=5e-2).fit(*binary_data)
    names = [n for n, p in clf.module_.named_parameters() if p.requires_grad]
    assert names and all("lora_A" in n or "lora_B" in n or n.startswith("head.") for n in names)
    assert any("query" in n for n in names) and any("value" in n for n in names)
    peft_model = clf.module_.encoder.backbone
    base = _backbone_state(load_backbone(tiny_bert))
    base_state = peft_model.get_base_model().state_dict()
    for key, value in base.items():
        fitted_key = next(k for k in base_state if k.replace("base_layer.", "") == key)
        torch.testing.assert_close(base_state[fitted_key], value)
    b_norm = sum(p.abs().sum().item() for n, p in peft_model.named_parameters() if "lora_B" in n)
    assert b_norm > 0, "LoRA B starts at zero and must have moved"


def test_lora_merge_gives_plain_model_with_same_predictions(tiny_bert, binary_data):
    X, y = binary_data
    merged = make("lora", tiny_bert, lr=5e-2).fit(X, y)
    unmerged = make("lora", tiny_bert, lr=5e-2, merge_weights=False).fit(X, y)
    assert type(merged.module_.encoder.backbone).__name__ == "BertModel"
    assert not any("lora" in n for n, _ in merged.module_.named_parameters())
    np.testing.assert_allclose(merged.predict_proba(X), unmerged.predict_proba(X), atol=1e-5)
    assert merged.n_trainable_params_ == unmerged.n_trainable_params_


def test_lora_target_modules_and_rank(tiny_bert, binary_data):
    clf = make("lora", tiny_bert, r=4, target_modules=["key"], merge_weights=False)
    clf.fit(*binary_data)
    lora = {n: p for n, p in clf.module_.named_parameters() if "lora_A" in n}
    assert lora and all(".key." in n for n in lora)
    assert all(p.shape[0] == 4 for p in lora.values())
    head = sum(p.numel() for p in clf.module_.head.parameters())
    # 2 layers x (A: 4x32 + B: 32x4) + head
    assert clf.n_trainable_params_ == 2 * (4 * 32 + 32 * 4) + head


def test_lora_bad_target_modules_is_clear(tiny_bert, binary_data):
    with pytest.raises(ValueError, match="target_modules"):
        make("lora", tiny_bert, target_modules=["no_such_layer"]).fit(*binary_data)


def test_prompt_tuning_trains_only_virtual_tokens_and_head(tiny_bert, binary_data):
    clf = make("prompt", tiny_bert, n_virtual_tokens=5).fit(*binary_data)
    names = [n for n, p in clf.module_.named_parameters() if p.requires_grad]
    assert names and all("prompt_encoder" in n or n.startswith("head.") for n in names)
    head = sum(p.numel() for p in clf.module_.head.parameters())
    assert clf.n_trainable_params_ == 5 * 32 + head
    base = _backbone_state(load_backbone(tiny_bert))
    _assert_backbone_unchanged(clf.module_.encoder.backbone.get_base_model(), base)


def test_prompt_tuning_initialised_from_text(tiny_bert):
    backbone = load_backbone(tiny_bert)
    expected = backbone.get_input_embeddings().weight.detach().clone()
    wrapped = PromptTuning(n_virtual_tokens=7, init_text="good bad film").prepare(
        backbone, tiny_bert
    )
    prompt = wrapped.prompt_encoder["default"].embedding.weight
    ids = load_tokenizer(tiny_bert)("good bad film")["input_ids"]  # [CLS] good bad film [SEP]
    expected = expected[(ids * 2)[:7]]  # repeated to fill the 7 virtual tokens
    torch.testing.assert_close(prompt, expected)


def test_full_finetune_updates_every_layer(tiny_bert, binary_data):
    clf = make("full", tiny_bert, lr=1e-2).fit(*binary_data)
    base = _backbone_state(load_backbone(tiny_bert))
    state = clf.module_.encoder.backbone.state_dict()
    changed = [k for k, v in base.items() if not torch.equal(state[k], v)]
    for layer in ("layer.0.", "layer.1.", "embeddings.word_embeddings"):
        assert any(layer in k for k in changed), f"{layer} did not train"
    assert clf.n_trainable_params_ == clf.n_total_params_


def test_head_finetune_trains_only_the_head(tiny_bert, binary_data):
    clf = make("head", tiny_bert, head_hidden=(16,)).fit(*binary_data)
    linears = [m for m in clf.module_.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 16), (16, 2)]
    assert clf.n_trainable_params_ == 32 * 16 + 16 + 16 * 2 + 2
    base = _backbone_state(load_backbone(tiny_bert))
    _assert_backbone_unchanged(clf.encoder_.module("cpu").backbone, base)
    assert not any(p.requires_grad for p in clf.encoder_.module("cpu").parameters())


def test_early_stopping_records_validation_and_stops(tiny_bert, multiclass_data):
    X, y = multiclass_data
    clf = make("head", tiny_bert, early_stopping=True, validation_fraction=0.25,
               n_iter_no_change=2, max_epochs=200, lr=0.5)
    clf.fit(X, y)
    assert all({"valid_loss", "valid_accuracy"} <= set(row) for row in clf.history_)
    assert len(clf.history_) < 200
    losses = [row["valid_loss"] for row in clf.history_]
    assert min(losses) < losses[-1] or len(losses) == 200


@pytest.mark.parametrize("name", ["head", "full"])
def test_scaling_all_sample_weights_changes_nothing(name, tiny_bert, binary_data):
    X, y = binary_data
    ones = make(name, tiny_bert).fit(X, y, sample_weight=np.ones(len(X))).predict_proba(X)
    twos = make(name, tiny_bert).fit(X, y, sample_weight=np.full(len(X), 2.0)).predict_proba(X)
    np.testing.assert_allclose(ones, twos, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["head", "full", "lora"])
def test_sample_weight_and_class_weight_shift_predictions(name, tiny_bert, binary_data):
    X, y = binary_data
    is_pos = np.asarray(y) == "pos"
    plain = make(name, tiny_bert).fit(X, y).predict_proba(X)[:, 1].mean()
    no_pos = make(name, tiny_bert).fit(X, y, sample_weight=np.where(is_pos, 0.0, 1.0))
    assert no_pos.predict_proba(X)[:, 1].mean() < plain
    pos_heavy = make(name, tiny_bert, class_weight={"pos": 5.0, "neg": 1.0}).fit(X, y)
    assert pos_heavy.predict_proba(X)[:, 1].mean() > plain


def test_class_weight_balanced_runs_on_imbalanced_data(tiny_bert):
    X = ["good film"] * 10 + ["bad film"] * 2
    y = ["pos"] * 10 + ["neg"] * 2
    plain = make("head", tiny_bert).fit(X, y).predict_proba(X)[:, 0].mean()
    balanced = make("head", tiny_bert, class_weight="balanced").fit(X, y)
    assert balanced.predict_proba(X)[:, 0].mean() > plain


def test_verbose_levels(tiny_bert, binary_data, capsys, monkeypatch):
    from sktransformers.core import progress as _progress

    make("full", tiny_bert, verbose=0).fit(*binary_data)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    make("full", tiny_bert, verbose=1).fit(*binary_data)  # not a terminal: nothing
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    make("full", tiny_bert, verbose=1).fit(*binary_data)
    out = capsys.readouterr()
    assert "train_loss" not in out.out and "batch/s" in out.err  # the bar renders to stderr
    make("full", tiny_bert, verbose=2).fit(*binary_data)
    assert "train_loss" in capsys.readouterr().out


def _embedding_inputs(backbone, **inputs):
    """The ids the position and segment embeddings of a BERT backbone were given."""
    base = backbone.get_base_model().embeddings
    seen = {}
    hooks = [getattr(base, f"{kind}_embeddings").register_forward_hook(
        lambda _m, args, _out, kind=kind: seen.__setitem__(kind, args[0]))
        for kind in ("position", "token_type")]
    try:
        with torch.no_grad():
            out = backbone(**inputs).last_hidden_state
    finally:
        for hook in hooks:
            hook.remove()
    return seen, out


def test_soft_prompts_keep_the_text_at_its_pretrained_positions(tiny_bert):
    """The virtual tokens take position 0; a cross-encoded pair keeps its segment ids."""
    tokenizer = load_tokenizer(tiny_bert)
    batch = dict(tokenizer(["good film", "bad"], ["fun plot", "dull story line"],
                           padding=True, return_tensors="pt"))
    n, length = 3, batch["input_ids"].shape[1]
    prompted = PromptTuning(n_virtual_tokens=n).prepare(load_backbone(tiny_bert), tiny_bert)
    seen, _ = _embedding_inputs(prompted, **batch)
    expected = torch.cat([torch.zeros(n, dtype=torch.long), torch.arange(length)])
    torch.testing.assert_close(seen["position"], expected.expand(2, -1))
    torch.testing.assert_close(seen["token_type"][:, n:], batch["token_type_ids"])
    assert seen["token_type"][:, :n].eq(0).all() and batch["token_type_ids"].eq(1).any()

    peft = PromptTuning(n_virtual_tokens=n, keep_text_positions=False).prepare(
        load_backbone(tiny_bert), tiny_bert)
    with pytest.warns(UserWarning, match="Token type ids are not supported"):
        seen, _ = _embedding_inputs(peft, **batch)  # PEFT's forward: text moved right by n
    torch.testing.assert_close(seen["position"], torch.arange(n + length).expand(1, -1))


def test_text_positions_follow_the_backbones_numbering():
    """BERT numbers from 0; RoBERTa from ``padding_idx + 1``, its padding at ``padding_idx``."""
    from types import SimpleNamespace

    from sktransformers.adaptation._prompt_model import text_position_ids

    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    bert = SimpleNamespace(embeddings=SimpleNamespace())
    roberta = SimpleNamespace(embeddings=SimpleNamespace(padding_idx=1))
    torch.testing.assert_close(text_position_ids(bert, mask), torch.arange(3).expand(2, -1))
    torch.testing.assert_close(text_position_ids(roberta, mask),
                               torch.tensor([[2, 3, 1], [2, 3, 4]]))


def test_soft_prompts_on_a_rotary_decoder_use_pefts_forward(tiny_llama):
    """Rotary positions are relative: nothing to keep, PEFT's forward runs unchanged."""
    tokenizer = load_tokenizer(tiny_llama)
    batch = dict(tokenizer(["good film", "bad"], padding=True, return_tensors="pt"))
    outputs = []
    for keep in (True, False):
        torch.manual_seed(0)
        model = PromptTuning(n_virtual_tokens=3, keep_text_positions=keep).prepare(
            load_backbone(tiny_llama), tiny_llama)
        with torch.no_grad():
            outputs.append(model(**batch).last_hidden_state)
    torch.testing.assert_close(outputs[0], outputs[1])
