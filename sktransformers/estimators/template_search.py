"""Prompt search for ``InContextClassifier``: templates, and instructions the model writes.

``template="auto"`` chooses among built-in templates; ``instruction="auto"`` has
the language model *propose* instructions from training demonstrations (automatic
prompt engineering, Zhou et al. 2023: the "forward generation" prompt, "I gave a
friend an instruction ... The instruction was to"), and a list of instructions is
searched as given. Both searches score a candidate the way it will be used: for
every fold, the demonstrations come from the other folds (the estimator's own
selection rule) and the held-out texts are classified; with prior calibration,
each fold's scores are divided by their own mean probabilities (what
``calibrate="prior"`` estimates from training texts), so no extra texts are scored.

Cost: the template search classifies each of at most :data:`SEARCH_TEXTS` texts
once per template (4 × 300); the instruction search at most :data:`SEARCH_BUDGET`
texts over all its candidates (each candidate gets an equal share, at most
:data:`SEARCH_TEXTS`), plus one generation of ``n_instructions`` short proposals.
The demonstration prefix of a (candidate, fold) runs through the model once for
all of its queries.
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..backbones.causal_lm import load_causal_lm
from ..backbones.policy import generate

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

#: Training texts (at most) the search classifies, each once per candidate.
SEARCH_TEXTS = 300
#: Texts (at most) the instruction search classifies over all its candidates.
SEARCH_BUDGET = 5 * SEARCH_TEXTS
N_FOLDS = 3
#: Demonstrations shown to the model per proposal (as in the APE paper).
PROPOSAL_DEMOS = 5
#: APE's forward-generation prompt; the model continues "The instruction was to".
PROPOSAL_PROMPT = ("I gave a friend an instruction and {n} inputs. The friend read the "
                   "instruction and wrote an output for every one of the inputs. Here are "
                   "the input-output pairs:\n\n{pairs}\n\nThe instruction was to")


def search(clf, key, candidates, texts, y_idx, rng, calibrate, n_texts=SEARCH_TEXTS):
    """The candidate value of ``clf.settings_[key]`` with the best cross-validated
    accuracy on at most ``n_texts`` training texts, and every candidate's score.

    ``clf`` is the fitted-in-progress :class:`InContextClassifier` (its pool holds
    ``texts``); ``calibrate`` says whether its predictions will be prior-calibrated.
    Ties go to the earlier candidate.
    """
    rows = rng.permutation(len(texts))[:n_texts]
    folds = np.array_split(rows, min(N_FOLDS, len(rows)))
    scores = {}
    for candidate in candidates:
        clf.settings_[key] = candidate
        correct = 0
        for k, held_out in enumerate(folds):
            others = np.concatenate([f for i, f in enumerate(folds) if i != k] or [held_out])
            clf.demonstrations_ = clf._demonstrations_among(others, y_idx, rng)
            proba = clf._raw_proba([texts[i] for i in held_out])
            if calibrate:
                proba = proba / np.maximum(proba.mean(axis=0), 1e-12)
            correct += int((proba.argmax(axis=1) == y_idx[held_out]).sum())
        scores[candidate] = correct / len(rows)
    clf.search_cost_["scored_texts"] += len(rows) * len(candidates)
    best = max(candidates, key=lambda c: scores[c])
    clf.settings_[key] = best
    return best, scores


def search_template(clf, texts, y_idx, rng, calibrate: bool):
    """The built-in template with the best cross-validated accuracy, and every score."""
    candidates = TEMPLATES["pairs" if clf.pairs_ else "single"]
    return search(clf, "template", candidates, texts, y_idx, rng, calibrate)


def search_instruction(clf, candidates, texts, y_idx, rng, calibrate: bool):
    """The best of ``candidates`` (instructions) under the chosen template."""
    n_texts = min(SEARCH_TEXTS, max(N_FOLDS, SEARCH_BUDGET // len(candidates)))
    return search(clf, "instruction", candidates, texts, y_idx, rng, calibrate, n_texts)


def propose_instructions(clf, texts, y_idx, rng, n: int) -> list[str]:
    """``n`` instructions the language model writes for the task (APE), deduplicated.

    Each proposal sees its own :data:`PROPOSAL_DEMOS` training examples as
    input-output pairs (the label word as output) and is sampled with temperature
    0.9; the continuation of "The instruction was to" up to the end of its first
    sentence becomes the instruction.
    """
    start = time.perf_counter()
    device, dtype = clf._device_dtype()
    prompts = []
    for _ in range(n):
        rows = rng.permutation(len(texts))[:PROPOSAL_DEMOS]
        pairs = "\n\n".join(f"Input: {_as_input(clf._fields(texts[r]))}\n"
                            f"Output: {clf.label_words_[y_idx[r]]}" for r in rows)
        prompts.append(PROPOSAL_PROMPT.format(n=_number(len(rows)), pairs=pairs))
    outputs = generate(load_causal_lm(clf.model_path_, device), clf.tokenizer_, prompts,
                       max_new_tokens=40, do_sample=True, temperature=0.9, top_p=1.0,
                       batch_size=clf.batch_size, device=device, dtype=dtype, chat=False)
    clf.search_cost_["generated_texts"] += n
    clf.search_cost_["proposal_seconds"] += time.perf_counter() - start
    instructions = []
    for text in outputs:
        instruction = as_instruction(text)
        if instruction and instruction not in instructions:
            instructions.append(instruction)
    return instructions


def as_instruction(continuation: str) -> str:
    """"classify each review as good or bad. Input: ..." -> "Classify each review as
    good or bad." (the first sentence, capitalised; empty when there is none)."""
    text = continuation.strip().split("\n")[0].strip().strip("\"'")
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = (match.group(1) if match else text).strip()
    if len(sentence.split()) < 2:
        return ""
    return sentence[0].upper() + sentence[1:] + ("" if sentence[-1] in ".!?" else ".")


def _as_input(fields: dict) -> str:
    return fields["text"] if "text" in fields else f"{fields['text_a']} / {fields['text_b']}"


def _number(n: int) -> str:
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return words[n] if n < len(words) else str(n)
