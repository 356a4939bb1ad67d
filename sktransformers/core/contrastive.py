"""The contrastive objective: sentence vectors of a class drawn together, of two apart.

SetFit (Tunstall et al., 2022) fine-tunes a sentence encoder on pairs built from
the labels: a pair of texts of the same class should have cosine similarity 1, a
pair of different classes 0 (sentence-transformers' ``CosineSimilarityLoss``); a
logistic regression on the tuned vectors then predicts. It draws the pairs ahead
of training and encodes both texts of every pair, so each text is encoded once
per pair it is in.

Here the pairs are formed inside each batch: a batch of ``B`` texts is encoded
once and all of its ``B (B - 1)`` ordered pairs enter the loss. The loss of each
text is the mean squared error of its similarities to the other texts of the
batch, averaged over its positives and over its negatives apart and the two
halves weighed equally (SetFit's sampler draws as many negative pairs as positive
ones). Multi-label texts count as positives when they share a label.
"""

from __future__ import annotations

import torch
from torch import nn


class InBatchCosineLoss(nn.Module):
    """Per-text loss: ``(cos(u_i, u_j) - same(i, j))²`` over the other texts ``j`` of the batch.

    Parameters
    ----------
    multilabel : bool, default=False
        Targets are indicator rows (two texts are alike when they share a label)
        instead of class indices.
    """

    def __init__(self, multilabel: bool = False):
        super().__init__()
        self.multilabel = multilabel

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        unit = nn.functional.normalize(embeddings.float(), dim=-1)
        similarity = unit @ unit.T
        if self.multilabel:
            targets = targets.float()
            same = (targets @ targets.T) > 0
        else:
            same = targets[:, None] == targets[None, :]
        others = ~torch.eye(len(unit), dtype=torch.bool, device=unit.device)
        positive, negative = (same & others).float(), (~same & others).float()
        pos_loss = ((similarity - 1) ** 2 * positive).sum(1) / positive.sum(1).clamp(min=1)
        neg_loss = (similarity ** 2 * negative).sum(1) / negative.sum(1).clamp(min=1)
        has_pos, has_neg = positive.sum(1) > 0, negative.sum(1) > 0
        total = pos_loss * has_pos + neg_loss * has_neg
        return total / (has_pos.float() + has_neg.float()).clamp(min=1)


class Contrastive:
    """The contrastive objective as a task of the training core.

    The module trained is the encoder alone (its outputs are the pooled vectors);
    ``targets`` are the classification task's encoded labels.

    Parameters
    ----------
    multilabel : bool, default=False
        Indicator targets (see :class:`InBatchCosineLoss`).
    """

    kind = "contrastive"

    def __init__(self, multilabel: bool = False):
        self.multilabel = multilabel

    def criterion(self) -> nn.Module:
        return InBatchCosineLoss(self.multilabel)

    def stratify(self, targets):
        return None


class InBatchRankingLoss(nn.Module):
    """Per-pair loss: each relevant (query, document) pair's document ranked first.

    The retrieval form of the contrastive objective (sentence-transformers'
    ``MultipleNegativesRankingLoss``, Henderson et al. 2017): for every pair labelled
    relevant, a softmax over ``scale * cos(query, d)`` for every document ``d`` of the
    batch should pick its own document. The other pairs' documents, the hard negatives
    of pairs labelled 0 included, are its negatives. The inputs are a siamese
    encoder's pair features ``[u, v, |u - v|, u * v]``; pairs labelled 0 lose nothing
    themselves, and the mean over the batch is the mean over its relevant pairs.

    Parameters
    ----------
    scale : float, default=20.0
        Inverse temperature of the softmax (sentence-transformers' default).
    """

    def __init__(self, scale: float = 20.0):
        super().__init__()
        self.scale = scale

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        width = features.shape[1] // 4
        query = nn.functional.normalize(features[:, :width].float(), dim=-1)
        document = nn.functional.normalize(features[:, width:2 * width].float(), dim=-1)
        logits = self.scale * query @ document.T
        own = torch.arange(len(features), device=features.device)
        losses = nn.functional.cross_entropy(logits, own, reduction="none")
        relevant = (targets == 1).float()
        return losses * relevant * len(relevant) / relevant.sum().clamp(min=1)


class InBatchRanking:
    """The ranking objective as a task of the training core (text pairs, labels 0/1).

    The module trained is a siamese encoder (its outputs are pair features); the
    targets are the classification task's encoded labels, 1 for relevant.

    Parameters
    ----------
    scale : float, default=20.0
        See :class:`InBatchRankingLoss`.
    """

    kind = "contrastive"

    def __init__(self, scale: float = 20.0):
        self.scale = scale

    def criterion(self) -> nn.Module:
        return InBatchRankingLoss(self.scale)

    def stratify(self, targets):
        return None
