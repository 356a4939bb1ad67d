"""Progress output: when to show it, and the one bar per fit.

The rule every estimator follows (``verbose``):

* ``0``: nothing, and dependencies' loading and conversion bars are silenced too;
* ``1`` (the default of trainable estimators): one progress bar per ``fit`` (and
  per long prediction) where someone is watching: a widget in Jupyter, a single
  updating line in a terminal. In a non-interactive log (a file, CI, a batch
  job) nothing at all is written;
* ``2``: the bars everywhere, plus one log line per epoch.

Bars come from ``tqdm.auto``, so Jupyter gets a widget when ``ipywidgets`` is
installed and a text bar otherwise.
"""

from __future__ import annotations

import contextlib
import io
import sys

from skorch.callbacks import Callback
from tqdm.auto import tqdm


def interactive() -> bool:
    """Whether someone watches the output: a Jupyter/IPython kernel or a terminal."""
    shell = sys.modules.get("IPython")
    if shell is not None:
        ip = shell.get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:
            return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


def show_progress(verbose) -> bool:
    """Whether ``verbose`` asks for progress bars here (see the module docstring)."""
    verbose = int(verbose or 0)
    return verbose >= 2 or (verbose == 1 and interactive())


def progress_bar(iterable=None, *, verbose, desc="", total=None, leave=False, unit="it",
                 initial=0):
    """A ``tqdm.auto`` bar, or a silent pass-through where :func:`show_progress` says no."""
    return tqdm(iterable, total=total, desc=desc, leave=leave, unit=unit, initial=initial,
                disable=not show_progress(verbose), dynamic_ncols=True)


@contextlib.contextmanager
def silenced_output(verbose):
    """Swallow what dependencies print to stderr while a model loads or converts.

    Active only at ``verbose=0``; otherwise their bars are shown as they come.
    """
    if int(verbose or 0) > 0:
        yield
        return
    with contextlib.redirect_stderr(io.StringIO()):
        yield


class FitProgress(Callback):
    """skorch callback: one bar for the whole fit, counting batches over all epochs.

    The bar's postfix shows the epoch and the latest losses (and validation
    accuracy); when early stopping ends training before ``max_epochs`` the bar
    says so and closes at the epoch reached.
    """

    def __init__(self, desc: str, verbose: int, batches_per_epoch: int, max_epochs: int):
        self.desc, self.verbose = desc, verbose
        self.batches_per_epoch, self.max_epochs = batches_per_epoch, max_epochs

    def on_train_begin(self, net, **kwargs):
        done = len(net.history)
        self.bar_ = progress_bar(verbose=self.verbose, desc=self.desc, leave=True,
                                 total=self.batches_per_epoch * self.max_epochs,
                                 unit="batch")
        self.bar_.update(self.batches_per_epoch * done)  # resumed from a checkpoint

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.bar_.update(1)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        shown = {"epoch": f"{row['epoch']}/{self.max_epochs}",
                 "loss": f"{row['train_loss']:.3f}"}
        if "valid_loss" in row:
            shown["valid_loss"] = f"{row['valid_loss']:.3f}"
        if "valid_acc" in row:
            shown["valid_acc"] = f"{row['valid_acc']:.3f}"
        self.bar_.set_postfix(shown, refresh=True)

    def on_train_end(self, net, **kwargs):
        bar = self.bar_
        epochs = len(net.history)
        if epochs < self.max_epochs:  # early stopping (or an interruption)
            bar.total = bar.n
            bar.set_description(f"{self.desc} (stopped at epoch {epochs})")
        bar.close()
