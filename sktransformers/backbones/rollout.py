"""Rollouts of a policy: sampled responses, their per-token log-probabilities and values.

Layout (the one TRL's online trainers use): a batch row is its prompt, padded on
the *left* to the longest prompt, followed by its response, padded on the
*right* to the longest response; so response token ``t`` of every row sits in
the same column and per-token quantities are ``(n, T)`` tensors with a ``mask``.
Left padding shifts a row's positions by a constant, which rotary position
embeddings do not see. A response ends after its first EOS token (kept: the
policy learns to stop) or at ``max_new_tokens``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core.device import autocast
from .policy import prompt_ids


def _pad(rows, pad_id, left):
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, span] = torch.tensor(row, dtype=torch.long)
        mask[i, span] = 1
    return ids, mask


def batch_inputs(prompts: list, responses: list, pad_id: int) -> dict:
    """Model inputs for token lists: ``input_ids``, ``attention_mask``, ``response_mask``."""
    p_ids, p_mask = _pad(prompts, pad_id, left=True)
    r_ids, r_mask = _pad(responses, pad_id, left=False)
    return {"input_ids": torch.cat([p_ids, r_ids], 1),
            "attention_mask": torch.cat([p_mask, r_mask], 1), "response_mask": r_mask}


@torch.inference_mode()
def sample_responses(model, tokenizer, prompts: list, k: int, *, max_new_tokens: int,
                     temperature: float, top_p: float, device, dtype, logps: bool = True):
    """Sample ``k`` responses to each prompt.

    Returns the prompt and response token lists (rows prompt by prompt, ``k``
    consecutive responses each) and each response token's log-probability under the
    sampling model, read from the logits generation computed anyway (before
    temperature and top-p: the model's own distribution, as :func:`response_logps`
    gives it); ``logps=False`` skips them (``None``: no logits are kept).
    """
    was_training = model.training
    model.eval()
    encoded = [prompt_ids(tokenizer, p) for p in prompts for _ in range(k)]
    ids, mask = _pad(encoded, tokenizer.pad_token_id, left=True)
    with autocast(device, dtype):
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                             max_new_tokens=max_new_tokens, do_sample=True,
                             temperature=temperature, top_p=top_p, top_k=None,
                             pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id,
                             return_dict_in_generate=True, output_logits=logps)
    model.train(was_training)
    new = out.sequences[:, ids.shape[1]:]
    responses = []
    for row in new.tolist():
        end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else None
        responses.append(row[:end] or [tokenizer.eos_token_id])
    if not logps:
        return encoded, responses, None
    logits = torch.stack(out.logits, 1).float()
    token_logps = torch.log_softmax(logits, -1).gather(-1, new[..., None])[..., 0].tolist()
    return encoded, responses, [t[:len(r)] for t, r in zip(token_logps, responses,
                                                            strict=True)]


def pad_right(rows: list, width: int) -> torch.Tensor:
    """Per-token values as an ``(n, width)`` tensor, zeros after each row."""
    out = torch.zeros((len(rows), width))
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


def response_logps(model, input_ids, attention_mask, n_response: int, hidden=False):
    """Log-probability of each response token, ``(n, T)``; with ``hidden``, also the
    last layer's states at the positions that predict them, ``(n, T, width)``.

    Only the last ``T + 1`` positions get vocabulary logits (``logits_to_keep``).
    """
    out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                logits_to_keep=n_response + 1, output_hidden_states=hidden)
    logits = out.logits[:, :-1].float()
    targets = input_ids[:, -n_response:]
    logps = -F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    if not hidden:
        return logps
    return logps, out.hidden_states[-1][:, -n_response - 1:-1]


class OnlinePolicyModule(nn.Module):
    """A policy (and optionally a value head) returning ``(n, T, 2)``: per response
    token, its log-probability and the value of the state before it (0 without head).

    The value head reads the policy's last hidden states *detached*: the value loss
    trains the head alone and never moves the policy's weights, so the policy's
    gradient is the clipped surrogate's only (InstructGPT kept a separate value
    model; sharing the backbone this way costs one linear layer, not a model).
    """

    def __init__(self, model, value_head: nn.Module | None = None):
        super().__init__()
        self.model, self.head = model, value_head

    def forward(self, input_ids, attention_mask, response_mask):
        n_response = response_mask.shape[1]
        if self.head is None:
            logps = response_logps(self.model, input_ids, attention_mask, n_response)
            return torch.stack([logps, torch.zeros_like(logps)], -1)
        logps, states = response_logps(self.model, input_ids, attention_mask, n_response,
                                       hidden=True)
        values = self.head(states.detach().float()).squeeze(-1)
        return torch.stack([logps, values], -1)


class RolloutDataset(torch.utils.data.Dataset):
    """A rollout as training items: ``({"prompt", "response"}, per-token targets)``."""

    def __init__(self, prompts, responses, targets, mask):
        lengths = mask.sum(1).long().tolist()
        self.items = [({"prompt": p, "response": r}, targets[i, :lengths[i]].cpu().numpy())
                      for i, (p, r) in enumerate(zip(prompts, responses, strict=True))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


class RolloutCollator:
    """Batch rollout items in the layout above; targets padded with zeros (mask 0)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items):
        features = batch_inputs([f["prompt"] for f, _ in items],
                                [f["response"] for f, _ in items], self.pad_id)
        width = features["response_mask"].shape[1]
        targets = np.zeros((len(items), width, items[0][1].shape[1]), dtype=np.float32)
        for i, (_, t) in enumerate(items):
            targets[i, :len(t)] = t
        return features, torch.from_numpy(targets)
