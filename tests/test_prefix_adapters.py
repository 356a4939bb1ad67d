"""Prefix tuning and adapters on both BERT-family and Llama-family backbones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sktransformers.adaptation import Adapters, PrefixTuning
from sktransformers.backbones.loading import load_backbone, load_tokenizer
from sktransformers.backbones.modules import Encoder

from estimators import TRAINABLE, make
from tiny_models import make_tiny_bert

FAMILIES = ["tiny_bert", "tiny_llama"]


@pytest.fixture
def backbone_path(request):
    return request.getfixturevalue(request.param)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _embed(backbone, path, texts):
    tok = load_tokenizer(path)
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return Encoder(backbone.eval())(enc["input_ids"], enc["attention_mask"])


@pytest.mark.parametrize("backbone_path", FAMILIES, indirect=True)
@pytest.mark.parametrize("name", TRAINABLE)
def test_every_trainable_method_runs_on_both_families(name, backbone_path, binary_data):
    X, y = binary_data
    clf = make(name, backbone_path).fit(X, y)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("backbone_path", FAMILIES, indirect=True)
@pytest.mark.parametrize("placement, per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_adapters_placement_and_identity_at_init(backbone_path, placement, per_layer):
    base = load_backbone(backbone_path)
    adapted = Adapters(bottleneck_dim=4, placement=placement).prepare(
        load_backbone(backbone_path), backbone_path)
    adapters = [n for n, _ in adapted.named_modules() if n.endswith(".adapter")]
    assert len(adapters) == per_layer * base.config.num_hidden_layers
    texts = ["good film", "a very bad and boring story"]
    torch.testing.assert_close(_embed(adapted, backbone_path, texts),
                               _embed(base, backbone_path, texts))


@pytest.mark.parametrize("backbone_path", FAMILIES, indirect=True)
def test_adapter_classifier_trains_only_adapters_and_head(backbone_path, binary_data):
    base = _state(load_backbone(backbone_path))
    clf = make("adapter", backbone_path).fit(*binary_data)
    trainable = [n for n, p in clf.module_.named_parameters() if p.requires_grad]
    assert trainable and all(".adapter." in n or n.startswith("head.") for n in trainable)
    fitted = clf.module_.encoder.backbone.state_dict()
    for key, value in base.items():
        *parent, leaf = key.split(".")
        wrapped = ".".join([*parent[:-1], parent[-1], "layer", leaf]) if parent else key
        torch.testing.assert_close(fitted.get(key, fitted.get(wrapped)), value)
    ups = [p for n, p in clf.module_.named_parameters() if n.endswith("adapter.up.weight")]
    assert any(p.abs().sum() > 0 for p in ups), "adapters must have moved from zero"


def test_adapter_layer_norms_and_custom_modules(tiny_bert, binary_data):
    clf = make("adapter", tiny_bert, train_layer_norms=True,
               adapter_modules=[r"intermediate\.dense$"]).fit(*binary_data)
    names = [n for n, p in clf.module_.named_parameters() if p.requires_grad]
    assert any("LayerNorm" in n for n in names)
    assert all("intermediate.dense" in n or "LayerNorm" in n or n.startswith("head.")
               for n in names)


def test_adapter_errors_name_the_fix(tiny_bert, binary_data):
    with pytest.raises(ValueError, match="match no module"):
        make("adapter", tiny_bert, adapter_modules=["nothing_here$"]).fit(*binary_data)
    backbone = load_backbone(tiny_bert)
    backbone.config.model_type = "exotic"
    with pytest.raises(ValueError, match="adapter_modules"):
        Adapters().prepare(backbone, tiny_bert)


@pytest.mark.parametrize("backbone_path", FAMILIES, indirect=True)
@pytest.mark.parametrize("projection", [None, 8])
def test_prefix_tuning_trains_only_prefixes_and_head(backbone_path, projection, binary_data):
    base = _state(load_backbone(backbone_path))
    clf = make("prefix", backbone_path, prefix_projection_dim=projection).fit(*binary_data)
    trainable = {n: p for n, p in clf.module_.named_parameters() if p.requires_grad}
    assert trainable and all("prefix_encoder" in n or n.startswith("head.") for n in trainable)
    has_mlp = any("transform" in n for n in trainable)
    assert has_mlp == (projection is not None)
    fitted = clf.module_.encoder.backbone.backbone.state_dict()
    for key, value in base.items():
        torch.testing.assert_close(fitted[key], value)


@pytest.mark.parametrize("backbone_path", FAMILIES, indirect=True)
def test_prefixes_reach_every_layer(backbone_path):
    wrapped = PrefixTuning(n_virtual_tokens=3, projection_dim=None).prepare(
        load_backbone(backbone_path), backbone_path)
    tok = load_tokenizer(backbone_path)
    enc = tok(["good film", "bad"], padding=True, return_tensors="pt")
    out = wrapped(enc["input_ids"], enc["attention_mask"]).last_hidden_state
    assert out.shape[:2] == enc["input_ids"].shape
    out.pow(2).sum().backward()
    grad = wrapped.prefix_encoder.embedding.weight.grad
    n_layers = wrapped.config.num_hidden_layers
    per_layer = grad.view(3, 2 * n_layers, -1).abs().sum(dim=(0, 2))
    assert torch.all(per_layer > 0), "every layer's key and value prefix gets a gradient"


def test_soft_prompt_and_text_must_fit_the_position_table(tiny_bert):
    """Soft prompts take positions: text + virtual tokens must fit, never a silent cut."""
    texts = ["good film " * 300, "bad film " * 300] * 4
    with pytest.raises(ValueError, match="max_length<=504"):
        make("prompt", tiny_bert, n_virtual_tokens=8, max_length=512).fit(texts, ["p", "n"] * 4)
    with pytest.raises(ValueError, match="no room for text"):
        make("prompt", tiny_bert, n_virtual_tokens=512).fit(texts, ["p", "n"] * 4)
    clf = make("prompt", tiny_bert, n_virtual_tokens=8, max_length=504)
    clf.fit(texts, ["p", "n"] * 4)
    assert clf.max_length_ == 504
    assert clf.predict(texts).shape == (8,)


def test_default_length_fits_a_backbone_that_reads_128_positions(tmp_path):
    """max_length=None takes what the backbone reads beside the virtual tokens; a value
    the user sets is still checked."""
    from sktransformers import PromptTunedClassifier

    short = make_tiny_bert(tmp_path / "bert-128", max_position_embeddings=128)
    texts, y = ["good film " * 100, "bad film " * 100] * 4, ["p", "n"] * 4
    fitted = PromptTunedClassifier(short, max_epochs=1, verbose=0).fit(texts, y)
    assert fitted.max_length is None and fitted.max_length_ == 128 - 20
    assert fitted.predict(texts).shape == (8,)
    assert make("lora", short, max_length=None).fit(texts, y).max_length_ == 128
    with pytest.raises(ValueError, match="max_length<=108"):
        PromptTunedClassifier(short, max_length=128, verbose=0).fit(texts, y)


def test_prefixes_leave_every_position_to_the_text(tiny_bert):
    """Prefixes live in the attention cache; the text keeps positions 0..511."""
    texts = ["good film " * 300, "bad film " * 300] * 4
    with pytest.raises(ValueError, match="max_length<=512"):
        make("prefix", tiny_bert, max_length=513).fit(texts, ["p", "n"] * 4)
    clf = make("prefix", tiny_bert, n_virtual_tokens=8, max_length=512)
    assert clf.fit(texts, ["p", "n"] * 4).max_length_ == 512
    assert clf.predict(texts).shape == (8,)


def test_prefix_keeps_the_texts_pretrained_positions(tiny_bert):
    """With a prefix cache BERT would number the text from n_virtual_tokens; we pass 0.."""
    from sktransformers.adaptation import PrefixTuning
    from sktransformers.backbones.loading import load_backbone

    wrapped = PrefixTuning(n_virtual_tokens=5, projection_dim=None).prepare(
        load_backbone(tiny_bert), tiny_bert)
    seen = {}
    embeddings = wrapped.backbone.embeddings
    original = embeddings.forward

    def spy(*args, **kwargs):
        seen["position_ids"] = kwargs.get("position_ids")
        return original(*args, **kwargs)

    embeddings.forward = spy
    ids = torch.tensor([[2, 10, 11, 3]])
    wrapped(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert seen["position_ids"].tolist() == [[0, 1, 2, 3]]
