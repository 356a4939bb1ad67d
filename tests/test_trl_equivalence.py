"""Our DPO loss and implicit rewards equal TRL's ``DPOTrainer`` on the same batch.

TRL is a test dependency only (the ``preferences`` extra): the engine of
``DPOTuner`` is our skorch core, and this test keeps its formulas honest. The
batch is TRL's own (its tokenisation and collation), the policy a LoRA-wrapped
tiny Llama whose adapter is perturbed so that policy and reference differ.
"""

from __future__ import annotations

import os

import pytest
import torch

from sktransformers.backbones.policy import sequence_logps
from sktransformers.core.tasks import DPOLoss

from conftest import NEG, POS

trl = pytest.importorskip("trl", reason="TRL is installed with the 'preferences' extra")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def lora_policy(tiny_llama):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    policy = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj",
                                                                                 "v_proj"]))
    return policy, AutoTokenizer.from_pretrained(tiny_llama)


def perturb(policy):
    """Move the trained adapter off zero, so that policy and reference differ."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B.default" in name:
                param.normal_(0, 0.5)


@pytest.mark.parametrize("loss", ["sigmoid", "ipo", "hinge"])
def test_loss_and_implicit_rewards_equal_trl(loss, lora_policy, tmp_path):
    from datasets import Dataset

    policy, tokenizer = lora_policy
    # TRL joins prompt and completion strings as they are: the space keeps the words apart
    data = Dataset.from_dict({"prompt": ["what is it "] * 6, "chosen": POS, "rejected": NEG})
    args = trl.DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=6, beta=0.2,
                         loss_type=[loss], report_to="none", use_cpu=True)
    trainer = trl.DPOTrainer(model=policy, args=args, train_dataset=data,
                             processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    perturb(policy)  # after TRL has taken its reference (the adapter at zero)
    policy.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(policy, batch).item()
        metrics = {k: v[-1] for k, v in trainer._metrics["eval"].items()}  # model in eval mode
        ids, mask, completion = batch["input_ids"], batch["attention_mask"], batch[
            "completion_mask"]
        logps = sequence_logps(policy, ids, mask, completion)
        with policy.disable_adapter():
            ref = sequence_logps(policy, ids, mask, completion)
    lengths = completion.sum(1).float()
    ours = torch.stack(logps.chunk(2), 1)
    target = torch.cat([torch.stack(ref.chunk(2), 1), torch.stack(lengths.chunk(2), 1)], 1)
    assert (batch["input_ids"][:6] != batch["input_ids"][6:]).any()
    assert abs(metrics["rewards/margins"]) > 1e-3  # the policy differs from the reference
    assert DPOLoss(loss, 0.2)(ours, target).mean().item() == pytest.approx(trl_loss, abs=1e-4)
    rewards = 0.2 * (ours - target[:, :2])
    assert rewards[:, 0].mean().item() == pytest.approx(metrics["rewards/chosen"], abs=1e-4)
    assert rewards[:, 1].mean().item() == pytest.approx(metrics["rewards/rejected"], abs=1e-4)
    accuracy = (rewards[:, 0] > rewards[:, 1]).float().mean().item()
    assert accuracy == pytest.approx(metrics["rewards/accuracies"], abs=1e-6)


# ---------------------------------------------------------------- online: RLOO and GRPO

def words(prompts, completions, **kwargs):
    """A reward with ties and spread: the number of words of the completion."""
    return [float(len(c.split())) for c in completions]


@pytest.mark.parametrize("algorithm", ["rloo", "grpo"])
def test_online_advantages_and_losses_equal_trl(algorithm, lora_policy, tmp_path):
    """On TRL's own rollout (its sampling, tokens, masks and log-probabilities), our
    advantages and our loss equal ``RLOOTrainer``'s / ``GRPOTrainer``'s to 1e-4, the
    policy moved off the sampling one so that ratios and the KL term are not trivial.

    The log-probabilities are TRL's on both sides: its fused LM head computes them
    about 4e-4 per token away from a plain forward pass (ours), which is arithmetic,
    not the algorithm under test."""
    from datasets import Dataset

    from sktransformers.core.online import ADVANTAGE, GRPO, OLD_LOGP, RLOO, Rollout

    policy, tokenizer = lora_policy
    k, prompts = 3, ["what is it", "the film is"]
    common = dict(output_dir=str(tmp_path), per_device_train_batch_size=k * len(prompts),
                  num_generations=k, max_completion_length=5, beta=0.1, report_to="none",
                  use_cpu=True, seed=0)
    if algorithm == "rloo":
        trainer = trl.RLOOTrainer(model=policy, reward_funcs=words,
                                  args=trl.RLOOConfig(**common),
                                  train_dataset=Dataset.from_dict({"prompt": prompts}),
                                  processing_class=tokenizer)
        ours = RLOO(k=k, beta=0.1, clip=0.2)
    else:
        trainer = trl.GRPOTrainer(model=policy, reward_funcs=words,
                                  args=trl.GRPOConfig(**common),
                                  train_dataset=Dataset.from_dict({"prompt": prompts}),
                                  processing_class=tokenizer)
        ours = GRPO(k=k, beta=0.1, clip=0.2)
    perturb(policy)  # after TRL has taken its reference (the adapter at zero)
    torch.manual_seed(0)
    batch = trainer._generate_and_score_completions(
        [{"prompt": p} for p in prompts for _ in range(k)])
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    mask = batch["completion_mask"].float()

    def trl_logps():  # TRL's own per-token log-probabilities (its fused LM head)
        with torch.no_grad():
            return trainer._get_per_token_logps_and_entropies(
                policy, ids, attention, ids.shape[1] - batch["prompt_ids"].shape[1],
                len(ids))[0] * mask

    logp = trl_logps()
    with policy.disable_adapter():
        ref = trl_logps()
    texts = tokenizer.batch_decode(batch["completion_ids"] * batch["completion_mask"],
                                   skip_special_tokens=True)
    rollout = Rollout(scores=torch.tensor(words(None, texts)), logp=logp, ref_logp=ref,
                      mask=mask)
    targets = ours.targets(rollout)
    torch.testing.assert_close(targets[:, 0, ADVANTAGE], batch["advantages"].float(),
                               atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # the policy moves after sampling: ratios differ from 1
        for name, param in policy.named_parameters():
            if "lora_A.default" in name:
                param.mul_(1.1)
    policy.eval()
    with torch.no_grad():
        trl_loss = trainer._compute_loss(policy, batch).item()
    new = trl_logps()
    if algorithm == "grpo" and "old_per_token_logps" not in batch:
        # one pass per rollout: TRL takes the sampling policy's log-probabilities to be
        # the current ones (ratio 1); ours are taken at sampling, the same number there
        targets[..., OLD_LOGP] = new
    our_loss = ours.criterion()(torch.stack([new, torch.zeros_like(new)], -1), targets)
    assert our_loss.mean().item() == pytest.approx(trl_loss, abs=1e-4)
    assert trl_loss != pytest.approx(0.0, abs=1e-3)
