"""A causal LM as a policy: prompt/completion tokens, completion log-probabilities, generation.

Conventions (the ones preference-tuning libraries use, and tested here):

- a prompt is wrapped in the tokenizer's chat template as a user turn followed by
  the assistant's turn opener (``add_generation_prompt``); without a template it
  is tokenised as is;
- a completion is the response's tokens followed by the EOS token (for chat models
  the end-of-turn token), so the policy learns to stop;
- only completion tokens count in a sequence's log-probability: prompt tokens are
  masked out (``completion_mask``);
- training batches are padded on the right, generation batches on the left.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..core.device import autocast
from .text import encode


def prompt_ids(tokenizer, prompt: str, chat: bool = True) -> list[int]:
    """The tokens a completion of ``prompt`` follows (chat template, assistant turn open;
    with ``chat=False`` the text itself, continued as a plain language model would)."""
    if chat and tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             tokenize=False, add_generation_prompt=True)
        return encode(tokenizer, text, add_special_tokens=False)["input_ids"]
    return encode(tokenizer, prompt)["input_ids"]


def completion_ids(tokenizer, completion: str) -> list[int]:
    """The tokens of ``completion`` followed by EOS."""
    ids = encode(tokenizer, completion, add_special_tokens=False)["input_ids"]
    return ids + [tokenizer.eos_token_id]


def tokenize_pairs(tokenizer, prefs, max_length: int, max_prompt_length: int) -> list[dict]:
    """Each preference pair as an item of two sequences ``{"windows": [chosen, rejected]}``.

    A sequence is ``prompt + completion`` with a ``completion_mask`` marking the
    completion. A long prompt keeps its last ``max_prompt_length`` tokens (the part
    nearest the response); a completion is cut so the sequence fits ``max_length``.
    """
    items = []
    for prompt, chosen, rejected in zip(prefs.prompts, prefs.chosen, prefs.rejected,
                                        strict=True):
        p = prompt_ids(tokenizer, prompt)
        p = p[len(p) - min(len(p), max_prompt_length, max_length - 1):]
        items.append({"windows": [_sequence(p, completion_ids(tokenizer, c), max_length)
                                  for c in (chosen, rejected)]})
    return items


def _sequence(prompt: list, completion: list, max_length: int) -> dict:
    completion = completion[: max_length - len(prompt)]
    return {"input_ids": prompt + completion,
            "completion_mask": [0] * len(prompt) + [1] * len(completion)}


class PolicyCollator:
    """Right-pad sequences; items of several sequences get ``window_doc`` (their item)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, items):
        rows = [w for features, _ in items for w in features["windows"]]
        owner = [i for i, (features, _) in enumerate(items) for _ in features["windows"]]
        width = max(len(r["input_ids"]) for r in rows)
        batch = {"input_ids": torch.full((len(rows), width), self.pad_id, dtype=torch.long),
                 "attention_mask": torch.zeros((len(rows), width), dtype=torch.long),
                 "completion_mask": torch.zeros((len(rows), width), dtype=torch.long)}
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            batch["input_ids"][i, :n] = torch.tensor(row["input_ids"])
            batch["attention_mask"][i, :n] = 1
            batch["completion_mask"][i, :n] = torch.tensor(row["completion_mask"])
        batch["window_doc"] = torch.tensor(owner, dtype=torch.long)
        targets = torch.as_tensor(np.asarray([t for _, t in items], dtype=np.float32))
        return batch, targets


def sequence_logps(model, input_ids, attention_mask, completion_mask) -> torch.Tensor:
    """Summed log-probability of each sequence's completion tokens, shape ``(n,)``.

    The vocabulary projection runs only from the first position that predicts a
    completion token in the batch onwards (``logits_to_keep``): prompt positions before
    it need no logits, which saves most of the memory of full-vocabulary logits.
    """
    predicts = completion_mask[:, 1:].bool().any(0)
    start = int(predicts.nonzero()[0]) if predicts.any() else input_ids.shape[1] - 1
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
    try:
        logits = model(**kwargs, logits_to_keep=input_ids.shape[1] - start).logits
    except TypeError:  # a model without ``logits_to_keep``
        logits = model(**kwargs).logits[:, start:]
    token_logps = -F.cross_entropy(logits[:, :-1].float().transpose(1, 2),
                                   input_ids[:, start + 1:], reduction="none")
    return (token_logps * completion_mask[:, start + 1:]).sum(1)


class PolicyModule(nn.Module):
    """A causal LM returning the completion log-probabilities of each item's sequences."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, completion_mask, window_doc):
        logps = sequence_logps(self.model, input_ids, attention_mask, completion_mask)
        return logps.view(int(window_doc[-1]) + 1, -1)


@torch.inference_mode()
def generate(model, tokenizer, prompts: list, *, max_new_tokens: int, do_sample: bool,
             temperature: float, top_p: float, batch_size: int, device, dtype,
             chat: bool = True) -> list[str]:
    """Generate a response to each prompt (left-padded batches); return the decoded texts.

    ``chat=False`` continues each prompt as plain text (no chat template).
    """
    was_training = model.training
    model.eval()
    encoded = [prompt_ids(tokenizer, p, chat) for p in prompts]
    out = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(c)) + c for c in chunk])
        mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
        options = {"do_sample": True, "temperature": temperature, "top_p": top_p} if (
            do_sample) else {"do_sample": False, "temperature": None, "top_p": None,
                             "top_k": None}
        with autocast(device, dtype):
            new = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max_new_tokens,
                                 pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id, **options)[:, width:]
        out += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]
    model.train(was_training)
    return out
