"""The peer of `trove bench embed`: sentence-transformers on PyTorch (CPU) embedding the same
sentences with the same model files. Prints one JSON line:
{"threads": {"1": sentences_per_second, ...}, "short_latency_ms": p50, "rss_mib": peak}.

  pytorch_embed.py MODEL_DIR SENTENCES_FILE ROUNDS THREADS [THREADS ...]
"""

import json
import resource
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    model_dir, sentences_file, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    thread_counts = [int(value) for value in sys.argv[4:]]
    sentences = [line.strip() for line in open(sentences_file, encoding="utf-8") if line.strip()]
    model = SentenceTransformer(model_dir, device="cpu")
    results = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        model.encode(sentences, batch_size=32)  # warm-up
        best = 0.0
        for _ in range(rounds):
            started = time.perf_counter()
            model.encode(sentences, batch_size=32)
            best = max(best, len(sentences) / (time.perf_counter() - started))
        results[str(threads)] = best
    torch.set_num_threads(thread_counts[0])
    latencies = []
    for _ in range(50):
        started = time.perf_counter()
        model.encode(["What is the capital of France?"])
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"threads": results, "short_latency_ms": latencies[len(latencies) // 2], "rss_mib": rss_mib}))


if __name__ == "__main__":
    main()
