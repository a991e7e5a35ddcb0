"""The peer of `trove bench ann`: hnswlib (one thread) building and searching an HNSW index on
the data set that the Swift side wrote, with the same M, ef_construction, seed and ef values.

  hnswlib_ann.py DATASET_DIR

DATASET_DIR holds dataset.json ({"count", "queries", "dimension", "metric", "k", "m",
"ef_construction", "ef_search", "seed", ...}), base.f32 and queries.f32 (little-endian float32,
row-major) and ground_truth.i32 (little-endian int32, the exact k nearest base rows per query,
best first). Prints one JSON line:
{"library", "build_seconds", "build_vectors_per_second", "memory_bytes", "call_overhead_us",
 "rows": [{"ef", "recall", "qps", "p50_us", "p99_us"}, ...]}.
memory_bytes is the growth of this process's RSS from just before the index is made to just after
the build. Queries go one at a time; qps is queries / the time spent in knn_query. call_overhead_us
is the median knn_query time on a one-vector index (the Python binding's own cost per call); it is
reported, not subtracted. Progress goes to stderr.
"""

import importlib.metadata
import json
import math
import os
import sys
import time
from pathlib import Path

import hnswlib
import numpy as np

SPACES = {"cosine": "cosine", "l2": "l2", "ip": "ip"}


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(path: Path, dtype: str, rows: int, columns: int) -> np.ndarray:
    data = np.fromfile(path, dtype=dtype)
    if data.size != rows * columns:
        sys.exit(f"{path}: {data.size} values, expected {rows} x {columns}")
    return data.reshape(rows, columns)


def percentile(sorted_values: list, fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def call_overhead_us(space: str, dimension: int, queries: np.ndarray) -> float:
    index = hnswlib.Index(space=space, dim=dimension)
    index.init_index(max_elements=1)
    index.set_num_threads(1)
    index.add_items(queries[:1], np.zeros(1, dtype=np.int64), num_threads=1)
    vectors = [queries[i % len(queries) : i % len(queries) + 1] for i in range(1000)]
    times = []
    for vector in vectors:
        started = time.perf_counter_ns()
        index.knn_query(vector, k=1, num_threads=1)
        times.append(time.perf_counter_ns() - started)
    times.sort()
    return percentile(times, 0.5) / 1000


def main() -> None:
    directory = Path(sys.argv[1])
    spec = json.loads((directory / "dataset.json").read_text(encoding="utf-8"))
    n, q, d, k = spec["count"], spec["queries"], spec["dimension"], spec["k"]
    space = SPACES[spec["metric"]]
    base = load(directory / "base.f32", "<f4", n, d)
    queries = load(directory / "queries.f32", "<f4", q, d)
    truth = load(directory / "ground_truth.i32", "<i4", q, k)
    truth_sets = [set(row.tolist()) for row in truth]

    rss_before = rss_bytes()
    started = time.perf_counter()
    index = hnswlib.Index(space=space, dim=d)
    index.init_index(max_elements=n, M=spec["m"], ef_construction=spec["ef_construction"], random_seed=spec["seed"])
    index.set_num_threads(1)
    index.add_items(base, np.arange(n, dtype=np.int64), num_threads=1)
    build_seconds = time.perf_counter() - started
    memory_bytes = rss_bytes() - rss_before
    print(f"hnswlib: built {n} x {d} {space} in {build_seconds:.2f} s", file=sys.stderr)

    query_rows = [queries[i : i + 1] for i in range(q)]
    rows = []
    for ef in spec["ef_search"]:
        index.set_ef(ef)
        for vector in query_rows:  # warm-up
            index.knn_query(vector, k=k, num_threads=1)
        times, hits = [], 0
        for i, vector in enumerate(query_rows):
            started_ns = time.perf_counter_ns()
            labels, _ = index.knn_query(vector, k=k, num_threads=1)
            times.append(time.perf_counter_ns() - started_ns)
            hits += len(truth_sets[i].intersection(labels[0].tolist()))
        total_seconds = sum(times) / 1e9
        times.sort()
        row = {
            "ef": ef,
            "recall": hits / (q * k),
            "qps": q / total_seconds,
            "p50_us": percentile(times, 0.5) / 1000,
            "p99_us": percentile(times, 0.99) / 1000,
        }
        rows.append(row)
        print(f"hnswlib: ef {ef}: recall {row['recall']:.4f}, {row['qps']:.0f} queries/s", file=sys.stderr)

    print(json.dumps({
        "library": f"hnswlib {importlib.metadata.version('hnswlib')}",
        "build_seconds": build_seconds,
        "build_vectors_per_second": n / build_seconds,
        "memory_bytes": memory_bytes,
        "call_overhead_us": call_overhead_us(space, d, queries),
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
