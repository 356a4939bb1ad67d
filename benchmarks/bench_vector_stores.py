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
    python benchmarks/bench_vector_stores.py --n 1000000 --stores faiss-hnsw faiss-ivf
    python benchmarks/bench_vector_stores.py --smoke          # seconds (CI)

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


def unit_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # in blocks: no float64 copy of the whole set
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(vectors, queries) -> np.ndarray:
    return make_store("exact", vectors).search(queries, K, np.ones(len(vectors), bool))[1]


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
    args = parse_args(__doc__, extra=extra, repeats=1)
    if args.smoke:
        args.n, args.n_queries = 2000, 50
    vectors = unit_vectors(args.n, args.seed)
    queries = unit_vectors(args.n_queries, args.seed + 1)
    start = time.perf_counter()
    truth = exact_top(vectors, queries)
    print(f"exact top-{K} of {len(queries)} queries: {time.perf_counter() - start:.1f} s")
    table = pd.DataFrame([row for name in args.stores
                          for row in measure(name, vectors, queries, truth, 200)])
    checks = [f"{args.n:,} unit vectors of {DIM} dimensions, uniform on the sphere (seed "
              f"{args.seed}); {args.n_queries:,} queries; one run. Build memory is the "
              "peak RSS growth while the store is built (the vectors themselves were "
              "allocated before)."]
    for name in ("faiss-hnsw", "faiss-ivf"):
        rows = table[table.store.str.startswith(name)]
        if len(rows):
            best = rows["recall@10"].max()
            checks.append(target(f"{name}: best recall@10 of the sweep", best, 0.95))
    write(f"vector_stores_{args.n}", table, checks, args, plot=plot,
          runs="One run per store and setting.")


if __name__ == "__main__":
    main()
