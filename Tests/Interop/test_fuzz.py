"""Bad input: 10,000 seeded fuzz cases over every RPC of `trove serve all` (random bytes, random and
mutated messages, invalid UTF-8, NaN vectors, wrong dimensions, path-traversal keys, deep filters,
oversized messages, an 8 MB single-line document; see Tests/Reliability/fuzz_rpcs.py). The server
must answer every one with a gRPC status that has a message, never crash and never hang.

A failure prints the fuzzer's report: each failing case with its method, kind, case number and
first request bytes; re-run one with
    Tests/Reliability/fuzz_rpcs.py --target HOST:PORT --seed 20261126 --case K
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Reliability"))

import fuzz_rpcs  # noqa: E402

CASES = 10_000
SEED = 20261126


def test_fuzz_every_rpc(serve_all, stubs):
    fuzzer = fuzz_rpcs.Fuzzer(serve_all.address, stubs, SEED, pid=serve_all.pid, log_path=serve_all.log)
    fuzzer.run(CASES)
    report = fuzzer.report()
    print(report)
    destination = os.environ.get("TROVE_FUZZ_REPORT")
    if destination:
        Path(destination).write_text(report + "\n")

    failures = "\n".join(
        f"case {r.case} {r.method} ({r.kind} {r.note[:60]}): {r.details[:240]} [first bytes {r.head}]"
        + "".join(f"\n    | {line}" for line in r.crash.splitlines()[:8])
        for r in fuzzer.failures[:20]
    )
    if fuzzer.failures:
        pytest.fail(f"{fuzzer.verdict()}\n{failures}", pytrace=False)
    assert fuzzer.cases_run >= CASES, fuzzer.verdict()
    assert len(fuzzer.codes) == len(fuzzer.methods), "some methods were never called"
    assert fuzzer.process_alive(), "the server process is gone"
    assert fuzzer.healthy()[0], "the server stopped answering Health/Check"
