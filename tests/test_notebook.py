"""What a notebook user sees: progress output, the HTML card, history_ and the displays."""

from __future__ import annotations

import json
import sys

import joblib
import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

import sktransformers
from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    InContextClassifier,
    LoRAClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
    _progress,
    load,
)
from sktransformers.core.history import History
from sktransformers.display import CompareDisplay, TrainingCurveDisplay

matplotlib.use("Agg")


def _final_lines(stream_text: str) -> list[str]:
    """What a terminal shows at the end: each line's text after its last carriage return."""
    lines = [line.split("\r")[-1] for line in stream_text.split("\n")]
    return [line for line in lines if line.strip()]


def _lora(tiny_bert, **params):
    defaults = {"model": tiny_bert, "max_epochs": 2, "random_state": 0}
    return LoRAClassifier(**{**defaults, **params})


# ------------------------------------------------------------------ progress
def test_default_verbosity_writes_nothing_to_a_log(tiny_bert, binary_data, capfd):
    X, y = binary_data
    _lora(tiny_bert).fit(X, y).predict(X)  # verbose=1, but stderr is not a terminal here
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_interactive_fit_shows_one_updating_line(tiny_bert, binary_data, capfd, monkeypatch):
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    X, y = binary_data
    _lora(tiny_bert, early_stopping=False).fit(X, y)
    err = capfd.readouterr().err
    final = _final_lines(err)
    assert len(final) == 1, final  # inner bars (the probe's embedding) clear themselves
    assert final[0].startswith("LoRAClassifier: 100%")
    assert "epoch=2/2" in final[0] and "loss=" in final[0]
    assert err.count("\r") > 2  # it updated in place


def test_early_stopping_shows_where_the_bar_stopped(tiny_bert, binary_data, capfd, monkeypatch):
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    X, y = binary_data
    est = _lora(tiny_bert, max_epochs=30, early_stopping=True, n_iter_no_change=1,
                validation_fraction=0.25, lr=1e-6).fit(X, y)
    assert len(est.history_) < 30
    final = _final_lines(capfd.readouterr().err)
    assert final == [line for line in final if "stopped at epoch" in line]
    assert f"stopped at epoch {len(est.history_)}" in final[0]
    assert "valid_loss=" in final[0] and "valid_acc=" in final[0]


def test_verbose_2_logs_every_epoch_even_without_a_terminal(tiny_bert, binary_data, capfd):
    X, y = binary_data
    _lora(tiny_bert, verbose=2, early_stopping=False).fit(X, y)
    out, err = capfd.readouterr()
    assert "train_loss" in out and len([ln for ln in out.splitlines() if ln.strip()]) == 4
    assert "LoRAClassifier" in err


def test_a_jupyter_kernel_counts_as_watched(monkeypatch):
    import types

    kernel = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel))
    assert _progress.interactive() and _progress.show_progress(1)
    plain_ipython = types.SimpleNamespace(kernel=None)  # a terminal IPython: its stderr decides
    monkeypatch.setitem(sys.modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: plain_ipython))
    assert _progress.interactive() == sys.stderr.isatty()


def test_progress_rule():
    assert not _progress.show_progress(0)
    assert _progress.show_progress(2)
    assert _progress.show_progress(1) == _progress.interactive()


def test_dependency_output_is_silenced_only_at_verbose_0(capsys):
    with _progress.silenced_output(0):
        print("Converting and de-quantizing GGUF tensors", file=sys.stderr)
    assert capsys.readouterr().err == ""
    with _progress.silenced_output(1):
        print("shown", file=sys.stderr)
    assert capsys.readouterr().err == "shown\n"


def test_in_context_scoring_has_a_bar_only_when_asked(tiny_bert, binary_data, capfd, monkeypatch):
    import estimators

    X, y = binary_data
    est = InContextClassifier(model=estimators.TINY_LM["path"], n_examples=2,
                              template="text: {text}\nlabel: {label}", calibrate=False,
                              random_state=0).fit(X, y)
    est.predict(X)
    assert capfd.readouterr().err == ""
    monkeypatch.setattr(_progress, "interactive", lambda: True)
    est.set_params(verbose=1).predict(X)
    assert "scoring" in capfd.readouterr().err


