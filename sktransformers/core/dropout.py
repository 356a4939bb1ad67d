"""Dropout with cheap random masks on CPUs.

On a CPU, ``torch.nn.Dropout`` draws a random number per element (``bernoulli_``):
on the packaged MiniLM, capped to AVX2, that is 2.5-4.7 ms for one ``32 x 33 x 384``
activation, a third to a half of the layer's largest matrix product (7.6 ms), and 12%
of a LoRA fit's time in a profile. :class:`FastDropout` draws 64 random bits at a time from the
same generator and cuts them into four 16-bit numbers, one per element: the same
Bernoulli masks (drop probability ``p`` rounded to a multiple of 1/65,536), the same
``1 / (1 - p)`` scaling, the same seeding by ``torch.manual_seed``, at 2.5-4x the
speed. Elsewhere (GPUs, evaluation mode, ``p`` of 0 or 1) it is ``nn.Dropout``.

:func:`use_fast_dropout` turns a model's plain ``nn.Dropout`` modules into it in place
(their class only: they hold no state) and lets the attention of its transformers
models drop attention probabilities with the same cheap masks
(:func:`fast_dropout_attention`); the training core calls it on every module it trains.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_utils import AttentionInterface, PreTrainedModel

#: Masks are drawn as 16-bit numbers: a drop probability is a multiple of 1/LEVELS.
LEVELS = 1 << 16


def dropout_mask(shape, p: float) -> torch.Tensor:
    """A boolean mask of ``shape``, each element ``False`` with probability ``p``.

    ``p`` is rounded to the nearest multiple of 1/65,536. The bits come from torch's
    default CPU generator, so ``torch.manual_seed`` repeats them.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> keep = dropout_mask((1000, 100), p=0.1)
    >>> round(1 - keep.float().mean().item(), 2)
    0.1
    """
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    threshold = round(p * LEVELS) - LEVELS // 2  # int16 values are uniform on [-2^15, 2^15)
    return (words.view(torch.int16)[:n] >= threshold).view(shape)


def dropout_where(input: torch.Tensor, p: float) -> torch.Tensor:  # noqa: A002
    """``input`` with each element zeroed with probability ``p``, the rest scaled by 1/(1-p)."""
    return torch.where(dropout_mask(input.shape, p), input * (1.0 / (1.0 - p)), 0.0)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` whose masks on a CPU are cut from 64-bit random draws.

    Parameters
    ----------
    p : float, default=0.5
        The probability of zeroing an element.
    inplace : bool, default=False
        Kept for ``nn.Dropout``'s signature; the CPU path returns a new tensor.

    Examples
    --------
    >>> import torch
    >>> drop = FastDropout(0.5)
    >>> out = drop(torch.ones(4, 1000))
    >>> sorted(set(out.unique().tolist()))
    [0.0, 2.0]
    >>> bool((drop.eval()(torch.ones(3)) == 1).all())
    True
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (nn.Dropout's name)
        if not self.training or not 0 < self.p < 1 or input.device.type != "cpu":
            return super().forward(input)
        return dropout_where(input, self.p)


#: The name under which :func:`fast_dropout_attention` is registered with transformers.
FAST_ATTENTION = "sdpa_fast_dropout"


def fast_dropout_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                           **kwargs):
    """transformers' ``"sdpa"`` attention, dropping attention probabilities with cheap masks.

    In training on a CPU, torch's scaled-dot-product attention draws one random number
    per attention probability (``bernoulli_``; 16 ms for one ``32 x 12 x 83 x 83``
    batch of MiniLM, capped to AVX2, eight times its softmax). Here the probabilities
    are computed as torch's own path with dropout computes them (scores, mask,
    softmax, dropout, weighted values), the dropout with :func:`dropout_mask`. Without
    dropout, off the CPU, and for causal attention left to ``is_causal``, it is
    ``"sdpa"`` unchanged.
    """
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", False) if causal is None else causal
    if (not 0 < dropout < 1 or query.device.type != "cpu"
            or (attention_mask is None and causal and query.shape[2] > 1)
            or kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None and attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    elif attention_mask is not None:
        scores = scores + attention_mask
    weights = dropout_where(scores.softmax(dim=-1), dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), None


AttentionInterface.register(FAST_ATTENTION, fast_dropout_attention)
AttentionMaskInterface.register(FAST_ATTENTION, sdpa_mask)


def use_fast_dropout(module: nn.Module) -> int:
    """Make every plain ``nn.Dropout`` in ``module`` a :class:`FastDropout`, in place.

    Subclasses of ``nn.Dropout`` and other dropout kinds are left as they are. The
    transformers models inside ``module`` that use ``"sdpa"`` attention switch to
    :func:`fast_dropout_attention` (the same in evaluation mode).

    Returns
    -------
    n_changed : int
        How many modules changed class.
    """
    changed = 0
    for child in module.modules():
        if type(child) is nn.Dropout:
            child.__class__ = FastDropout
            changed += 1
        elif isinstance(child, PreTrainedModel) and child.config._attn_implementation == "sdpa":
            child.config._attn_implementation = FAST_ATTENTION
    return changed
