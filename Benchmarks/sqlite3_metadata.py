"""The peer of `trove bench metadata`: the same chunk inserts and document reads done by
Python's sqlite3 module directly on a database with Trove's schema (made by the metadata
service itself, so the tables, indexes, full-text triggers and settings are the same).

  sqlite3_metadata.py DATABASE INSERT_DOCUMENT_ID READ_DOCUMENT_ID BATCHES BATCH_SIZE READS

Prints one JSON line: {"insert_seconds", "chunks", "read_latencies_ms": [...]}.
"""

import json
import sqlite3
import sys
import time
import uuid

WORDS = (
    "vector search index chunk document embedding model token offset storage query result "
    "metadata filter collection retrieval pipeline graph neighbour cosine distance recall latency "
    "throughput batch stream object bucket region signature version status failure retry"
).split()


def chunk_text(sequence: int, words: int) -> str:
    # The same text `trove bench metadata` sends.
    return " ".join(WORDS[(sequence * 7 + index * 13) % len(WORDS)] for index in range(words))


def main() -> None:
    database, insert_document, read_document = sys.argv[1], sys.argv[2], sys.argv[3]
    batches, batch_size, reads = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    words = int(sys.argv[7]) if len(sys.argv) > 7 else 30
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA busy_timeout = 5000")

    started = time.perf_counter()
    offset = 0
    for batch in range(batches):
        rows = []
        for index in range(batch_size):
            sequence = batch * batch_size + index
            text = chunk_text(sequence, words)
            rows.append((str(uuid.uuid4()), insert_document, sequence, text, offset, offset + len(text), words))
            offset += len(text)
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO chunks (id, document_id, sequence, content, start_offset, end_offset, token_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute(
            "UPDATE documents SET chunk_count = chunk_count + ?, updated_at = ? WHERE id = ?",
            (len(rows), int(time.time() * 1000), insert_document),
        )
        connection.execute("COMMIT")
    insert_seconds = time.perf_counter() - started

    latencies = []
    for _ in range(reads):
        started = time.perf_counter()
        document = connection.execute("SELECT * FROM documents WHERE id = ?", (read_document,)).fetchone()
        chunks = connection.execute(
            "SELECT id, document_id, sequence, content, start_offset, end_offset, token_count FROM chunks WHERE document_id = ? ORDER BY sequence",
            (read_document,),
        ).fetchall()
        result = {"document": document, "chunks": [dict(zip(("id", "document_id", "sequence", "content", "start", "end", "tokens"), row)) for row in chunks]}
        latencies.append((time.perf_counter() - started) * 1000)
        if len(result["chunks"]) != 100:
            raise SystemExit(f"expected 100 chunks, read {len(result['chunks'])}")
    print(json.dumps({"insert_seconds": insert_seconds, "chunks": batches * batch_size, "read_latencies_ms": latencies}))


if __name__ == "__main__":
    main()
