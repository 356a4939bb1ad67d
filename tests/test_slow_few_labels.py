"""Few labels with the real backbone: the contrastive objective against frozen features (slow).

The same 8 TREC questions per class (6 classes) train both; the whole 500-question test
split scores them. The comparison with the setfit package itself (4 sets, K = 8, 32, 64,
5 seeds) is ``benchmarks/bench_few_labels.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sktransformers import ContrastiveClassifier, TransformerFeatureClassifier
from sktransformers.compare import draw_shots

from conftest import MEASURED, shared_dataset

pytestmark = pytest.mark.slow


def test_contrastive_beats_frozen_features_on_trec_at_8_questions_per_class():
    folder = shared_dataset("trec")
    train, test = (pd.read_csv(folder / f"{part}.csv") for part in ("train", "test"))
    ours, frozen = [], []
    for seed in range(3):
        rows = draw_shots(train.label, 8, seed)
        X, y = train.text.to_numpy()[rows], train.label.to_numpy()[rows]
        clf = ContrastiveClassifier(random_state=seed, verbose=0).fit(X, y)
        ours.append(clf.score(test.text, test.label))
        base = TransformerFeatureClassifier(verbose=0).fit(X, y)
        frozen.append(base.score(test.text, test.label))
    MEASURED.append(f"TREC, 8 per class, 3 seeds: contrastive {np.mean(ours):.3f}, "
                    f"frozen features {np.mean(frozen):.3f}")
    # the benchmark's five draws: 0.817 against 0.544 (rerun 2026-12-05; 0.832 before);
    # the margin asserted is about half
    assert np.mean(ours) >= np.mean(frozen) + 0.15, (ours, frozen)
