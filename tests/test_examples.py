"""The example notebooks run end to end on the packaged models, each within 3 CPU-minutes.

Each notebook (MyST Markdown under ``examples/``) is executed in a fresh kernel,
as the docs build executes it, and its result is stored in the docs build's
execution cache: the docs build that follows in CI then shows these outputs
instead of running every notebook a second time. What each notebook claims in
its text is checked on its printed output.
"""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOCS_CACHE = ROOT / "docs" / "_build" / ".jupyter_cache"
CPU_BUDGET_S = 180  # the bound: 3 CPU-minutes per notebook

pytestmark = pytest.mark.slow


def _number(text: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)}:?\s+([0-9.e-]+)", text)
    assert match, f"{label!r} not in the notebook's output:\n{text}"
    return float(match.group(1))


def _quickstart(out: str) -> None:
    baseline = _number(out, "TF-IDF + logistic regression")
    assert _number(out, "frozen features") > baseline
    assert _number(out, "LoRA") > baseline


def _compare(out: str) -> None:
    scores = dict(re.findall(r"\[\d/5\] (\w+):.*?\n\s*accuracy ([0-9.]+)", out))
    assert set(scores) == {"tfidf", "feature", "head", "lora", "adapter"}
    assert float(scores["feature"]) > float(scores["tfidf"])


def _in_context(out: str) -> None:
    majority = 0.424  # share of "negative" among the tweets
    assert max(_number(out, "balanced"), _number(out, "nearest")) > majority


def _search(out: str) -> None:
    added, removed = re.findall(r"^\[(.*)\]$", out, flags=re.M)[-2:]
    assert "'walrus'" in added and "walrus" not in removed  # add/remove act at once
    assert _number(out, "dense nDCG@10") > 0.5 and _number(out, "hybrid nDCG@10") > 0.5
    sources = re.findall(r"sources: \[(.*)\]", out)
    assert len(sources) == 2 and all(sources)  # each answer names the chunks it read


def _model_selection(out: str) -> None:
    encoded = re.search(r"texts encoded: ([\d,]+) \(([\d,]+) distinct", out)
    assert encoded and encoded.group(1) == encoded.group(2)  # each text once
    written = re.search(r"([\d,]+) distinct texts; written to the shared store: ([\d,]+)", out)
    assert written and written.group(1) == written.group(2)


def _save_and_load(out: str) -> None:
    assert "same predictions: True" in out
    assert _number(out, "largest difference from predict_proba") < 1e-4


CHECKS = {"quickstart": _quickstart, "compare_your_csv": _compare, "in_context": _in_context,
          "search_your_documents": _search, "model_selection": _model_selection,
          "save_and_load": _save_and_load}


def test_every_notebook_is_checked():
    assert sorted(CHECKS) == sorted(p.stem for p in EXAMPLES.glob("*.md"))


def _stdout(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream" and output.get("name") == "stdout")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_notebook_runs(name, tmp_path):
    pytest.importorskip("myst_nb", reason="the notebooks need the test extra (myst-nb)")
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution
    from myst_nb.core.read import read_myst_markdown_notebook

    path = EXAMPLES / f"{name}.md"
    notebook = read_myst_markdown_notebook(path.read_text(), path=str(path))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = single_nb_execution(notebook, cwd=str(tmp_path), allow_errors=False, timeout=600,
                                 meta_override=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel has exited by now
    assert result.err is None, result.exc_string
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{name}: {result.time:.1f} s wall, {cpu:.1f} CPU-s")
    assert cpu <= CPU_BUDGET_S, f"{name} took {cpu:.0f} CPU-seconds (budget {CPU_BUDGET_S})"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    CHECKS[name](_stdout(notebook))
    DOCS_CACHE.mkdir(parents=True, exist_ok=True)
    get_cache(str(DOCS_CACHE)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(ROOT / "docs" / "examples" / path.name),
                      data={"execution_seconds": result.time}),
        check_validity=False, overwrite=True)
