"""FastDropout: nn.Dropout's masks and scaling, from cheaper random draws on CPUs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sktransformers import LoRAClassifier
from sktransformers.core.dropout import FastDropout, dropout_mask, use_fast_dropout


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
    again = LoRAClassifier(tiny_bert, max_epochs=1, random_state=0, verbose=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), again.predict_proba(X))
