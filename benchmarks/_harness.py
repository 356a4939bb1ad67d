"""Shared benchmark plumbing: data, alternating timed runs, medians, result files.

Every benchmark runs our estimator and the established alternative on the same
data, backbone, max_length, batch size, epochs and seed, alternating runs
(ours, theirs, ours, theirs, ...) so drift in machine load hits both, and
reports medians and ratios. ``--smoke`` runs a tiny size (CI uses it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from pathlib import Path

import pandas as pd
import torch

from sktransformers.backbones.packaged import default_encoder_path
from sktransformers.compare import markdown_table
from sktransformers.core.profiling import Measure

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_args(description: str, extra=None, **defaults) -> argparse.Namespace:
    """Common options; ``extra(parser)`` adds a benchmark's own."""
    parser = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(parser)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--repeats", type=int, default=defaults.get("repeats", 3))
    parser.add_argument("--n-train", type=int, default=defaults.get("n_train", 2000))
    parser.add_argument("--epochs", type=int, default=defaults.get("epochs"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.n_train, args.epochs = 1, 64, 1
    return args


def sst2(n_train: int, seed: int = 0, n_test: int | None = None):
    """A seeded SST-2 training sample and the GLUE dev split (872 sentences)."""
    folder = SHARED / "sst2"
    if not folder.is_dir():
        sys.exit(f"skipped: {folder} is absent; benchmarks read ../shared/datasets/sst2")
    train = pd.read_csv(folder / "train.csv").sample(n_train, random_state=seed)
    test = pd.read_csv(folder / "test.csv")
    if n_test:
        test = test.head(n_test)
    return train, test


def backbone() -> str:
    return default_encoder_path()


def alternate(contenders: dict, repeats: int) -> dict[str, list[dict]]:
    """Run each contender ``repeats`` times, interleaved; each returns a dict of metrics.

    Wall time, peak RSS growth and peak CUDA memory of each run are added.
    """
    runs = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            with Measure() as m:
                metrics = run() or {}
            runs[name].append({"seconds": m.seconds, "peak_rss_mb": m.peak_rss_mb,
                               "peak_cuda_mb": m.peak_cuda_mb, **metrics})
    return runs


def isolated(fn, *args) -> dict:
    """``fn(*args)`` in a fresh process: its metrics, wall time and peak memory.

    ``fn`` is a module-level function returning a dict of metrics. A contender run in
    the benchmark's own process inherits what the one before it left (allocator
    arenas, caches), so its memory growth says little; here ``peak_rss_mb`` is the
    peak resident memory of a process that ran only this contender (its imports
    included), and ``seconds`` the call's own time.
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_timed_call, (fn, *args))


def _timed_call(fn, *args) -> dict:
    import resource
    import time

    start = time.perf_counter()
    metrics = fn(*args) or {}
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "peak_rss_mb": peak, **metrics}


def summarise(runs: dict[str, list[dict]]) -> pd.DataFrame:
    """Median of every numeric metric per contender (plus the number of runs)."""
    rows = []
    for name, results in runs.items():
        frame = pd.DataFrame(results)
        row = {"contender": name, "runs": len(frame)}
        row.update(frame.median(numeric_only=True).to_dict())
        rows.append(row)
    return pd.DataFrame(rows)


#: TRL's configs turn bf16 autocast on by default, on a CPU too; our estimators train in
#: fp32 there and in bf16 autocast on a GPU ``precision="auto"``. TRL's anchors run the
#: same (like with like): an AVX2 host emulates bf16, which made one capped TRL reward
#: model run 688 s against 35 s uncapped.
TRL_BF16 = torch.cuda.is_available()


#: The instruction-set caps that reproduce the slowest CI hosts (AVX2 only) on a newer CPU
#: (torch's fp32 matmuls run in MKL, and its default int8 engine in FBGEMM: each library
#: reads only its own cap). ONNX Runtime reads none: its kernels follow the CPU.
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
            "FBGEMM_ENABLE_INSTRUCTIONS")


def isa_caps() -> dict[str, str]:
    """The caps set in this process's environment (empty when uncapped)."""
    return {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}


def device_label() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    caps = isa_caps()
    capped = f", capped to {caps.get('ATEN_CPU_CAPABILITY', 'its ISA')}" if caps else ""
    return f"CPU ({os.cpu_count()} cores, torch threads {torch.get_num_threads()}{capped})"


def result_path(name: str, args) -> Path:
    """``results/<name>.md`` as this run writes it (``_gpu`` / ``_avx2`` where so)."""
    if str(getattr(args, "device", "auto")).startswith("cuda"):
        name = f"{name}_gpu"  # GPU runs keep the CPU results beside them
    caps = isa_caps()
    if caps:  # capped runs keep the uncapped results beside them
        name = f"{name}_{caps.get('ATEN_CPU_CAPABILITY', 'capped').lower()}"
    return RESULTS / f"{name}.md"


def write(name: str, table: pd.DataFrame, checks: list[str], args, plot=None,
          runs: str | None = None, reproduce: list[str] | None = None) -> None:
    """Print and save ``results/<name>.md`` and ``.csv`` (and ``.png`` via ``plot``).

    ``reproduce``: the commands that made the table, where it gathers several runs
    (default: this process's command line).
    """
    name = result_path(name, args).stem
    caps = isa_caps()
    if args.smoke:
        print(table.to_string(index=False))
        print("\n".join(checks))
        print("smoke run: nothing written")
        return
    RESULTS.mkdir(exist_ok=True)
    command = "".join(f"{k}={v} " for k, v in caps.items()) + "python " + shlex.join(
        [f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    lines = [
        f"# {name}",
        "",
        f"Device: {device_label()}; Python {platform.python_version()}, "
        f"torch {torch.__version__}. "
        + (runs or f"Medians of {args.repeats} alternating runs."),
        "",
        "Reproduce: " + "; then ".join(f"`{c}`" for c in (reproduce or [command])),
        "",
        _markdown(table),
        "",
        *[f"- {c}" for c in checks],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (RESULTS / f"{name}.md").write_text(text)
    table.to_csv(RESULTS / f"{name}.csv", index=False)
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=getattr(plot, "figsize", (6, 3.5)))
        plot(ax, table)
        ax.set_title(name)
        fig.tight_layout()
        fig.savefig(RESULTS / f"{name}.png", dpi=110)
        plt.close(fig)


def target(label: str, value: float, goal: float, higher_is_better=True) -> str:
    met = value >= goal if higher_is_better else value <= goal
    sign = ">=" if higher_is_better else "<="
    return f"{label}: {value:.2f} (target {sign} {goal}) -> {'MET' if met else 'NOT MET'}"


def bar_plot(column: str, xlabel: str):
    def plot(ax, table):
        ax.barh(table.contender, table[column])
        ax.set_xlabel(xlabel)

    return plot


def _markdown(table: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    return markdown_table(table, fmt)
