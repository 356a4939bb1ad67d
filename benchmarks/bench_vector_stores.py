"""The vector stores behind DocumentIndex, on random unit vectors: exact, FAISS, Qdrant.

Every store of ``sktransformers.retrieval.stores`` (the code ``DocumentIndex`` runs)
indexes the same ``--n`` unit vectors of 384 dimensions (MiniLM's width), drawn
uniformly on the sphere (the hardest case for approximate search: no clusters to
exploit), and answers the same queries. Reported per store: build seconds, peak
memory growth while building (and per vector), single-query latency p50/p99 (200
queries), batch throughput (queries/s, 1,000 queries at once) and recall@10 against
exact search. FAISS's search breadth (HNSW ``ef_search``, IVF ``nprobe``) is swept,
so the recall each costs is visible. Qdrant runs in its client's local mode, what
tests and CI run; a server or cluster is the same code with ``url=``.

    python benchmarks/bench_vector_stores.py                  # 100,000 vectors
    python benchmarks/bench_vector_stores.py --n 1000000 --stores exact faiss-hnsw faiss-ivf \
        --distribution clustered
    python benchmarks/bench_vector_stores.py --smoke          # seconds (CI)

``--distribution clustered`` draws the vectors (and queries) around ``n / 1000``
centres uniform on the sphere, ``normalize(centre + g)`` with ``g`` Gaussian of norm
about 1 (a member's cosine to its centre is about 0.71, to another member about 0.5):
structure of the kind text embeddings have (topics), which approximate search exploits.

Target (issue 21): approximate search on 1 M vectors with recall@10 >= 0.95.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from _harness import parse_args, target, write

from sktransformers.core.profiling import Measure
from sktransformers.retrieval.stores import make_store

DIM, K = 384, 10
STORES = {
    "exact": ("exact", {}, None),
    "faiss-hnsw": ("faiss", {"kind": "hnsw", "m": 32, "ef_construction": 80},
                   ("ef_search", [32, 64, 128, 256, 512])),
    "faiss-ivf": ("faiss", {"kind": "ivf"}, ("nprobe", [8, 16, 32, 64, 128])),
    "qdrant-local": ("qdrant", {}, None),
}


def unit_vectors(n: int, seed: int, centres: np.ndarray | None = None) -> np.ndarray:
    """``n`` unit vectors: uniform on the sphere, or around random rows of ``centres``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: no float64 copy of the whole set
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        if centres is not None:
            block /= np.sqrt(DIM)
            block += centres[rng.integers(len(centres), size=len(block))]
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def data(n: int, n_queries: int, seed: int, distribution: str):
    """The indexed vectors and the queries, of one distribution."""
    centres = (unit_vectors(max(1, n // 1000), seed + 2) if distribution == "clustered"
               else None)
    return unit_vectors(n, seed, centres), unit_vectors(n_queries, seed + 1, centres)


def exact_top(vectors, queries) -> np.ndarray:
    return make_store("exact", vectors).search(queries, K, np.ones(len(vectors), bool))[1]


def contrast(vectors, queries, truth) -> str:
    """How far the true neighbours stand out: their cosine against any vector's."""
    rng = np.random.default_rng(0)
    near = np.einsum("qd,qkd->qk", queries, vectors[truth])
    anyone = queries @ vectors[rng.integers(len(vectors), size=1000)].T
    return (f"Cosine of a query to its nearest vector {near[:, 0].mean():.3f}, to its "
            f"10th {near[:, -1].mean():.3f}, to a vector at random {anyone.mean():.3f} "
            f"(sd {anyone.std():.3f}): how much the neighbours stand out.")


def recall(found, truth) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def measure(name, vectors, queries, truth, n_single):
    kind, options, sweep = STORES[name]
    allowed = np.ones(len(vectors), bool)
    with Measure() as built:
        store = make_store(kind, vectors, options)
    rows = []
    for setting in (sweep[1] if sweep else [None]):
        label = name if setting is None else f"{name} {sweep[0]}={setting}"
        if setting is not None:
            setattr(store, sweep[0], setting)
        times = []
        for q in queries[:n_single]:
            start = time.perf_counter()
            store.search(q[None], K, allowed)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = store.search(queries, K, allowed)[1]
        batch_s = time.perf_counter() - start
        rows.append({"store": label, "n": len(vectors), "build_s": built.seconds,
                     "build_peak_mb": built.peak_rss_mb,
                     "bytes_per_vector": built.peak_rss_mb * 2**20 / len(vectors),
                     "p50_ms": 1000 * np.percentile(times, 50),
                     "p99_ms": 1000 * np.percentile(times, 99),
                     "batch_queries_per_s": len(queries) / batch_s,
                     "recall@10": recall(found, truth)})
        print(rows[-1], flush=True)
    store.drop()
    return rows


def plot(ax, table):
    for name, rows in table.groupby(table.store.str.split(" ").str[0], sort=False):
        ax.plot(rows["recall@10"], rows["p50_ms"], "o-", label=name)
    ax.set_xlabel("recall@10 against exact search")
    ax.set_ylabel("single-query latency p50 (ms)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)


def main():
    def extra(p):
        p.add_argument("--n", type=int, default=100_000)
        p.add_argument("--n-queries", type=int, default=1000)
        p.add_argument("--stores", nargs="*", default=list(STORES), choices=list(STORES))
        p.add_argument("--distribution", choices=["uniform", "clustered"], default="uniform")
    args = parse_args(__doc__, extra=extra, repeats=1)
    if args.smoke:
        args.n, args.n_queries = 2000, 50
    vectors, queries = data(args.n, args.n_queries, args.seed, args.distribution)
    start = time.perf_counter()
    truth = exact_top(vectors, queries)
    print(f"exact top-{K} of {len(queries)} queries: {time.perf_counter() - start:.1f} s")
    table = pd.DataFrame([row for name in args.stores
                          for row in measure(name, vectors, queries, truth, 200)])
    shape = ("uniform on the sphere" if args.distribution == "uniform" else
             f"around {max(1, args.n // 1000):,} random centres (see the docstring)")
    checks = [f"{args.n:,} unit vectors of {DIM} dimensions, {shape} (seed {args.seed}); "
              f"{args.n_queries:,} queries from the same distribution; one run. Build "
              "memory is the peak RSS growth while the store is built (the vectors "
              "themselves were allocated before).", contrast(vectors, queries, truth)]
    for name in ("faiss-hnsw", "faiss-ivf"):
        rows = table[table.store.str.startswith(name)]
        if len(rows):
            best = rows["recall@10"].max()
            checks.append(target(f"{name}: best recall@10 of the sweep", best, 0.95))
    suffix = "" if args.distribution == "uniform" else f"_{args.distribution}"
    write(f"vector_stores_{args.n}{suffix}", table, checks, args, plot=plot,
          runs="One run per store and setting.")


if __name__ == "__main__":
    main()
