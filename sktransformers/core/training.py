"""The training core shared by every trainable estimator, built on skorch.

skorch provides the loop, validation, early stopping, gradient clipping and the
progress bar; this module only adds what text models need on top of it:
per-sample weights in the loss, mixed-precision autocast, and a compact history.
The task (:mod:`sktransformers._tasks`) supplies the loss; single-label tasks
train a skorch classifier net (it also reports validation accuracy), the others
skorch's plain ``NeuralNet``. Launched as several processes (``accelerate launch``,
``torchrun``), the same nets train data-parallel (:mod:`sktransformers._distributed`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import GradientNormClipping
from skorch.helper import predefined_split
from transformers import PreTrainedModel

from .callbacks import (
    BestTrainableEarlyStopping,
    ReleaseFreedMemory,
    TrainableCheckpoint,
    remove_checkpoint,
    resume,
    run_key,
)
from .device import autocast
from .distributed import (
    DataParallelMixin,
    MeanTrainLoss,
    accelerator_for,
    data_parallel,
    is_main_process,
    n_processes,
    synchronize_seed,
)
from .dropout import use_fast_dropout
from .history import History
from .progress import FitProgress, show_progress


class _WeightedLoss:
    """skorch net mixin: the loss honours a ``sample_weight`` entry of the batch.

    Per-sample losses with more than one dimension (one per label or output) are
    averaged over those first, so every task weighs samples the same way.
    """

    def __init__(self, *args, autocast_dtype=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.autocast_dtype = autocast_dtype

    def infer(self, x, **fit_params):
        x = {k: v for k, v in x.items() if k != "sample_weight"}
        with autocast(self.device, self.autocast_dtype):
            return super().infer(x, **fit_params).float()

    def get_loss(self, y_pred, y_true, X=None, training=False):
        losses = self.criterion_(y_pred, y_true.to(y_pred.device))
        if losses.dim() > 1:
            losses = losses.flatten(1).mean(1)
        weights = X.get("sample_weight") if isinstance(X, dict) else None
        if weights is None:
            return losses.mean()
        weights = weights.to(losses.device)
        return (losses * weights).sum() / weights.sum().clamp(min=1e-12)


class _ClassifierNet(_WeightedLoss, NeuralNetClassifier):
    """Single-label training (skorch adds validation accuracy)."""


class _Net(_WeightedLoss, NeuralNet):
    """Multi-label and regression training."""


class _ParallelClassifierNet(DataParallelMixin, _ClassifierNet):
    """Single-label training across processes (:mod:`sktransformers._distributed`)."""


class _ParallelNet(DataParallelMixin, _Net):
    """Multi-label and regression training across processes."""


@dataclass
class TrainConfig:
    """The hyperparameters of one training run (taken from the estimator's params)."""

    lr: float
    max_epochs: int
    batch_size: int
    weight_decay: float
    n_iter_no_change: int
    device: str
    dtype: torch.dtype | None
    verbose: int
    head_lr: float | None = None  # a separate rate for parameters named ``head.*``
    checkpoint_dir: str | None = None  # save the trainable state each epoch; resume from it
    gradient_checkpointing: bool = False  # recompute activations in the backward pass
    desc: str = "fit"  # the progress bar's label


class InterruptedFitWarning(UserWarning):
    """``fit`` was interrupted (Ctrl-C): the model holds the last finished epoch."""


def train(module, train_data, valid_data, config: TrainConfig, task, collate_fn=None,
          train_loader=None):
    """Train ``module`` on ``train_data`` with AdamW; return the epoch history.

    Parameters
    ----------
    module : torch.nn.Module
        Returns logits; parameters with ``requires_grad=False`` stay frozen.
    train_data, valid_data : torch Dataset
        Items are ``(features dict, target)``. ``valid_data=None`` trains
        for ``max_epochs`` with no early stopping; otherwise training stops after
        ``n_iter_no_change`` epochs without a lower validation loss and the best
        epoch's weights are restored.
    config : TrainConfig
    task : SingleLabel, MultiLabel or Regression
        Supplies the loss (:meth:`criterion`).
    collate_fn : callable, optional
        Batches items (dynamic padding for texts).
    train_loader : DataLoader class, optional
        How training batches are drawn (length-grouped for texts); skorch's
        default shuffled loader otherwise.

    Returns
    -------
    history : list of dict
        One dict per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_accuracy`` (single-label, with validation data) and ``duration`` in
        seconds.
    """
    parallel = data_parallel()
    callbacks = [("clip", GradientNormClipping(gradient_clip_value=1.0))]
    if parallel:
        callbacks.append(("mean_train_loss", MeanTrainLoss()))
    stopping = None
    if valid_data is not None:
        stopping = BestTrainableEarlyStopping(patience=config.n_iter_no_change, load_best=True,
                                              sink=_quiet)
        callbacks.append(("early_stopping", stopping))
    key = None
    if config.checkpoint_dir is not None:
        key = run_key(module, train_data, valid_data, config)
        if is_main_process():
            callbacks.append(("checkpoint", TrainableCheckpoint(config.checkpoint_dir, key)))
    if show_progress(config.verbose) and is_main_process():
        batches = -(-len(train_data) // (config.batch_size * n_processes()))
        callbacks.append(("progress", FitProgress(config.desc, config.verbose, batches,
                                                  config.max_epochs)))
    net = make_net(module, config, task, callbacks, collate_fn=collate_fn,
                   train_loader=train_loader, valid_data=valid_data)
    net.initialize()
    done = 0 if key is None else resume(net, config.checkpoint_dir, key)
    if done < config.max_epochs:
        net.partial_fit(train_data, y=None, epochs=config.max_epochs - done)
    history = History(_history(net))
    stopped = stopping is not None and stopping.stopped()
    if len(history) < config.max_epochs and not stopped:
        _interrupted(len(history), config.max_epochs)
    elif key is not None and is_main_process():
        remove_checkpoint(config.checkpoint_dir)
    return history


def make_net(module, config: TrainConfig, task, callbacks=(), *, collate_fn=None,
             train_loader=None, valid_data=None):
    """The skorch net every trainer uses (uninitialised): AdamW (fused where the
    device has the kernel), ``task``'s per-sample criterion weighted by
    ``sample_weight``, autocast, the module's dropouts made ``FastDropout``
    (:mod:`.dropout`), and data-parallel placement when launched so.

    :func:`train` runs it over a fixed dataset; the online tuners call its
    ``partial_fit`` once per rollout (:mod:`sktransformers.estimators.online_tuning`).
    """
    parallel = data_parallel()
    loader_args = {} if collate_fn is None else {
        "iterator_train__collate_fn": collate_fn,
        "iterator_valid__collate_fn": collate_fn,
    }
    if train_loader is not None:
        loader_args["iterator_train"] = train_loader
    if not any(p.requires_grad for p in module.parameters()):
        raise ValueError("The module has no trainable parameters.")
    use_fast_dropout(module)  # the same masks as nn.Dropout's, drawn 2.5-4x faster on CPUs
    if config.gradient_checkpointing:
        checkpoint_activations(module)
    single_label = task.kind == "classification"
    net_class = _ClassifierNet if single_label else _Net
    placement = {"device": config.device, "batch_size": config.batch_size}
    if parallel:  # batch_size is per process: skorch draws the batches of all of them
        net_class = _ParallelClassifierNet if single_label else _ParallelNet
        accelerator = accelerator_for(config.device)
        placement = {"accelerator": accelerator, "device": config.device,
                     "batch_size": config.batch_size * accelerator.num_processes}
        synchronize_seed(accelerator)
    # skorch infers classes_ only from datasets it can unpack; ours are token lists,
    # and its validation accuracy needs them
    classes = {"classes": list(range(task.n_outputs))} if single_label else {}
    return net_class(
        module,
        criterion=task.criterion(),
        optimizer=torch.optim.AdamW,
        optimizer__weight_decay=config.weight_decay,
        # the fused kernel updates all parameters at once; the default per-parameter
        # loop dominates full fine-tuning steps on a CPU
        optimizer__fused=config.device.split(":")[0] in ("cpu", "cuda"),
        lr=config.lr,
        optimizer__param_groups=[] if config.head_lr is None else [
            ("head.*", {"lr": config.head_lr})],
        max_epochs=config.max_epochs,
        iterator_train__shuffle=True,
        train_split=None if valid_data is None else predefined_split(valid_data),
        # on a CPU, batches of varying length leave freed memory in malloc's heap
        callbacks=[*callbacks, *([("release_memory", ReleaseFreedMemory())]
                                 if config.device == "cpu" else [])],
        autocast_dtype=config.dtype,
        verbose=int(config.verbose >= 2),
        **placement,
        **classes,
        **loader_args,
    )


def checkpoint_activations(module) -> None:
    """Make the transformers models in ``module`` recompute their layers' activations
    in the backward pass rather than keep them (non-reentrant checkpointing).

    Less peak memory for about one more forward pass per step. The recomputation
    restores torch's random state, so dropout (:mod:`.dropout` too) draws the same
    masks again and the gradients are those of the step without checkpointing.
    """
    models = [m for m in module.modules()
              if isinstance(m, PreTrainedModel) and m.supports_gradient_checkpointing]
    if not models:
        raise ValueError("gradient_checkpointing=True needs a transformers model that "
                         "supports it; this one does not: set gradient_checkpointing=False.")
    for model in models:  # transformers 5.25 renamed the method
        enable = getattr(model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})


def _interrupted(n_done: int, max_epochs: int) -> None:
    """Warn that training stopped early; with no finished epoch, fail the fit."""
    if n_done == 0:
        raise KeyboardInterrupt("fit was interrupted before its first epoch ended.")
    warnings.warn(
        f"fit was interrupted after {n_done} of {max_epochs} epochs; the model holds the "
        f"weights of epoch {n_done} (history_ lists the epochs that ran).",
        InterruptedFitWarning, stacklevel=4)


def _quiet(*args, **kwargs):
    """Early-stopping message sink: stay silent."""


def _history(net) -> list[dict]:
    keys = {"epoch": "epoch", "train_loss": "train_loss", "valid_loss": "valid_loss",
            "valid_acc": "valid_accuracy", "dur": "duration"}
    return [
        {new: float(row[old]) if old != "epoch" else int(row[old])
         for old, new in keys.items() if old in row}
        for row in net.history if "train_loss" in row  # an interrupted epoch has none
    ]
