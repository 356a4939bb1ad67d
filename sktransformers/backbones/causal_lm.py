"""Causal language models: loading (GGUF converted once and cached) and label scoring.

Scoring computes, for every query and every label, the summed log-probability
of the label's tokens given ``prefix + query``. The shared prefix (instruction
and demonstrations) runs through the model once; its key/value cache is then
reused by every (query, label) pair, and all pairs of a batch go through the
model in one forward pass.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..core.device import autocast
from ..core.progress import progress_bar
from .loading import cache_argument, models
from .packaged import quiet_loading


def load_causal_lm(path: str, device: str = "cpu"):
    """A shared causal LM on ``device``, in eval mode with frozen weights (loaded once).

    Each device gets its own copy, so one estimator never moves another's model.
    """
    def make():
        from transformers import AutoModelForCausalLM

        with quiet_loading(path):
            model = AutoModelForCausalLM.from_pretrained(path)
        return model.eval().requires_grad_(False).to(device)

    return models.get("causal_lm", path, make, str(device))


def load_policy(path: str):
    """A fresh, trainable copy of the causal LM at ``path`` (for preference tuning)."""
    from transformers import AutoModelForCausalLM

    with quiet_loading(path):
        return AutoModelForCausalLM.from_pretrained(path)


def _prefix_kv(model, prefix_ids, device, dtype):
    """Run the shared prefix once; return its per-layer (key, value) tensors."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    ids = torch.tensor([prefix_ids], device=device)
    with autocast(device, dtype):
        model(input_ids=ids, **{cache_argument(model): cache}, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers]


def _padded(seqs, pad_id):
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


@functools.cache
def _keeps_logits(model_class) -> bool:
    """Whether the model's ``forward`` takes ``logits_to_keep`` (looked up once per class)."""
    import inspect

    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def _logit_rows(model, rows):
    """``logits_to_keep`` for the positions whose logits are read (all when unsupported)."""
    if not _keeps_logits(type(model)):
        return {}, None
    keep = torch.tensor(sorted(set(rows)))
    return {"logits_to_keep": keep}, {int(p): i for i, p in enumerate(keep)}


def _forward(model, kv, n_prefix, seqs, pad_id, device, dtype, read=None):
    """Logits of right-padded ``seqs`` that continue the cached prefix ``kv``.

    ``read``: the positions whose logits are needed; the output then holds those
    columns only (the vocabulary projection skips the rest) and a map from a
    position to its column.
    """
    from transformers import DynamicCache

    ids, mask = _padded(seqs, pad_id)
    kwargs, columns = _logit_rows(model, read) if read is not None else ({}, None)
    if kv is not None:
        kwargs[cache_argument(model)] = DynamicCache(
            [(k.expand(len(seqs), -1, -1, -1), v.expand(len(seqs), -1, -1, -1)) for k, v in kv],
            config=model.config)
        mask = torch.cat([torch.ones(len(seqs), n_prefix, dtype=torch.long), mask], 1)
    with autocast(device, dtype):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       use_cache=kv is not None, **kwargs).logits
    if columns is None:
        columns = {p: p for p in range(ids.shape[1])}
    return logits, columns


@torch.inference_mode()
def score_labels(model, prefix_ids, queries, labels, *, batch_size, device, dtype,
                 pad_id=0, verbose=0) -> np.ndarray:
    """Summed log-probabilities of each label's tokens after ``prefix + query``.

    When every label is one token, one forward pass per query scores all labels
    (the next-token distribution at the query's last token). Otherwise every
    label's tokens are packed after the query in one sequence, each label seeing
    the query and its own earlier tokens only (a 4-D attention mask and explicit
    positions), so one forward pass still scores all labels of a query, however
    many tokens they have. Either way the shared prefix runs once and its
    key/value cache is reused; queries are batched.

    Parameters
    ----------
    model : causal LM
    prefix_ids : list of int
        Tokens shared by every query (may be empty).
    queries : list of list of int
        Each query's tokens (non-empty).
    labels : list of list of int
        Each label's continuation tokens (non-empty).
    verbose : int, default=0
        Progress bar over the batches (see :mod:`sktransformers._progress`).

    Returns
    -------
    scores : ndarray of shape (n_queries, n_labels)
    """
    kv = _prefix_kv(model, prefix_ids, device, dtype) if prefix_ids else None
    scores = np.zeros((len(queries), len(labels)))
    # batches of similar lengths waste little on padding
    order = sorted(range(len(queries)), key=lambda q: len(queries[q]))
    starts = range(0, len(order), batch_size)
    for start in progress_bar(starts, verbose=verbose, desc="scoring", unit="batch"):
        rows = order[start : start + batch_size]
        chunk = [queries[q] for q in rows]
        if all(len(label) == 1 for label in labels):
            scores[rows] = _score_next_token(model, kv, len(prefix_ids), chunk, labels, pad_id,
                                             device, dtype)
        else:
            scores[rows] = _score_packed(model, kv, len(prefix_ids), chunk, labels, pad_id,
                                         device, dtype)
    return scores


