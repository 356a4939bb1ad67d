"""Text handling: tokenise once, pad per batch, sort by length for inference."""

from __future__ import annotations

import threading

import numpy as np
import torch

#: A fast tokenizer keeps its truncation settings in shared state that every call
#: rewrites, so two threads tokenising at once (joblib's threading backend, two
#: estimators sharing one cached tokenizer) can cut each other's texts. Calls go
#: through :func:`encode`, one at a time.
_TOKENIZER_LOCK = threading.Lock()


def encode(tokenizer, *args, **kwargs):
    """``tokenizer(*args, **kwargs)``, safe to call from several threads."""
    with _TOKENIZER_LOCK:
        return tokenizer(*args, **kwargs)


def tokenize(tokenizer, texts: list, max_length: int, stride: int | None = None,
             pair_encoding: str = "cross") -> list[dict]:
    """Tokenise all ``texts`` in one call of the fast tokenizer, without padding.

    Parameters
    ----------
    tokenizer : fast tokenizer
    texts : list of str, or list of (str, str) pairs
        Pairs are encoded as the backbone expects them (``[CLS] a [SEP] b [SEP]`` with
        token type ids for BERT-family tokenizers); truncation takes from the longer
        text first.
    max_length : int
    stride : int or None, default=None
        ``None`` truncates each text to ``max_length`` tokens. An int splits texts
        longer than that into windows of ``max_length`` tokens overlapping by
        ``stride`` tokens; each item is then ``{"windows": [encoding, ...]}``.
    pair_encoding : {"cross", "bi"}, default="cross"
        ``"bi"`` tokenises the two texts of a pair separately, as an item of two
        windows ``{"windows": [a, b]}`` (each text cut to ``max_length``).

    Returns
    -------
    encodings : list of dict
        One dict of token-id lists per text; padding happens per batch in
        :class:`Collator`, so short batches stay short.
    """
    pairs = bool(texts) and isinstance(texts[0], tuple)
    if pairs and pair_encoding == "bi":
        sides = [tokenize(tokenizer, [pair[i] for pair in texts], max_length) for i in (0, 1)]
        return [{"windows": [a, b]} for a, b in zip(*sides, strict=True)]
    args = ([a for a, _ in texts], [b for _, b in texts]) if pairs else (list(texts),)
    options = {}
    if stride is not None:
        if pairs:
            raise ValueError("long_text='chunk' splits single texts into windows; text pairs "
                             "are truncated. Use long_text='truncate' for pairs.")
        room = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        if not 0 <= stride < room:
            raise ValueError(
                f"stride={stride} must be at least 0 and smaller than the {room} text tokens "
                f"a window holds at max_length={max_length}; lower stride or raise max_length."
            )
        options = {"return_overflowing_tokens": True, "stride": stride}
    enc = encode(tokenizer, *args, truncation="longest_first" if pairs else True,
                    max_length=max_length, padding=False, return_attention_mask=True,
                    **options)
    # single texts use segment 0 (the models' default); pairs keep their segment ids
    keys = ["input_ids", "attention_mask"]
    if pairs and "token_type_ids" in enc:
        keys.append("token_type_ids")
    rows = [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
    if stride is None:
        return rows
    windows = [{"windows": []} for _ in texts]
    for row, owner in zip(rows, enc["overflow_to_sample_mapping"], strict=True):
        windows[owner]["windows"].append(row)
    return windows


#: Token counts are taken without a length cap (and without the tokenizer's warning).
_NO_LIMIT = 10**7


def tokenize_responses(tokenizer, prompts: list, responses: list, max_length: int) -> list[dict]:
    """Tokenise responses to prompts the way the backbone reads a (prompt, response) pair.

    Encoders with a separator token get ``[CLS] prompt [SEP] response [SEP]`` (with
    token type ids where the model has them); a prompt too long to fit keeps its
    *end*, the part nearest the response, and a long response keeps its start. Causal
    LMs get the chat template (user prompt, assistant response) when the tokenizer has
    one, else ``prompt + "\n\n" + response``, cut from the left to ``max_length``.
    An empty prompt means the response alone.
    """
    if tokenizer.sep_token is None:
        return [_causal_pair(tokenizer, p, r, max_length)
                for p, r in zip(prompts, responses, strict=True)]
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    n_response = [len(ids) for ids in encode(tokenizer, responses, add_special_tokens=False,
                                                truncation=True, max_length=_NO_LIMIT)[
        "input_ids"]]
    cut = [_keep_end(tokenizer, p, max(room - n, room // 2)) if p else p
           for p, n in zip(prompts, n_response, strict=True)]
    paired = [i for i, p in enumerate(cut) if p]
    single = [r for p, r in zip(cut, responses, strict=True) if not p]
    rows = tokenize(tokenizer, single, max_length) if single else []
    if paired:
        pair_rows = tokenize(tokenizer, [(cut[i], responses[i]) for i in paired], max_length)
        out, rest = [None] * len(responses), iter(rows)
        for i, row in zip(paired, pair_rows, strict=True):
            out[i] = row
        if "token_type_ids" in pair_rows[0]:  # one batch may mix both kinds
            for row in rows:
                row["token_type_ids"] = [0] * len(row["input_ids"])
        return [row if row is not None else next(rest) for row in out]
    return rows


def _keep_end(tokenizer, text: str, n_tokens: int) -> str:
    """The end of ``text`` that holds its last ``n_tokens`` tokens."""
    offsets = encode(tokenizer, text, add_special_tokens=False, truncation=True,
                     max_length=_NO_LIMIT, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= n_tokens:
        return text
    return text[offsets[len(offsets) - max(n_tokens, 1)][0]:]


def _causal_pair(tokenizer, prompt: str, response: str, max_length: int) -> dict:
    if prompt and tokenizer.chat_template:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
            tokenize=False)
    else:
        text = f"{prompt}\n\n{response}" if prompt else response
    ids = encode(tokenizer, text, add_special_tokens=not (prompt and tokenizer.chat_template),
                    truncation=True, max_length=_NO_LIMIT)["input_ids"][-max_length:]
    return {"input_ids": ids, "attention_mask": [1] * len(ids)}


def n_tokens(encoding: dict) -> int:
    """Tokens in one tokenised text (summed over its windows)."""
    if "windows" in encoding:
        return sum(len(w["input_ids"]) for w in encoding["windows"])
    return len(encoding["input_ids"])


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
    """Pad a list of ``(features, target)`` items to the longest one in the batch.

    Items holding windows of a long text are flattened into one batch of windows,
    with ``window_doc`` giving the item each window belongs to. Targets keep their
    dtype: class indices become ``long``, multi-label rows and regression values
    ``float32``.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, items):
        features = [dict(f) for f, _ in items]
        weights = [f.pop("sample_weight") for f in features if "sample_weight" in f]
        if features and "windows" in features[0]:
            windows = [w for f in features for w in f["windows"]]
            owner = [i for i, f in enumerate(features) for _ in f["windows"]]
            batch = dict(self.tokenizer.pad(windows, padding=True, return_tensors="pt"))
            batch["window_doc"] = torch.tensor(owner, dtype=torch.long)
        else:
            batch = dict(self.tokenizer.pad(features, padding=True, return_tensors="pt"))
        if weights:
            batch["sample_weight"] = torch.tensor(weights, dtype=torch.float32)
        targets = np.asarray([t for _, t in items])
        if targets.dtype.kind == "f":
            targets = targets.astype(np.float32)
        return batch, torch.as_tensor(targets)


def length_sorted_batches(encodings, batch_size: int):
    """Yield ``(indices, items)`` batches of similar length, longest first.

    Sorting by length before padding means most batches carry little padding;
    callers put the outputs back in input order with the indices.
    """
    lengths = np.fromiter((n_tokens(e) for e in encodings), dtype=np.int64)
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
        lengths = [n_tokens(e) for e in dataset.encodings]
        sampler = LengthGroupedBatches(lengths, batch_size)
        super().__init__(dataset, batch_sampler=sampler, **kwargs)
