"""Soft prompts with the text at its pre-trained positions against PEFT's forward.

PEFT's prompt tuning numbers the virtual tokens 0..n-1 and moves the text right by
n; ours keeps the text's own positions (``PromptTuning(keep_text_positions=True)``,
the default). Both train with ``PromptTunedClassifier``'s defaults on the same
texts, beside frozen features + logistic regression: at 8 SST-2 sentences per class
(5 draws, 500 test sentences; the differences are paired by draw) and at 1,000
training texts of SST-2, TREC and the tweets (seed 0; the defaults benchmark's data).

    python benchmarks/bench_prompt_positions.py            # about 8 minutes on 2 CPU cores
    python benchmarks/bench_prompt_positions.py --smoke    # seconds (CI)
"""

from __future__ import annotations

import warnings

from _small_data import cases, parse, report, run

from sktransformers import AdaptedClassifier, PromptTunedClassifier
from sktransformers.adaptation import PromptTuning

warnings.filterwarnings("ignore")


def soft_prompts(keep_text_positions: bool, smoke: bool):
    """``make(seed)``: soft prompts at ``PromptTunedClassifier``'s defaults."""
    def make(seed):
        params = PromptTunedClassifier(random_state=seed, verbose=0).get_params()
        strategy = PromptTuning(params.pop("n_virtual_tokens"), params.pop("prompt_init_text"),
                                keep_text_positions=keep_text_positions)
        return AdaptedClassifier(adaptation=strategy, **{**params, **(
            {"max_epochs": 1} if smoke else {})})

    return make


def main():
    args = parse(__doc__.splitlines()[0])
    runs = run({"soft prompts, PEFT's positions": soft_prompts(False, args.smoke),
                "soft prompts, text positions": soft_prompts(True, args.smoke)},
               cases(["sst2"], args))
    report("prompt_positions", runs, args)


if __name__ == "__main__":
    main()
