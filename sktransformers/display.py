"""Plots in scikit-learn's Display style: training curves and ``compare`` results.

Each display is built with ``from_estimator`` / ``from_results`` (which also
plots) or from its data and ``.plot(ax=...)``; afterwards it holds the
matplotlib objects (``ax_``, ``figure_``, ``lines_`` ...) for further styling,
as :class:`sklearn.metrics.RocCurveDisplay` does.
"""

from __future__ import annotations

import numpy as np

#: history columns drawn on the left axis (losses) and on the right one (scores)
_LOSSES = {"train_loss": "train loss", "valid_loss": "validation loss", "loss": "loss"}
_SCORES = {"valid_accuracy": "validation accuracy", "reward": "reward"}


#: The metric each task's results are ranked by: the first of its metrics in
#: :data:`sktransformers.compare.METRICS` (a test keeps the two in step).
RANKING_METRICS = ("accuracy", "micro_f1", "r2")


def main_metric(results) -> str:
    """The ranking metric of a ``compare`` results table (its task's first metric)."""
    return next(m for m in RANKING_METRICS if m in results)


def _axes(ax):
    """``ax``, or a new figure's axes from pyplot (shown inline in Jupyter)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


class TrainingCurveDisplay:
    """Loss (and validation accuracy) per epoch of a fitted estimator.

    Parameters
    ----------
    history : list of dict
        An estimator's ``history_``: one record per epoch (``step`` for
        :class:`~sktransformers.RLOOTuner`).
    estimator_name : str, optional
        Shown in the title.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The losses.
    ax_score_ : matplotlib Axes or None
        A second y axis for validation accuracy (or reward); ``None`` without one.
    figure_ : matplotlib Figure
    lines_ : dict of str to Line2D
        One line per plotted quantity, keyed by its history column.
    best_epoch_ : int or None
        The epoch with the lowest validation loss (marked on the plot).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktransformers.display import TrainingCurveDisplay
    >>> history = [{"epoch": 1, "train_loss": 0.69, "valid_loss": 0.62, "valid_accuracy": 0.70},
    ...            {"epoch": 2, "train_loss": 0.55, "valid_loss": 0.58, "valid_accuracy": 0.74}]
    >>> display = TrainingCurveDisplay(history=history).plot()
    >>> sorted(display.lines_)
    ['train_loss', 'valid_accuracy', 'valid_loss']
    >>> display.best_epoch_
    2
    """

    def __init__(self, *, history, estimator_name=None):
        self.history = history
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None):
        """Plot the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : fitted sktransformers estimator
            One that trains by epochs (not frozen features or in-context).
        ax : matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator, "history_")
        if not estimator.history_:
            raise ValueError(
                f"{type(estimator).__name__} has no training curve: it trains no epochs "
                "(frozen features and in-context prompting fit without gradient steps). "
                "Plot an estimator that trains, e.g. LoRAClassifier.")
        return cls(history=estimator.history_,
                   estimator_name=type(estimator).__name__).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        self : TrainingCurveDisplay
        """
        rows = list(self.history)
        if not rows:
            raise ValueError("history is empty: there is no epoch to plot.")
        x_key = "epoch" if "epoch" in rows[0] else "step"
        x = [row[x_key] for row in rows]
        from matplotlib.ticker import MaxNLocator

        self.ax_ = ax = _axes(ax)
        self.figure_ = ax.figure
        self.lines_ = {}
        for key, label in _LOSSES.items():
            if key in rows[0]:
                (self.lines_[key],) = ax.plot(x, [r[key] for r in rows], marker="o", label=label)
        ax.set_xlabel(x_key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        self.ax_score_ = None
        scores = [key for key in _SCORES if key in rows[0]]
        if scores:
            self.ax_score_ = ax.twinx()
            for key in scores:
                (self.lines_[key],) = self.ax_score_.plot(
                    x, [r[key] for r in rows], marker="s", linestyle="--", color="tab:green",
                    label=_SCORES[key])
            self.ax_score_.set_ylabel(" / ".join(_SCORES[k] for k in scores))
        self.best_epoch_ = None
        if "valid_loss" in rows[0]:
            best = min(rows, key=lambda r: r["valid_loss"])
            self.best_epoch_ = best[x_key]
            ax.axvline(self.best_epoch_, color="grey", linestyle=":", lw=1)
        handles = list(self.lines_.values())
        ax.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
        ax.set_title(f"{self.estimator_name or 'training'}: loss per {x_key}")
        ax.grid(alpha=0.3)
        return self


class CompareDisplay:
    """The results of :func:`sktransformers.compare.compare`: score against fit time.

    Marker area grows with the number of trainable parameters (log scale), so
    cost in time and in size reads off one picture.

    Parameters
    ----------
    results : pandas.DataFrame
        ``compare``'s table (columns ``method``, ``fit_s``, ``trainable_params``
        and the task's metrics).
    metric : str, optional
        The column on the y axis; the task's main metric by default.
    title : str, default=""
        The axes title; a description of the plot by default.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    scatter_ : matplotlib PathCollection
        One point per method, in the table's order.
    annotations_ : dict of str to Annotation
        Each method's label.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sktransformers.display import CompareDisplay
    >>> results = pd.DataFrame({"method": ["feature", "lora"], "accuracy": [0.71, 0.72],
    ...                         "fit_s": [4.4, 27.9], "trainable_params": [1155, 75651]})
    >>> display = CompareDisplay.from_results(results)
    >>> display.ax_.get_ylabel(), sorted(display.annotations_)
    ('test accuracy', ['feature', 'lora'])
    """

    def __init__(self, *, results, metric=None, title=""):
        self.results = results
        self.metric = metric
        self.title = title

    @classmethod
    def from_results(cls, results, *, metric=None, title="", ax=None):
        """Plot a ``compare`` results table.

        Parameters
        ----------
        results : pandas.DataFrame
            What :func:`~sktransformers.compare.compare` returned.
        metric : str, optional
            The y axis; the task's main metric by default.
        title : str, default=""
            The axes title; a description of the plot by default.
        ax : matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        display : CompareDisplay
        """
        return cls(results=results, metric=metric, title=title).plot(ax=ax)

    def plot(self, ax=None):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure by default.

        Returns
        -------
        self : CompareDisplay
        """
        results = self.results
        metric = self.metric or main_metric(results)
        if metric not in results:
            raise ValueError(f"metric={metric!r} is not a column of results; pick one of "
                             f"{[c for c in results.columns if results[c].dtype.kind == 'f']}.")
        self.ax_ = ax = _axes(ax)
        self.figure_ = ax.figure
        sizes = 30 + 40 * np.log10(results.trainable_params.clip(lower=1))
        self.scatter_ = ax.scatter(results.fit_s, results[metric], s=sizes, alpha=0.6)
        self.annotations_ = {}
        for _, row in results.iterrows():
            self.annotations_[row.method] = ax.annotate(
                f"{row.method} ({row.trainable_params:,})", (row.fit_s, row[metric]),
                textcoords="offset points", xytext=(8, -3), fontsize=8,
                arrowprops={"arrowstyle": "-", "lw": 0.4, "alpha": 0.5})
        ax.set_xscale("log")
        ax.set_xlabel("fit time (s, log scale)")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(self.title or f"{metric} vs fit time (area ~ trainable parameters)")
        ax.grid(alpha=0.3)
        _separate_labels(ax, list(self.annotations_.values()))
        return self


def _separate_labels(ax, annotations, step=3.0, tries=60):
    """Move labels down (then up) from their point until none overlaps another.

    Methods of similar cost and score cluster (the adapted encoders on the tweets
    lie within 10 s and 2 points), so labels placed beside their points print over
    each other; a leader line joins each moved label to its point. A label that
    would leave the axes on the right goes to the left of its point. Placement is
    measured on the axes as they will be drawn (their limits are fixed first).
    """
    from matplotlib.text import Text

    ax.autoscale_view()
    ax.set_xlim(*ax.get_xlim())
    ax.set_ylim(*ax.get_ylim())
    right = ax.get_window_extent().x1

    def text_box(label):  # the text alone, not its leader line
        label.get_window_extent()  # places the text for the axes as they are now
        return Text.get_window_extent(label)

    placed = []
    for label in sorted(annotations, key=lambda a: -a.xy[1]):  # top to bottom
        x, y = label.get_position()
        if text_box(label).x1 > right:
            x = -x
            label.set_horizontalalignment("right")
        for k in range(tries):
            offset = step * ((k + 1) // 2) * (-1 if k % 2 else 1)  # 0, -3, +3, -6, ...
            label.set_position((x, y + offset))
            box = text_box(label)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(box)
