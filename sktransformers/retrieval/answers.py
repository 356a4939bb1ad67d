"""Answer scoring as SQuAD does it: normalised tokens, F1 against the best reference."""

from __future__ import annotations

import re
import string
from collections import Counter

#: What an answer that abstains says (``abstain=True``); it matches an empty reference.
ABSTAIN = "not in the documents"


def normalize_answer(text: str) -> list[str]:
    """Lower case, no punctuation, no articles, single spaces (SQuAD's evaluation)."""
    text = "".join(c for c in str(text).lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, references: list[str]) -> float:
    """The best token F1 of ``prediction`` against any reference; an empty reference list
    (an unanswerable question) scores 1 for an abstention or an empty answer, else 0."""
    predicted = normalize_answer(prediction)
    if not references:
        return float(not predicted or predicted == normalize_answer(ABSTAIN))
    best = 0.0
    for reference in references:
        gold = normalize_answer(reference)
        common = sum((Counter(predicted) & Counter(gold)).values())
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best
