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


def make_tiny_bert(folder, max_position_embeddings=512, dropout=0.1) -> str:
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
        max_position_embeddings=max_position_embeddings,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _word_level_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokens = ["<pad>", "<unk>", "<s>", "</s>", *WORDS, *list("abcdefghijklmnopqrstuvwxyz"),
              ":", "?", ".", ",", "!", "'", "\n", "n/a", "review", "sentiment", "positive",
              "negative", "neutral", "label", "text", "answer"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")


def make_tiny_llama(folder) -> str:
    """Save a 2-layer, 32-wide Llama (grouped-query attention) with a word-level tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _word_level_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