# ------------------------------------------------------------------ HTML card
def test_fitted_estimator_shows_a_summary_card(tiny_bert, binary_data):
    X, y = binary_data
    est = _lora(tiny_bert, early_stopping=True, validation_fraction=0.25)
    assert "sktransformers-summary" not in est._repr_mimebundle_()["text/html"]
    est.fit(X, y)
    html = est._repr_mimebundle_()["text/html"]
    assert "sktransformers-summary" in html and "LoRAClassifier" in html
    share = 100 * est.n_trainable_params_ / est.n_total_params_
    assert f"{est.n_trainable_params_:,} of {est.n_total_params_:,} ({share:.3g}%)" in html
    assert "cpu, auto (float32)" in html
    best = est.history_.best()
    assert f"{len(est.history_)} of 2 epochs; best validation loss {best['valid_loss']:.4f}" in html
    assert "saved weights (about)" in html


@pytest.mark.parametrize("cls", [LoRAClassifier, PromptTunedClassifier, AdapterClassifier,
                                 FullFinetuneClassifier])
def test_card_size_is_what_save_writes_as_weights(cls, tiny_bert, binary_data, tmp_path):
    from sktransformers.estimators.card import _artifact_bytes, summary

    X, y = binary_data
    est = cls(model=tiny_bert, max_epochs=1, verbose=0, random_state=0).fit(X, y)
    files = list(est.save(tmp_path / "m").rglob("*.safetensors"))
    # a safetensors file is an 8-byte length, a JSON header of that length, then the data
    data = sum(p.stat().st_size - 8 - int.from_bytes(p.read_bytes()[:8], "little") for p in files)
    estimate = _artifact_bytes(est)
    assert estimate == data
    assert summary(est)["saved weights (about)"] == f"{estimate / 1000:.1f} kB"


def test_card_of_frozen_features_has_no_training_line(tiny_bert, binary_data):
    X, y = binary_data
    html = TransformerFeatureClassifier(model=tiny_bert).fit(X, y)._repr_html_()
    assert "frozen transformer embeddings" in html
    assert "epochs" not in html.split("sktransformers-summary")[1]


def test_pipeline_of_fitted_estimators_still_renders(tiny_bert, binary_data):
    X, y = binary_data
    pipe = make_pipeline(TransformerFeatureClassifier(model=tiny_bert)).fit(X, y)
    assert "TransformerFeatureClassifier" in pipe._repr_html_()


# ------------------------------------------------------------------ history_
def test_history_is_a_list_and_a_frame(tiny_bert, binary_data, tmp_path):
    X, y = binary_data
    est = _lora(tiny_bert, early_stopping=False).fit(X, y)
    frame = est.history_.to_frame()
    # still a plain list of dicts for code written against 0.2: JSON round trip, indexing
    assert json.loads(json.dumps(est.history_)) == [dict(row) for row in est.history_]
    assert est.history_[0]["epoch"] == 1 and est.history_.best() == est.history_[-1]
    assert list(frame.index) == [1, 2] and frame.index.name == "epoch"
    assert frame["train_loss"].tolist() == [row["train_loss"] for row in est.history_]
    assert "<table" in est.history_._repr_html_()
    for loaded in (load(est.save(tmp_path / "folder")),
                   joblib.load(_dumped(est, tmp_path / "est.joblib"))):
        pd.testing.assert_frame_equal(loaded.history_.to_frame(), frame)


def _dumped(est, path):
    joblib.dump(est, path)
    return path


def test_empty_history_frame_and_best():
    assert History().to_frame().empty and History().best() is None
    steps = History([{"step": 1.0, "loss": 0.3}, {"step": 2.0, "loss": 0.2}])
    assert steps.to_frame().index.name == "step" and steps.best()["loss"] == 0.2


