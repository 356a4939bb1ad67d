"""Tiny random-weight models built from a config in a folder: fast, offline, deterministic."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "good great fine nice love happy best fun bad awful poor hate sad worst boring dull "
    "film movie plot actor story the a an is was it this that and but not very so really "
    "what who where when how why many much city name person place number year"
).split()


def _wordpiece_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokens += list("abcdefghijklmnopqrstuvwxyz0123456789?.,!'")
    tokens += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True)


def make_tiny_bert(folder) -> str:
    """Save a 2-layer, 32-wide BERT with a small WordPiece vocabulary into ``folder``."""
    import torch
    from transformers import BertConfig, BertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _wordpiece_tokenizer(folder)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
