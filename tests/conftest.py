"""Shared fixtures: a tiny random BERT, toy data, and the estimator matrix."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from tiny_models import make_tiny_bert, make_tiny_llama

warnings.filterwarnings("ignore", message=".*Token type ids are not supported.*")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

POS = ["good film", "great movie", "nice story", "love this film", "best plot", "fun actor"]
NEG = ["bad film", "awful movie", "boring story", "hate this film", "worst plot", "dull actor"]
NEU = ["the city", "a name", "the year", "a person", "the place", "a number"]


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, tiny_llama):
    import estimators

    estimators.TINY_LM["path"] = tiny_llama
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def binary_data():
    X = POS * 2 + NEG * 2
    y = ["pos"] * 12 + ["neg"] * 12
    return X, y


@pytest.fixture
def multiclass_data():
    X = POS * 2 + NEG * 2 + NEU * 2
    y = [2] * 12 + [0] * 12 + [1] * 12
    return X, y


@pytest.fixture
def regression_data():
    """Positive phrases score about 4, negative ones about 1 (with a little spread)."""
    X = POS * 2 + NEG * 2
    y = [4.0 + 0.1 * i for i in range(12)] + [1.0 - 0.1 * i for i in range(12)]
    return X, y


@pytest.fixture
def data_for(binary_data, regression_data):
    """``data_for(name)``: training data of the right kind for estimator ``name``."""
    from estimators import is_regressor_name

    return lambda name: regression_data if is_regressor_name(name) else binary_data


#: Accuracies measured by the slow tests, printed at the end of the run.
MEASURED: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured accuracies (slow tests)")
        for line in MEASURED:
            terminalreporter.write_line(line)


def missing_data(reason: str):
    """Skip a test whose real data is absent, or fail it in CI (``CI=true``), where
    the data is always laid out: a claim CI cannot check must not pass quietly."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{reason} (CI=true: real-data tests fail instead of skipping)")
    pytest.skip(reason)


def shared_dataset(name: str) -> Path:
    """The folder of a shared dataset, or a skip (a failure in CI) saying why it is
    missing."""
    folder = SHARED_DATASETS / name
    if not folder.is_dir():
        missing_data(f"shared dataset folder {folder} is absent; slow tests need "
                     "../shared/datasets")
    return folder


@pytest.fixture(scope="session")
def sst2_sample():
    """A seeded 1,000-text SST-2 training sample and the 872-sentence test split.

    SST-2's training split mixes short phrases with sentences while its test
    split holds whole sentences; the sample is drawn from training rows of at
    least five words so that it consists of sentence-like texts.
    """
    pd = pytest.importorskip("pandas")
    folder = shared_dataset("sst2")
    train = pd.read_csv(folder / "train.csv")
    train = train[train.text.str.split().str.len() >= 5].sample(1000, random_state=0)
    test = pd.read_csv(folder / "test.csv")
    return train.text, train.label, test.text, test.label