# ------------------------------------------------------------------ displays
def test_training_curve_display_draws_the_history(tiny_bert, binary_data):
    import matplotlib.pyplot as plt

    X, y = binary_data
    est = _lora(tiny_bert, max_epochs=3, early_stopping=True, validation_fraction=0.25).fit(X, y)
    fig, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(est, ax=ax)
    assert display.ax_ is ax and display.figure_ is fig
    epochs = [row["epoch"] for row in est.history_]
    for key in ("train_loss", "valid_loss", "valid_accuracy"):
        line = display.lines_[key]
        assert list(line.get_xdata()) == epochs
        np.testing.assert_allclose(line.get_ydata(), [row[key] for row in est.history_])
    assert display.lines_["valid_accuracy"].axes is display.ax_score_
    assert display.best_epoch_ == est.history_.best()["epoch"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "train loss", "validation loss", "validation accuracy"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_title() == "LoRAClassifier: loss per epoch"
    plt.close(fig)


def test_training_curve_refuses_an_estimator_without_epochs(tiny_bert, binary_data):
    X, y = binary_data
    est = TransformerFeatureClassifier(model=tiny_bert).fit(X, y)
    with pytest.raises(ValueError, match="trains no epochs"):
        TrainingCurveDisplay.from_estimator(est)
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(LoRAClassifier())


def _results():
    return pd.DataFrame({"method": ["tfidf", "feature", "lora", "full"],
                         "accuracy": [0.66, 0.71, 0.72, 0.718],
                         "f1_macro": [0.6, 0.7, 0.7, 0.7],
                         "fit_s": [0.5, 4.4, 27.9, 34.0],
                         "trainable_params": [30_000, 1_155, 75_651, 22_700_000]})


def test_compare_display_places_each_method(tmp_path):
    import matplotlib.pyplot as plt

    results = _results()
    display = CompareDisplay.from_results(results)
    offsets = display.scatter_.get_offsets()
    np.testing.assert_allclose(offsets[:, 0], results.fit_s)
    np.testing.assert_allclose(offsets[:, 1], results.accuracy)
    sizes = display.scatter_.get_sizes()
    assert np.argmax(sizes) == 3 and np.argmin(sizes) == 1  # area follows trainable params
    assert display.annotations_["lora"].get_text() == "lora (75,651)"
    assert display.ax_.get_xscale() == "log"
    assert display.ax_.get_ylabel() == "test accuracy"
    other = CompareDisplay.from_results(results, metric="f1_macro", title="mine")
    assert other.ax_.get_ylabel() == "test f1_macro" and other.ax_.get_title() == "mine"
    with pytest.raises(ValueError, match="not a column"):
        CompareDisplay.from_results(results, metric="auc")
    plt.close("all")


def test_compare_display_labels_of_a_cluster_do_not_overlap():
    """The tweets' adapted encoders: five methods within 10 s and 2 points."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    results = pd.DataFrame({
        "method": ["tfidf", "feature", "head", "full", "lora", "adapter", "prompt", "prefix"],
        "accuracy": [0.666, 0.710, 0.704, 0.718, 0.714, 0.706, 0.700, 0.698],
        "fit_s": [0.1, 3.2, 1.3, 22.3, 19.7, 17.2, 26.4, 21.7],
        "trainable_params": [7308, 1155, 1155, 22714371, 74883, 227235, 8835, 652547]})
    display = CompareDisplay.from_results(results)
    display.figure_.canvas.draw()
    boxes = {name: Text.get_window_extent(label)
             for name, label in display.annotations_.items()}
    clashes = [(a, b) for a in boxes for b in boxes if a < b and boxes[a].overlaps(boxes[b])]
    assert not clashes
    figure = display.figure_.bbox
    assert all(figure.x0 <= box.x0 and box.x1 <= figure.x1 for box in boxes.values())
    plt.close("all")


def test_compare_writes_its_plot_through_the_display(tmp_path, monkeypatch):
    from sktransformers.compare import plot_results

    seen = []
    original = CompareDisplay.plot

    def spy(self, ax=None):
        seen.append(self)
        return original(self, ax=ax)

    monkeypatch.setattr(CompareDisplay, "plot", spy)
    path = plot_results(_results(), tmp_path / "results.png")
    assert path.stat().st_size > 10_000 and len(seen) == 1
    assert len(seen[0].annotations_) == 4


def test_display_names_are_public():
    assert sktransformers.display.TrainingCurveDisplay is TrainingCurveDisplay
    assert sktransformers.display.CompareDisplay is CompareDisplay
