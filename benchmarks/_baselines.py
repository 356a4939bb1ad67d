"""The established ways of doing each job, written as their users write them.

- a minimal hand-written PyTorch loop (backbone + mean pooling + linear head),
- the transformers ``Trainer`` on ``AutoModelForSequenceClassification``
  (optionally wrapped by PEFT LoRA),
- the same head trained while re-running the frozen backbone every epoch,
- transformers ``pipeline("text-classification")`` for prediction.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)


def _encodings(tokenizer, texts, max_length, labels=None):
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    rows = [{"input_ids": i, "attention_mask": m}
            for i, m in zip(enc["input_ids"], enc["attention_mask"], strict=True)]
    if labels is not None:
        for row, label in zip(rows, labels, strict=True):
            row["labels"] = int(label)
    return rows


class MeanPoolClassifier(nn.Module):
    """Backbone + masked mean pooling + dropout + linear head (as in our estimators)."""

    def __init__(self, path, n_classes):
        super().__init__()
        self.backbone = AutoModel.from_pretrained(path)
        self.head = nn.Sequential(nn.Dropout(0.1),
                                  nn.Linear(self.backbone.config.hidden_size, n_classes))

    def embed(self, input_ids, attention_mask):
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        mask = attention_mask.unsqueeze(-1).float()
        return (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def forward(self, input_ids, attention_mask):
        return self.head(self.embed(input_ids, attention_mask))


def _loader(tokenizer, rows, batch_size, shuffle, seed):
    collate = DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(rows, batch_size=batch_size, shuffle=shuffle,
                                       collate_fn=collate, generator=generator)


def hand_loop_finetune(path, X, y, X_test, *, epochs, batch_size, max_length, lr, seed,
                       device="cpu"):
    """Full fine-tuning with a plain PyTorch loop; returns (train seconds, test predictions)."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = MeanPoolClassifier(path, int(np.max(y)) + 1).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    start = time.perf_counter()
    loader = _loader(tokenizer, _encodings(tokenizer, X, max_length, y), batch_size, True, seed)
    model.train()
    for _ in range(epochs):
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = nn.functional.cross_entropy(
                model(batch["input_ids"], batch["attention_mask"]), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    seconds = time.perf_counter() - start
    return seconds, _predict(model, tokenizer, X_test, batch_size, max_length, device)


@torch.inference_mode()
def _predict(model, tokenizer, texts, batch_size, max_length, device):
    model.eval()
    loader = _loader(tokenizer, _encodings(tokenizer, texts, max_length), batch_size, False, 0)
    return np.concatenate([
        model(b["input_ids"].to(device), b["attention_mask"].to(device)).argmax(1).cpu().numpy()
        for b in loader
    ])


#: The Trainer at its best on a CPU, beside its defaults: batches of similar lengths
#: (less padding), the fused AdamW kernel, and PyTorch's fused attention (SDPA, also
#: the default of transformers 5). ``torch.compile`` is not among them: on 2 CPU cores
#: it made the tuned Trainer slower (``bench_training.py --with-compiled`` measures it).
TUNED_TRAINER = {"train_sampling_strategy": "group_by_length", "optim": "adamw_torch_fused"}


def trainer_finetune(path, X, y, X_test, *, epochs, batch_size, max_length, lr, seed,
                     lora_r=None, device="cpu", tuned=False, compiled=False):
    """Fine-tune with ``transformers.Trainer`` (optionally PEFT LoRA); ``tuned`` adds
    :data:`TUNED_TRAINER` to its arguments, ``compiled`` its ``torch_compile=True``.

    Returns (train seconds, test predictions).
    """
    tokenizer = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=int(np.max(y)) + 1, **({"attn_implementation": "sdpa"} if tuned else {}))
    if lora_r is not None:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(
            task_type=TaskType.SEQ_CLS, r=lora_r, lora_alpha=16, lora_dropout=0.1,
            target_modules=["query", "value"]))
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=batch_size, learning_rate=lr, weight_decay=0.01,
            max_grad_norm=1.0, lr_scheduler_type="constant", warmup_steps=0, seed=seed,
            save_strategy="no", logging_strategy="no", report_to=[],
            disable_tqdm=True, use_cpu=device == "cpu", **(TUNED_TRAINER if tuned else {}),
            torch_compile=compiled,
        )
        trainer = Trainer(model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer),
                          train_dataset=_encodings(tokenizer, X, max_length, y))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        # transformers 5 groups evaluation batches by length too, in a shuffled order:
        # predictions must come back in the order of the test texts
        trainer.args.train_sampling_strategy = "random"
        logits = trainer.predict(_encodings(tokenizer, X_test, max_length)).predictions
    return seconds, np.asarray(logits).argmax(1)


def rerun_backbone_head(path, X, y, X_test, *, epochs, batch_size, max_length, lr, seed,
                        device="cpu"):
    """Train only the head, running the frozen backbone on every batch of every epoch."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = MeanPoolClassifier(path, int(np.max(y)) + 1).to(device)
    model.backbone.requires_grad_(False).eval()
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=lr)
    start = time.perf_counter()
    loader = _loader(tokenizer, _encodings(tokenizer, X, max_length, y), batch_size, True, seed)
    for _ in range(epochs):
        model.head.train()
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.no_grad():
                features = model.embed(batch["input_ids"], batch["attention_mask"])
            loss = nn.functional.cross_entropy(model.head(features), batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    return seconds, _predict(model, tokenizer, X_test, batch_size, max_length, device)


def _product_seconds(a, b, repeats: int) -> float:
    """Median seconds of ``a @ b`` over ``repeats`` products, after one warm-up."""
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """This host's fp32 matrix-product speed (GFLOP/s, median of ``repeats`` products of
    two ``size`` x ``size`` matrices): the bound that training's FLOPs are set against."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / _product_seconds(a, b, repeats) / 1e9


def layer_gemm_gflops(rows: int, hidden: int, intermediate: int, repeats: int = 30) -> float:
    """fp32 GFLOP/s of one transformer layer's weight products at ``rows`` tokens per
    batch, forward and backward (``x @ W``, ``dy @ W.T``, ``x.T @ dy`` for the four
    attention projections and the two feed-forward ones): the matrix-product speed that
    training on these shapes could reach if nothing else took time."""
    flops = seconds = 0.0
    for k, n, count in ((hidden, hidden, 4), (hidden, intermediate, 1),
                        (intermediate, hidden, 1)):
        for a, b in ((torch.randn(rows, k), torch.randn(k, n)),
                     (torch.randn(rows, n), torch.randn(k, n).t()),
                     (torch.randn(rows, k).t(), torch.randn(rows, n))):
            flops += count * 2 * a.shape[0] * a.shape[1] * b.shape[1]
            seconds += count * _product_seconds(a, b, repeats)
    return flops / seconds / 1e9


def n_tokens(path, texts, max_length) -> int:
    """Tokens the backbone reads for ``texts`` (each cut to ``max_length``)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    return sum(len(ids) for ids in tokenizer(list(texts), truncation=True,
                                               max_length=max_length)["input_ids"])


def non_embedding_params(path) -> int:
    """Parameters of the backbone outside its embedding tables."""
    model = AutoModel.from_pretrained(path)
    return sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
