"""Text handling: tokenise once, pad per batch, sort by length for inference."""

from __future__ import annotations

import numpy as np
import torch


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    """Tokenise all ``texts`` in one call of the fast tokenizer, without padding.

    Returns one dict of token-id lists per text; padding happens per batch in
    :class:`Collator`, so short batches stay short.
    """
    enc = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=True,
    )
    # token_type_ids are left out: single texts use segment 0, the models' default.
    ids, mask = enc["input_ids"], enc["attention_mask"]
    return [{"input_ids": ids[i], "attention_mask": mask[i]} for i in range(len(texts))]


class TextDataset(torch.utils.data.Dataset):
    """Tokenised texts with optional targets and per-sample weights (a skorch dataset).

    Items are ``(features, target)`` where ``features`` holds the token ids and,
    when weights are given, a ``sample_weight`` entry.
    """

    def __init__(self, encodings, y=None, sample_weight=None):
        self.encodings = encodings
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self):
        return len(self.encodings)

    def __getitem__(self, i):
        features = dict(self.encodings[i])
        if self.sample_weight is not None:
            features["sample_weight"] = self.sample_weight[i]
        target = -1 if self.y is None else self.y[i]
        return features, target


class Collator:
    """Pad a list of ``(features, target)`` items to the longest one in the batch."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, items):
        features = [dict(f) for f, _ in items]
        weights = [f.pop("sample_weight") for f in features if "sample_weight" in f]
        batch = dict(self.tokenizer.pad(features, padding=True, return_tensors="pt"))
        if weights:
            batch["sample_weight"] = torch.tensor(weights, dtype=torch.float32)
        targets = torch.tensor([t for _, t in items], dtype=torch.long)
        return batch, targets


def length_sorted_batches(encodings, batch_size: int):
    """Yield ``(indices, items)`` batches of similar length, longest first.

    Sorting by length before padding means most batches carry little padding;
    callers put the outputs back in input order with the indices.
    """
    lengths = np.fromiter((len(e["input_ids"]) for e in encodings), dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield idx, [(encodings[i], -1) for i in idx]


class LengthGroupedBatches(torch.utils.data.Sampler):
    """Shuffled batches of similar-length texts, so training pads little.

    Each epoch the texts are shuffled, cut into groups of ``group`` batches,
    each group sorted by length and cut into batches, and the batch order is
    shuffled. Randomness comes from torch's generator (seeded by
    ``random_state``). This is what ``group_by_length`` does in the
    transformers Trainer, on by default here.
    """

    def __init__(self, lengths, batch_size: int, group: int = 50, generator=None):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.group = group
        self.generator = generator

    def __len__(self):
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.lengths), generator=self.generator).numpy()
        span = self.batch_size * self.group
        batches = []
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size].tolist()
                        for i in range(0, len(chunk), self.batch_size)]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]


class LengthGroupedLoader(torch.utils.data.DataLoader):
    """A training ``DataLoader`` over a :class:`TextDataset` with length-grouped batches.

    Accepts skorch's ``batch_size`` and ``shuffle`` arguments (``shuffle`` is
    implied by the sampler).
    """

    def __init__(self, dataset, batch_size=32, shuffle=True, **kwargs):
        lengths = [len(e["input_ids"]) for e in dataset.encodings]
        sampler = LengthGroupedBatches(lengths, batch_size)
        super().__init__(dataset, batch_sampler=sampler, **kwargs)
