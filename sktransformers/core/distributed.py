"""Data-parallel training: one fit across the processes of ``accelerate launch`` or ``torchrun``.

Launched as several processes (``WORLD_SIZE`` > 1 in the environment), every trainable
estimator trains data-parallel with skorch's :class:`~skorch.hf.AccelerateMixin`:

- each training batch of ``batch_size x processes`` texts (drawn as one process draws
  its batches) is cut into one slice per process, so ``batch_size`` is per process, as
  with ``torchrun`` elsewhere, and two processes train as one process with the
  doubled batch would;
- gradients are averaged across processes (PyTorch's ``DistributedDataParallel``, set up
  by Accelerate), so every process holds the same weights after every step;
- validation is not sharded: every process scores the whole validation split, so all
  see the same validation loss and early stopping ends them at the same epoch;
- the recorded training loss is the mean over processes, so ``history_`` is the same
  everywhere; progress bars, checkpoints and ``save`` are the main process's alone.

A single process (no launcher) trains exactly as before: nothing here is used.
"""

from __future__ import annotations

import os

import torch
from skorch.callbacks import Callback
from skorch.hf import AccelerateMixin


def n_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def data_parallel() -> bool:
    """Whether this process is one of several training one model together."""
    return n_processes() > 1


def is_main_process() -> bool:
    """Whether this process writes files and shows progress (rank 0, or the only one)."""
    return int(os.environ.get("RANK", "0")) == 0


def local_gpu() -> str | None:
    """``cuda:LOCAL_RANK`` for a data-parallel process on a GPU machine, else ``None``."""
    if data_parallel() and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    return None


def accelerator_for(device: str):
    """The Accelerate ``Accelerator`` of a data-parallel fit on ``device``'s kind."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    # a backbone's pooler (BERT's, with mean pooling) has parameters no loss reaches
    unused = DistributedDataParallelKwargs(find_unused_parameters=True)
    # skorch moves modules and batches to the process's device; the batches are
    # sharded by ShardedBatches
    return Accelerator(cpu=device.split(":")[0] == "cpu", device_placement=False,
                       kwargs_handlers=[unused])


def synchronize_seed(accelerator) -> None:
    """Give every process the main process's torch random state, so that the shuffled
    batch order agrees across processes (with a ``random_state`` it already does)."""
    from accelerate.utils import synchronize_rng_states

    kinds = ["torch"] + (["cuda"] if accelerator.device.type == "cuda" else [])
    synchronize_rng_states(kinds)


class DataParallelMixin(AccelerateMixin):
    """skorch net mixin: training batches sharded across processes, validation whole.

    skorch's mixin also shards and gathers validation and prediction batches; here
    each process evaluates every validation text, so that early stopping sees one
    validation loss.
    """

    def _initialize_accelerator(self):
        # the module and its optimizer only: skorch's mixin also wraps a criterion,
        # which DistributedDataParallel refuses when it has no parameters
        if not self._wrapped_with_accelerator:
            self.module_ = self.accelerator.prepare(self.module_)
            self.optimizer_ = self.accelerator.prepare(self.optimizer_)
            self._wrapped_with_accelerator = True
        return self

    def get_iterator(self, dataset, training=False):
        iterator = super(AccelerateMixin, self).get_iterator(dataset, training=training)
        if not training:
            return iterator
        shard = ShardedBatches(iterator.batch_sampler, self.accelerator.process_index,
                               self.accelerator.num_processes)
        return torch.utils.data.DataLoader(dataset, batch_sampler=shard,
                                           collate_fn=iterator.collate_fn)

    def evaluation_step(self, batch, training=False):
        return super(AccelerateMixin, self).evaluation_step(batch, training=training)


class ShardedBatches(torch.utils.data.Sampler):
    """This process's slice of every batch that ``batches`` draws (the same batches in
    every process, since their random states agree).

    A final batch with fewer texts than processes gives each process without a text
    of its own the batch's first text again.
    """

    def __init__(self, batches, rank: int, n_processes: int):
        self.batches, self.rank, self.n_processes = batches, rank, n_processes

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            batch = list(batch)
            size = -(-len(batch) // self.n_processes)
            yield batch[self.rank * size:(self.rank + 1) * size] or batch[:1]


class MeanTrainLoss(Callback):
    """Record the epoch's training loss as its mean over the processes."""

    def on_epoch_end(self, net, **kwargs):
        accelerator = net.accelerator
        loss = torch.tensor([net.history[-1, "train_loss"]], device=accelerator.device)
        net.history.record("train_loss", float(accelerator.reduce(loss, "mean").item()))


def bare_module(net) -> torch.nn.Module:
    """The net's module without the data-parallel wrapper (its own parameter names)."""
    accelerator = getattr(net, "accelerator", None)
    return net.module_ if accelerator is None else accelerator.unwrap_model(net.module_)