def _score_next_token(model, kv, n_prefix, queries, labels, pad_id, device, dtype):
    """Single-token labels: the next-token log-probabilities at each query's last token."""
    last = [len(q) - 1 for q in queries]
    logits, columns = _forward(model, kv, n_prefix, queries, pad_id, device, dtype, read=last)
    picked = logits[torch.arange(len(queries)), [columns[p] for p in last]].float()
    first = torch.tensor([label[0] for label in labels], device=picked.device)
    return torch.log_softmax(picked, dim=-1)[:, first].cpu().numpy()


def _packed_rows(query, labels):
    """One query with every label's continuation packed after it (a token tree).

    Returns the tokens, their positions, which earlier tokens each may attend to
    (the query causally; each label its query and its own earlier tokens, never
    another label), and for every label the rows whose logits predict its tokens.
    """
    tokens, positions = list(query), list(range(len(query)))
    owner = [-1] * len(query)  # -1: the query; j: label j
    reads = []
    for j, label in enumerate(labels):
        rows = [len(query) - 1]
        for i, token in enumerate(label[:-1]):
            rows.append(len(tokens))
            tokens.append(token)
            positions.append(len(query) + i)
            owner.append(j)
        reads.append(rows)
    owner = torch.tensor(owner)
    index = torch.arange(len(tokens))
    causal = index[None, :] <= index[:, None]
    same_branch = (owner[None, :] == -1) | (owner[None, :] == owner[:, None])
    return tokens, positions, causal & same_branch, reads


def _score_packed(model, kv, n_prefix, queries, labels, pad_id, device, dtype):
    """Scores of every label for a batch of queries, one forward pass for all of them."""
    from transformers import DynamicCache

    packed = [_packed_rows(q, labels) for q in queries]
    width = max(len(p[0]) for p in packed)
    ids = torch.full((len(packed), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(packed), width), dtype=torch.long)
    mask = torch.zeros((len(packed), 1, width, n_prefix + width), dtype=torch.bool)
    mask[:, :, :, :n_prefix] = True  # every row sees the prefix (padding too: no empty rows)
    for row, (tokens, pos, allowed, _) in enumerate(packed):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        positions[row, : len(tokens)] = torch.tensor(pos) + n_prefix
        mask[row, 0, : len(tokens), n_prefix : n_prefix + len(tokens)] = allowed
    if n_prefix == 0:  # padding rows must still attend to something
        mask[:, 0, torch.arange(width), torch.arange(width)] = True
    kwargs, columns = _logit_rows(model, [r for p in packed for rows in p[3] for r in rows])
    if columns is None:
        columns = {p: p for p in range(width)}
    if kv is not None:
        kwargs[cache_argument(model)] = DynamicCache(
            [(k.expand(len(packed), -1, -1, -1), v.expand(len(packed), -1, -1, -1))
             for k, v in kv], config=model.config)
    with autocast(device, dtype):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=positions.to(device), use_cache=kv is not None,
                       **kwargs).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1).cpu()
    scores = np.zeros((len(packed), len(labels)))
    for row, (_, _, _, reads) in enumerate(packed):
        for j, label in enumerate(labels):
            cols = [columns[r] for r in reads[j]]
            scores[row, j] = logprobs[row, cols, label].sum().item()
    return scores


@torch.inference_mode()
def score_labels_naively(model, prefix_ids, queries, labels, *, device) -> np.ndarray:
    """The reference: one full forward pass per (query, label), no cache, no batching."""
    scores = np.zeros((len(queries), len(labels)))
    for q, query in enumerate(queries):
        for j, label in enumerate(labels):
            ids = torch.tensor([prefix_ids + query + label], device=device)
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            start = len(prefix_ids) + len(query) - 1
            scores[q, j] = sum(logprobs[start + i, t].item() for i, t in enumerate(label))
    return scores
