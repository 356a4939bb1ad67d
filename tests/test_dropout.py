"""FastDropout: nn.Dropout's masks and scaling, from cheaper random draws on CPUs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sktransformers import LoRAClassifier
from sktransformers.core.dropout import (
    FAST_ATTENTION,
    FastDropout,
    dropout_mask,
    fast_dropout_attention,
    use_fast_dropout,
)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_masks_drop_each_element_with_probability_p(p):
    torch.manual_seed(0)
    keep = dropout_mask((400, 1000), p)
    n = keep.numel()
    # four standard errors of a binomial proportion
    assert abs((~keep).float().mean().item() - p) < 4 * np.sqrt(p * (1 - p) / n)
    # the four elements cut from one 64-bit draw are independent of each other
    quads = keep.reshape(-1, 4).float()
    corr = np.corrcoef(quads.T.numpy())
    assert np.abs(corr[np.triu_indices(4, 1)]).max() < 0.01
    # and each position of the quadruple has the same rate
    rates = (~keep).reshape(-1, 4).float().mean(0)
    assert (rates - p).abs().max().item() < 4 * np.sqrt(p * (1 - p) / (n / 4))


def test_masks_follow_torch_seed_and_differ_between_calls():
    torch.manual_seed(3)
    first, second = dropout_mask((64, 33), 0.1), dropout_mask((64, 33), 0.1)
    torch.manual_seed(3)
    assert torch.equal(dropout_mask((64, 33), 0.1), first)
    assert not torch.equal(first, second)


def test_fast_dropout_scales_kept_elements_and_its_gradient_is_the_mask():
    torch.manual_seed(0)
    x = torch.randn(8, 16, 32, requires_grad=True)
    out = FastDropout(0.25)(x)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.75)
    out.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)
    # mean and variance of outputs as nn.Dropout's
    big = torch.ones(2_000_000)
    fast, plain = FastDropout(0.25)(big), nn.Dropout(0.25)(big)
    assert abs(fast.mean().item() - plain.mean().item()) < 0.005
    assert abs(fast.var().item() - plain.var().item()) < 0.01


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_edge_probabilities_and_eval_mode_are_nn_dropouts(p):
    x = torch.randn(5, 7)
    assert torch.equal(FastDropout(p)(x), nn.Dropout(p)(x))
    assert torch.equal(FastDropout(0.3).eval()(x), x)


def test_only_plain_dropouts_change_class():
    class Custom(nn.Dropout):
        pass

    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.1), Custom(0.2), nn.Dropout1d(0.1))
    assert use_fast_dropout(model) == 1
    assert [type(m) for m in model] == [nn.Linear, FastDropout, Custom, nn.Dropout1d]
    assert model[1].p == 0.1


def test_training_turns_the_backbones_dropouts_fast(tiny_bert, binary_data):
    X, y = binary_data
    clf = LoRAClassifier(tiny_bert, max_epochs=1, random_state=0, verbose=0).fit(X, y)
    kinds = {type(m) for m in clf.module_.modules() if isinstance(m, nn.Dropout)}
    assert kinds == {FastDropout}
    assert clf.module_.encoder.backbone.config._attn_implementation == FAST_ATTENTION
    again = LoRAClassifier(tiny_bert, max_epochs=1, random_state=0, verbose=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), again.predict_proba(X))


class _Attention(nn.Module):
    is_causal = False


def _uniform_attention(n_keys, p, mask=None):
    """Attention whose probabilities are uniform over the keys, read off as its output:
    zero queries and keys, and the identity matrix as the values."""
    query = torch.zeros(2, 3, 50, n_keys)
    value = torch.eye(n_keys).expand(2, 3, n_keys, n_keys)
    out, _ = fast_dropout_attention(_Attention().train(), query, torch.zeros_like(value),
                                    value, mask, dropout=p)
    return out.transpose(1, 2)  # (batch, heads, queries, keys) again


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_attention_drops_each_probability_with_probability_p_and_rescales(p):
    _ = torch.manual_seed(0)
    weights = _uniform_attention(40, p)
    kept = weights != 0
    n = kept.numel()
    assert abs((1 - kept.float().mean().item()) - p) < 4 * np.sqrt(p * (1 - p) / n)
    torch.testing.assert_close(weights[kept], torch.full((int(kept.sum()),), 1 / 40 / (1 - p)))


def test_attention_masked_keys_get_no_weight():
    _ = torch.manual_seed(0)
    mask = torch.ones(2, 1, 50, 40, dtype=torch.bool)
    mask[..., 30:] = False
    weights = _uniform_attention(40, 0.2, mask)
    assert (weights[..., 30:] == 0).all()
    kept = weights[..., :30] != 0
    torch.testing.assert_close(weights[..., :30][kept],
                               torch.full((int(kept.sum()),), 1 / 30 / 0.8))


def test_bert_attention_switches_and_is_sdpa_without_dropout(tmp_path):
    from transformers import AutoModel

    from tiny_models import make_tiny_bert

    path = make_tiny_bert(tmp_path / "bert", dropout=0.5)
    fast, plain = (AutoModel.from_pretrained(path, hidden_dropout_prob=0.0).eval()
                   for _ in range(2))
    use_fast_dropout(fast)
    assert fast.config._attn_implementation == FAST_ATTENTION
    assert plain.config._attn_implementation == "sdpa"
    ids = torch.randint(5, 40, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    torch.testing.assert_close(fast(input_ids=ids, attention_mask=mask).last_hidden_state,
                               plain(input_ids=ids, attention_mask=mask).last_hidden_state,
                               rtol=0, atol=0)
    # in training, the same distribution of outputs: means over 400 draws agree to
    # within standard errors, and so do the spreads
    fast.train(), plain.train()
    _ = torch.manual_seed(0)
    draws = [torch.stack([m(input_ids=ids, attention_mask=mask).last_hidden_state[mask.bool()]
                          for _ in range(400)]) for m in (fast, plain)]
    se = torch.sqrt((draws[0].var(0) + draws[1].var(0)) / 400)
    gap = (draws[0].mean(0) - draws[1].mean(0)).abs() / se
    assert gap.max() < 4.5 and gap.mean() < 1.0
    spread = [d.std(0).mean().item() for d in draws]
    assert spread[1] > 1e-3 and 0.9 < spread[0] / spread[1] < 1.1
