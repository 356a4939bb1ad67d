"""Real learning: the packaged all-MiniLM-L6-v2 on SST-2 (minutes on 2 CPU cores).

Run with ``pytest -m slow``; CI runs them too. They skip only where the shared
dataset folder is absent.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sktransformers import (
    FullFinetuneClassifier,
    InContextClassifier,
    TransformerEmbedder,
    TransformerFeatureClassifier,
)

from conftest import MEASURED, shared_dataset

pytestmark = pytest.mark.slow

MAJORITY_MARGIN = 0.10  # "clearly above the majority class": at least 10 points

# (estimator, the accuracy it must reach at least on top of the majority rule)
CASES = {
    "feature": (lambda: TransformerFeatureClassifier(), 0.78),
    # the other trainable methods at their defaults: tests/test_slow_defaults.py (four
    # datasets, three seeds) and benchmarks/results/defaults.md (this SST-2 sample)
    "full": (lambda: FullFinetuneClassifier(random_state=0, verbose=0), 0.78),
    # 8 class-balanced demonstrations with the packaged SmolLM2-135M-Instruct
    "in-context": (lambda: InContextClassifier(
        template="Review: {text}\nSentiment: {label}", n_examples=8, calibrate="prior",
        random_state=0), 0.70),
}


@pytest.mark.parametrize("name", list(CASES))
def test_real_backbone_learns_sst2(name, sst2_sample):
    X_train, y_train, X_test, y_test = sst2_sample
    factory, floor = CASES[name]
    clf = factory().fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    majority = (y_test == y_train.mode()[0]).mean()
    MEASURED.append(f"SST-2 {name}: accuracy {accuracy:.3f} (majority {majority:.3f})")
    assert accuracy >= majority + MAJORITY_MARGIN
    if floor is not None:
        assert accuracy >= floor


def test_packaged_embedder_matches_sentence_embedding_semantics():
    emb = TransformerEmbedder(normalize=True)
    Z = emb.fit_transform(["a wonderful, moving film", "a truly great movie",
                           "the capital city of france"])
    assert Z.shape == (3, 384)
    similar, unrelated = Z[0] @ Z[1], Z[0] @ Z[2]
    assert similar > unrelated + 0.2


def test_in_context_learns_six_class_trec():
    folder = shared_dataset("trec")
    train = pd.read_csv(folder / "train.csv").sample(1000, random_state=0)
    test = pd.read_csv(folder / "test.csv")
    clf = InContextClassifier(template="Question: {text}\nAnswer type: {label}",
                              n_examples=12, calibrate="prior", random_state=0)
    accuracy = clf.fit(train.text, train.label).score(test.text, test.label)
    majority = (test.label == train.label.mode()[0]).mean()
    MEASURED.append(f"TREC in-context: accuracy {accuracy:.3f} (majority {majority:.3f})")
    assert accuracy >= majority + MAJORITY_MARGIN
