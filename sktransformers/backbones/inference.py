"""Batched inference: the one loop that runs a module over tokenised texts."""

from __future__ import annotations

import numpy as np
import torch

from ..core.device import autocast
from ..core.progress import progress_bar
from .text import Collator, length_sorted_batches


@torch.inference_mode()
def run_module(module, tokenizer, encodings, *, batch_size, device, dtype, verbose=0, desc="",
               collate=None):
    """Run ``module`` over ``encodings`` and return its outputs in input order.

    Texts are processed longest first in batches padded to their own longest text,
    so padding costs little; outputs are written back to their original rows.

    ``collate`` batches items (default: :class:`Collator` of ``tokenizer``).

    Returns
    -------
    out : ndarray of shape (n_texts, n_outputs), float32
    """
    was_training = module.training
    module.eval()
    collate = collate or Collator(tokenizer)
    out = None
    batches = length_sorted_batches(encodings, batch_size)
    total = -(-len(encodings) // batch_size)
    for idx, items in progress_bar(batches, total=total, verbose=verbose, desc=desc):
        batch, _ = collate(items)
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, dtype):
            result = module(**batch)
        result = result.float().cpu().numpy()
        if out is None:
            out = np.empty((len(encodings), result.shape[1]), dtype=np.float32)
        out[idx] = result
    module.train(was_training)
    return out
