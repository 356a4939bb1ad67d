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

from _harness import parse_args, write
from _small_data import checks, few_shot_sets, full_sets, plot, run, summary

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
    args = parse_args(__doc__.splitlines()[0], n_train=1000, extra=lambda p: (
        p.add_argument("--shots", type=int, default=8),
        p.add_argument("--seeds", type=int, default=5)))
    if args.smoke:
        args.shots, args.seeds, args.n_train = 2, 2, 40
    runs = run({"soft prompts, PEFT's positions": soft_prompts(False, args.smoke),
                "soft prompts, text positions": soft_prompts(True, args.smoke)},
               [*few_shot_sets(["sst2"], args.shots, args.seeds, args.smoke),
                *full_sets(args.n_train, args.smoke)])
    write("prompt_positions", summary(runs), checks(runs), args, plot=plot,
          runs=f"Mean and sd over {args.seeds} draws at K = {args.shots} (paired: the "
               f"same draw for every contender), one run (seed 0) at {args.n_train:,} "
               "texts; fit_s is the median, indicative only.")


if __name__ == "__main__":
    main()
