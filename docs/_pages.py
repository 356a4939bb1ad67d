"""Pages written at build time: the example notebooks and one page per benchmark result."""

from __future__ import annotations

import shutil
from pathlib import Path

#: plots without a table of their own, shown on the page of the benchmark that draws them
EXTRA_PLOTS = {"persistence_sizes": ["persistence_refits"]}


def write_example_pages(source: Path, target: Path) -> None:
    """Copy the MyST notebooks of ``examples/`` (and their index) into the docs."""
    target.mkdir(exist_ok=True)
    for page in source.glob("*.md"):
        dest = target / page.name
        if not dest.exists() or dest.read_bytes() != page.read_bytes():
            shutil.copy(page, dest)  # unchanged files keep their time: no rebuild


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
    index = ["# Benchmarks", "",
             "Every result committed under `benchmarks/results/`, with its plot and the "
             "command that reproduced it. Each benchmark runs our code and the established "
             "alternative side by side in one process, alternating runs, and reports "
             "medians and ratios: the machines are noisy. Measured on 2 CPU cores unless "
             "the page says otherwise.", "",
             "```{toctree}", ":maxdepth: 1", "", *names, "```", ""]
    _write_if_changed(target / "index.md", "\n".join(index))


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
