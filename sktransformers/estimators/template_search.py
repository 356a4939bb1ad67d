"""``template="auto"``: choose a prompt template by cross-validation on the training texts.

Each built-in template is scored the way it will be used: for every fold, the
demonstrations come from the other folds (the estimator's own selection rule)
and the held-out texts are classified; with prior calibration, each fold's
scores are divided by their own mean probabilities (what ``calibrate="prior"``
estimates from training texts), so no extra texts are scored. A search scores
each of at most :data:`SEARCH_TEXTS` texts once per template, and the
demonstration prefix of a (template, fold) runs through the model once for all
of its queries.
"""

from __future__ import annotations

import numpy as np

#: Built-in templates for single texts and for text pairs, the first being the default.
TEMPLATES = {
    "single": (
        "Text: {text}\nLabel: {label}",
        "Text: {text}\nCategory: {label}",
        "Input: {text}\nAnswer: {label}",
        "{text}\nThe label of this text is: {label}",
    ),
    "pairs": (
        "Text A: {text_a}\nText B: {text_b}\nLabel: {label}",
        "Premise: {text_a}\nHypothesis: {text_b}\nLabel: {label}",
        "{text_a}\nQuestion: {text_b}\nAnswer: {label}",
        "Sentence 1: {text_a}\nSentence 2: {text_b}\nRelation: {label}",
    ),
}

#: Training texts (at most) the search classifies, each once per template.
SEARCH_TEXTS = 300
N_FOLDS = 3


def search_template(clf, texts, y_idx, rng, calibrate: bool):
    """The built-in template with the best cross-validated accuracy, and every score.

    ``clf`` is the fitted-in-progress :class:`InContextClassifier` (its pool holds
    ``texts``); ``calibrate`` says whether its predictions will be prior-calibrated.
    """
    candidates = TEMPLATES["pairs" if clf.pairs_ else "single"]
    rows = rng.permutation(len(texts))[:SEARCH_TEXTS]
    folds = np.array_split(rows, min(N_FOLDS, len(rows)))
    scores = {}
    for template in candidates:
        clf.settings_["template"] = template
        correct = 0
        for k, held_out in enumerate(folds):
            others = np.concatenate([f for i, f in enumerate(folds) if i != k] or [held_out])
            clf.demonstrations_ = clf._demonstrations_among(others, y_idx, rng)
            proba = clf._raw_proba([texts[i] for i in held_out])
            if calibrate:
                proba = proba / np.maximum(proba.mean(axis=0), 1e-12)
            correct += int((proba.argmax(axis=1) == y_idx[held_out]).sum())
        scores[template] = correct / len(rows)
    best = max(candidates, key=lambda t: scores[t])  # ties: the earlier template
    return best, scores
