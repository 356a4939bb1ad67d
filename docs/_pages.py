"""Pages written at build time: the example notebooks and one page per benchmark result."""

from __future__ import annotations

import shutil
from pathlib import Path

#: plots without a table of their own, shown on the page of the benchmark that draws them
EXTRA_PLOTS = {"persistence_sizes": ["persistence_refits"],
               "persistence_sizes_avx2": ["persistence_refits_avx2"]}


#: the order of the example gallery
EXAMPLES = ["quickstart", "compare_your_csv", "in_context", "search_your_documents",
            "model_selection", "save_and_load"]


def write_example_pages(source: Path, target: Path) -> None:
    """Copy the MyST notebooks of ``examples/`` into the docs, with a gallery index.

    Raises when a notebook in ``examples/`` is missing from :data:`EXAMPLES`.
    """
    target.mkdir(exist_ok=True)
    found = sorted(p.stem for p in source.glob("*.md"))
    if sorted(EXAMPLES) != found:
        raise RuntimeError(f"examples/ holds {found}; docs/_pages.py lists {EXAMPLES}")
    for page in source.glob("*.md"):
        dest = target / page.name
        if not dest.exists() or dest.read_bytes() != page.read_bytes():
            shutil.copy(page, dest)  # unchanged files keep their time: no rebuild
    _write_index(target, "Examples",
                 "Notebooks stored as MyST Markdown in `examples/`, executed on every docs "
                 "build and by the slow tests, on the packaged models and data. Each runs "
                 "in under three CPU-minutes on 2 CPU cores (the slow test asserts it); "
                 "open one in Jupyter with `jupytext` or read it here with its outputs.",
                 EXAMPLES)


def write_benchmark_pages(results: Path, target: Path) -> None:
    """``benchmarks/<name>.md`` for each ``results/<name>.md``: its table, plots, command.

    Raises when a plot in ``results`` would appear on no page.
    """
    target.mkdir(exist_ok=True)
    names = sorted(p.stem for p in results.glob("*.md"))
    shown = set(names) | {extra for extras in EXTRA_PLOTS.values() for extra in extras}
    orphans = sorted(p.stem for p in results.glob("*.png") if p.stem not in shown)
    if orphans:
        raise RuntimeError(f"benchmark plots with no docs page: {orphans}; add them to "
                           "EXTRA_PLOTS in docs/_pages.py")
    rel = Path("..") / ".." / "benchmarks" / "results"
    for name in names:
        lines = [f"```{{include}} {rel / (name + '.md')}", "```", ""]
        for plot in [name, *EXTRA_PLOTS.get(name, [])]:
            if (results / f"{plot}.png").exists():
                lines += [f"![{plot}]({rel / (plot + '.png')})", ""]
        _write_if_changed(target / f"{name}.md", "\n".join(lines))
    _write_index(target, "Benchmarks",
                 "Every result committed under `benchmarks/results/`, with its plot and the "
                 "command that reproduced it. Each benchmark runs our code and the "
                 "established alternative side by side in one process, alternating runs, "
                 "and reports medians and ratios: the machines are noisy. Measured on 2 "
                 "CPU cores unless the page says otherwise.", names)


def _write_index(target: Path, title: str, intro: str, pages: list[str]) -> None:
    """``target/index.md``: a title, a paragraph and a toctree of ``pages``."""
    lines = [f"# {title}", "", intro, "", "```{toctree}", ":maxdepth: 1", "", *pages, "```", ""]
    _write_if_changed(target / "index.md", "\n".join(lines))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
