"""``history_``: the per-epoch record of a fit, a list that also reads as a DataFrame."""

from __future__ import annotations


class History(list):
    """One dict per epoch (``epoch``, ``train_loss``, ``valid_loss``, ``valid_accuracy``,
    ``duration``), as skorch records them.

    It is a plain ``list`` of dicts (indexing, ``len`` and JSON work as before) with
    :meth:`to_frame` for a :class:`pandas.DataFrame` and a table display in Jupyter.

    Examples
    --------
    >>> from sktransformers._history import History
    >>> h = History([{"epoch": 1, "train_loss": 0.7, "valid_loss": 0.6},
    ...              {"epoch": 2, "train_loss": 0.5, "valid_loss": 0.65}])
    >>> h.to_frame()["valid_loss"].tolist()
    [0.6, 0.65]
    >>> h.best()["epoch"]
    1
    """

    def to_frame(self):
        """The history as a DataFrame indexed by epoch (empty when nothing trained).

        Returns
        -------
        frame : pandas.DataFrame
            One row per epoch (per step for online preference tuning), one column
            per recorded quantity.
        """
        import pandas as pd

        frame = pd.DataFrame(list(self))
        for key in ("epoch", "step"):  # preference tuning online records optimizer steps
            if key in frame:
                return frame.set_index(key)
        return frame

    def best(self) -> dict | None:
        """The epoch with the lowest validation loss (the last one without validation).

        Returns
        -------
        row : dict or None
            That epoch's record; ``None`` when the history is empty.
        """
        if not self:
            return None
        if all("valid_loss" in row for row in self):
            return min(self, key=lambda row: row["valid_loss"])
        return self[-1]

    def _repr_html_(self):
        return self.to_frame()._repr_html_()
