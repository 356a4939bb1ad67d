"""Tokenisation, per-batch padding and length-grouped / length-sorted batching."""

from __future__ import annotations

import numpy as np
import torch

from sktransformers.backbones.loading import load_tokenizer
from sktransformers.backbones.text import (
    Collator,
    LengthGroupedBatches,
    TextDataset,
    length_sorted_batches,
    tokenize,
)


def test_tokenize_once_without_padding_and_truncates(tiny_bert):
    tok = load_tokenizer(tiny_bert)
    enc = tokenize(tok, ["good", "good film " * 50], max_length=10)
    assert [len(e["input_ids"]) for e in enc] == [3, 10]
    assert set(enc[0]) == {"input_ids", "attention_mask"}


def test_collator_pads_to_longest_in_batch_and_carries_weights(tiny_bert):
    tok = load_tokenizer(tiny_bert)
    data = TextDataset(tokenize(tok, ["good", "a very bad film"], 16), y=[1, 0],
                       sample_weight=np.array([0.5, 2.0], dtype=np.float32))
    batch, target = Collator(tok)([data[0], data[1]])
    assert batch["input_ids"].shape == (2, 6)
    assert batch["attention_mask"].sum(1).tolist() == [3, 6]
    assert torch.equal(target, torch.tensor([1, 0]))
    assert batch["sample_weight"].tolist() == [0.5, 2.0]


def test_length_sorted_batches_cover_every_text_once():
    enc = [{"input_ids": [0] * n} for n in (3, 9, 1, 7, 5)]
    batches = list(length_sorted_batches(enc, 2))
    order = np.concatenate([idx for idx, _ in batches])
    assert sorted(order.tolist()) == [0, 1, 2, 3, 4]
    assert [len(enc[i]["input_ids"]) for i in order] == [9, 7, 5, 3, 1]


def test_length_grouped_batches_are_a_seeded_shuffled_partition():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    sampler = LengthGroupedBatches(lengths, batch_size=16,
                                   generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_batches = np.array_split(rng.permutation(1000), 63)
    padded_random = sum(len(b) * lengths[b].max() for b in random_batches)
    assert padded < 0.7 * padded_random  # far less padding than plain shuffling
    again = list(LengthGroupedBatches(lengths, 16, generator=torch.Generator().manual_seed(0)))
    assert again == batches
    assert list(sampler) != batches  # a new order every epoch
