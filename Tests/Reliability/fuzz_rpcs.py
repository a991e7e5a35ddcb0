#!/usr/bin/env python3
"""A seeded fuzzer for every RPC of a Trove server (`trove serve all`).

Every method of every service in Protos/trove/v1/*.proto, plus grpc.health.v1.Health, is called
through grpcio's generic multi-callables with raw bytes, so that malformed messages reach the
server untouched. Cases are spread evenly over the methods (case K goes to method K mod M) and
drawn from a PRNG seeded with (seed, K), so `--case K` with the same seed rebuilds case K
byte for byte (except server-assigned ids, e.g. the fixture document's UUID).

Kinds of cases:
  baseline   the empty message (round 0 of every method)
  oversized  a message past the server's 8 MiB limit (round 1 of every method)
  random     0 to 4 KiB of random bytes
  wellformed a message built from the request descriptor with random values: type limits,
             NaN/±Inf, empty and long strings, strings patched to invalid UTF-8 on the wire
  mutation   a valid message with bit flips, truncation, a length past the end, 11-byte varints,
             wrong wire types, unknown fields, repeated singular fields
  targeted   hostile values where they matter: wrong vector dimensions and NaN vectors, path
             traversal keys, unknown collections/buckets/ids, deep filters (depth 10 to 100,000,
             built at the wire level), deep Struct values, huge k/limit/page sizes, odd documents
and, after the numbered cases, the heavy ones: an 8 MB single-line document into
Ingestion/IngestDocument, or with --long 100 MB into IngestDocument and ObjectStorage/PutObject
and 10 MB strings into Embedding/Embed.

Client streams send 0 to 5 messages; server streams are read to the end or to 100 messages, then
cancelled; the two streams that stay open by contract (Health/Watch, Ingestion/WatchIngestion) are
cancelled after 0.1 s and counted as OPEN.

Oracle (client deadline 10 s per call): every call must end with a gRPC status. Failures: the
server died or stopped answering Health/Check (checked after every UNAVAILABLE, DEADLINE_EXCEEDED
or CANCELLED, every 200 cases, at the end, and through the process's liveness when the pid is
known; the crash's first frames are quoted from serve.log); DEADLINE_EXCEEDED (a hang); UNKNOWN;
an error status with an empty message; a stream reset instead of a status; an oversized message
answered with anything but RESOURCE_EXHAUSTED. Findings, listed apart:
INTERNAL with a message that explains nothing, and statuses a default client cannot read because
the server's grpc-message is larger than its 8 KiB metadata limit.

Usage:
  fuzz_rpcs.py --target HOST:PORT [--pid PID --log DATA/serve.log] --cases N --seed S
               [--long] [--report FILE] [--case K]
  fuzz_rpcs.py --binary PATH/TO/trove [--keep-going] ...
               (starts `trove serve all` in a temporary directory; --keep-going starts a fresh
               one after each crash, to collect every crash in one run)
"""

from __future__ import annotations

import argparse
import atexit
import collections
import functools
import math
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Support"))
from trove_grpc import ServeAll, generate_stubs  # noqa: E402

DEADLINE = 10.0
MAX_MESSAGE_BYTES = 8 << 20  # the server's default max_message_bytes
OVERSIZED_BYTES = MAX_MESSAGE_BYTES + (1 << 20)
HEALTH_EVERY = 200
# Nesting depths for filters and Struct values: the services allow 32 levels of filter; the
# protobuf decoder stops at 100 levels of message.
FILTER_DEPTHS = [10, 32, 33, 50, 100, 1000, 100000]
SERVER_STREAM_CAP = 100
# Server streams that by contract stay open until the client cancels: read for this long, then
# cancel (recorded as OPEN, which is correct behaviour, not a hang).
OPEN_ENDED = {"/grpc.health.v1.Health/Watch": 0.1, "/trove.v1.Ingestion/WatchIngestion": 0.1}
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 << 20),
    ("grpc.max_send_message_length", -1),
    ("grpc.enable_retries", 0),
]

# Fixture names the setup creates, so targeted cases get past "not found" into real code.
FIX_BUCKET = "fuzz-bucket"
FIX_KEY = "fuzz/seed.txt"
FIX_VECTORS = "fuzzvec"
FIX_DIMENSION = 4
FIX_COLLECTION = "fuzzcoll"
FIX_CHUNK_IDS = ["6f9619ff-8b86-4011-b42d-00c04fc964f1", "6f9619ff-8b86-4011-b42d-00c04fc964f2"]


# --------------------------------------------------------------------------------------------
# Stubs


def message_class(descriptor):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


@dataclass
class Method:
    path: str
    service: str
    name: str
    input: object  # Descriptor
    client_streaming: bool
    server_streaming: bool

    @property
    def short(self) -> str:
        return self.service.rsplit(".", 1)[-1] + "/" + self.name

    @property
    def shape(self) -> str:
        return {(False, False): "unary", (False, True): "server", (True, False): "client", (True, True): "bidi"}[
            (self.client_streaming, self.server_streaming)
        ]


def discover_methods(modules: dict) -> list[Method]:
    """Every method of every service in the generated modules (trove.v1.* and the health protocol)."""
    methods = []
    seen = set()
    for name, module in modules.items():
        if name.endswith("_grpc") or not hasattr(module, "DESCRIPTOR"):
            continue
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                if path in seen:
                    continue
                seen.add(path)
                methods.append(
                    Method(path, service.full_name, method.name, method.input_type, method.client_streaming, method.server_streaming)
                )
    methods.sort(key=lambda m: m.path)
    return methods


# --------------------------------------------------------------------------------------------
# Wire format


def varint(n: int) -> bytes:
    if 0 <= n < 0x80:
        return bytes((n,))
    if 0 <= n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if 0 <= n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def ld(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def repeated_field(fd) -> bool:
    if hasattr(fd, "is_repeated"):  # protobuf ≥ 6 drops `label` from upb descriptors
        return fd.is_repeated
    return fd.label == fd.LABEL_REPEATED


def wire_type_of(fd) -> int:
    t = fd.type
    if t in (fd.TYPE_DOUBLE, fd.TYPE_FIXED64, fd.TYPE_SFIXED64):
        return 1
    if t in (fd.TYPE_FLOAT, fd.TYPE_FIXED32, fd.TYPE_SFIXED32):
        return 5
    if t in (fd.TYPE_STRING, fd.TYPE_BYTES, fd.TYPE_MESSAGE):
        return 2
    if t == fd.TYPE_GROUP:
        return 3
    return 0


def nested_prefixes(inner: bytes, wrappers: list) -> bytes:
    """Wraps `inner` in length-delimited layers without quadratic copying. `wrappers` lists, from
    the innermost outwards, the field numbers of each layer (one layer may be several nested
    fields, e.g. (2, 1) for Filter.all_of → FilterList.filters)."""
    prefixes = []
    length = len(inner)
    for layer in wrappers:
        for number in reversed(layer):
            prefix = tag(number, 2) + varint(length)
            prefixes.append(prefix)
            length += len(prefix)
    prefixes.reverse()
    return b"".join(prefixes) + inner


def deep_filter(depth: int, rng: random.Random, style: str = "mixed") -> bytes:
    """A trove.v1.Filter nested `depth` times through negate / all_of / any_of, wire level."""
    return _deep_filter(depth, style, rng.randrange(2) if depth <= 1000 else 0)  # one costly variant


@functools.lru_cache(maxsize=64)
def _deep_filter(depth: int, style: str, variant: int) -> bytes:
    rng = random.Random(f"filter:{depth}:{variant}")
    # innermost: condition { field: "a" exists: true }
    inner = ld(1, ld(1, b"a") + tag(6, 0) + varint(1))
    layers = []
    for _ in range(depth):
        choice = style if style != "mixed" else rng.choice(["negate", "all", "any"])
        layers.append({"negate": (4,), "all": (2, 1), "any": (3, 1)}[choice])
    return nested_prefixes(inner, layers)


def deep_value(depth: int, rng: random.Random) -> bytes:
    """A google.protobuf.Value nested `depth` times through struct_value / list_value."""
    return _deep_value(depth, rng.randrange(2) if depth <= 1000 else 0)


@functools.lru_cache(maxsize=64)
def _deep_value(depth: int, variant: int) -> bytes:
    rng = random.Random(f"value:{depth}:{variant}")
    inner = tag(2, 1) + struct.pack("<d", 1.0)  # number_value
    layers = []
    for _ in range(depth):
        if rng.random() < 0.5:
            layers.append((6, 1))  # list_value { values: … }
        else:
            # struct_value { fields { key: "k" value: … } }: the key precedes the value, so it
            # cannot be a pure prefix; put the value first (field order is free on the wire).
            layers.append(("struct",))
    # Expand layers with the struct case by hand, still linear.
    prefixes = []
    length = len(inner)
    for layer in layers:
        if layer == ("struct",):
            # Value.struct_value(5) → Struct.fields(1) → MapEntry{ value(2) = …, key(1) = "k" }
            suffix_key = ld(1, b"k")
            entry_len = len(tag(2, 2) + varint(length)) + length + len(suffix_key)
            p3 = tag(2, 2) + varint(length)
            p2 = tag(1, 2) + varint(entry_len)
            fields_len = len(p2) + entry_len
            p1 = tag(5, 2) + varint(fields_len)
            prefixes.append((p1 + p2 + p3, suffix_key))
            length = len(p1) + fields_len
        else:
            p2 = tag(1, 2) + varint(length)
            p1 = tag(6, 2) + varint(len(p2) + length)
            prefixes.append((p1 + p2, b""))
            length += len(p1) + len(p2)
    head = b"".join(p for p, _ in reversed(prefixes))
    tail = b"".join(s for _, s in prefixes)
    return head + inner + tail


def deep_struct(depth: int, rng: random.Random) -> bytes:
    """A google.protobuf.Struct {"k": <deep Value>}."""
    return ld(1, ld(1, b"k") + ld(2, deep_value(depth, rng)))


# --------------------------------------------------------------------------------------------
# Values

INT_LIMITS = {
    "int32": [0, 1, -1, 2**31 - 1, -(2**31)],
    "uint32": [0, 1, 2**31, 2**32 - 1],
    "int64": [0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1],
    "uint64": [0, 1, 2**63, 2**64 - 1],
}
FLOAT_SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 3.4028235e38, -3.4028235e38, 1e308, -1e308, 5e-324]
INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xf8\x88\x80\x80\x80", b"\xc3"]
UNICODE = ["é", "ß", "日本語", "🦀", "\u202e", "\u0301", "\ufeff", "\U0010ffff", "a\u0000b", "\t\n\r", " "]

TRAVERSAL_KEYS = [
    "../../etc/passwd", "/abs", "/etc/passwd", "a/../../b", "a\x00b", "\x00", "k" * 2048, "k" * 1024, "k" * 1025,
    "%2e%2e/%2e%2e/etc/passwd", "%2e%2e/", "..", ".", "./a", "a/.", "a/./b", "a//b", "a/", "//", "\\..\\..\\windows",
    "..\\x", "....//....//etc", "~/x", "$HOME/x", "a/\u0301/b", "é" * 600, "ok/key.txt", " ", "\n", "a\nb", "..%2f..%2f",
    "con", "nul.txt", "a" * 255 + "/" + "b" * 255, "/" * 10, "x/" * 300, "\ud7ff", "\U0001F980/../..",
]
BUCKETS = [
    FIX_BUCKET, "no-such-bucket", "", "ab", "a" * 63, "a" * 64, "UPPER", "under_score", "-lead", "trail-", "a..b",
    "../x", "..", "bucket/../..", "127.0.0.1", "xn--bucket", "trove-documents", "a\x00b", "é" * 10, "a b",
]
COLLECTION_NAMES = [
    FIX_COLLECTION, FIX_VECTORS, "no-such-collection", "", ".", "..", "../x", "../../etc", "a" * 128, "a" * 129,
    "a" * 10000, "UPPER.ok", "with space", "ünïcode", "a/b", "a\x00b", "%2e%2e", "-", "_", "x.creating", "x.dropping",
    "trove-documents", "CON",
]
FILTER_FIELDS = [
    "", ".", "a..b", "a.b.c" * 100, "$", "$.a", "[0]", "a[", "'\"", "\x00", "__proto__", "a" * 10000,
    "json_extract(", "');DROP TABLE documents;--", "room", "len", "a.", ".a", "🦀.x",
]
FTS_QUERIES = [
    '"', '"unbalanced', "NEAR(", "NEAR(a b, -1)", "a OR", "*", "AND", "^", "(((", "a:b", "content:*", '"a" NOT',
    "x" * 100000, "\x00", "MATCH", "🦀", "a AND NOT", "-a", "a*b*", "{a b}", "NOT", "'", "a'--", "",
]
MIME_TYPES = [
    "", "text/plain", "text/html", "application/json", "text/csv", "text/markdown", "application/pdf", "image/png",
    "../../x", "text/plain; charset=utf-16", "m" * 5000, "text/", "*/*", "application/octet-stream",
    "text/tab-separated-values", "application/x-ndjson",
]


def fuzz_ids(rng: random.Random, ctx: "Context") -> list[str]:
    ids = [
        "", "not-a-uuid", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)) + "}", "00000000-0000-0000-0000-000000000000",
        "' OR 1=1 --", FIX_CHUNK_IDS[0] + "\x00", "i" * 10240, "../" + FIX_CHUNK_IDS[0],
    ]
    ids += ctx.known_ids()
    return ids


class Generator:
    """Builds request bytes for one case from its own PRNG."""

    def __init__(self, rng: random.Random, ctx: "Context", targeted: bool = False, spare_fixtures: bool = False):
        self.rng = rng
        self.ctx = ctx
        self.targeted = targeted
        self.spare_fixtures = spare_fixtures
        self.markers: list[str] = []
        # Invalid UTF-8 makes the decoder reject the whole message, so at most one string of a
        # well-formed message gets it (in about a third of them): the rest reach the services.
        self.invalid_utf8_left = 1 if rng.random() < 0.35 else 0

    # ---- scalars

    def marker(self) -> str:
        m = "ZQ%012xQZ" % self.rng.getrandbits(48)
        self.markers.append(m)
        return m

    def patch_markers(self, data: bytes) -> bytes:
        """Replaces each marker (16 ASCII bytes) by 16 bytes of invalid UTF-8: same length, so
        every length prefix stays right."""
        for m in self.markers:
            raw = m.encode()
            if raw not in data:
                continue
            bad = bytearray()
            while len(bad) < 16:
                bad += self.rng.choice(INVALID_UTF8) if self.rng.random() < 0.6 else b"x"
            data = data.replace(raw, bytes(bad[:16]), 1)
        return data

    def string(self, name: str) -> str:
        rng = self.rng
        if self.targeted:
            pool = self.pool_for(name)
            if pool and rng.random() < 0.8:
                return rng.choice(pool)
        r = rng.random()
        if r < 0.12:
            return ""
        if r < 0.45:
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_./ ") for _ in range(rng.randint(1, 24)))
        if r < 0.55:
            return "".join(rng.choice(UNICODE) for _ in range(rng.randint(1, 8)))
        if r < 0.65:
            return rng.choice("ab/.é🦀") * rng.choice([255, 256, 1024, 1025, 4096, 65536])
        if r < 0.77 and self.invalid_utf8_left > 0:
            self.invalid_utf8_left -= 1
            return rng.choice(["", "pre-"]) + self.marker() + rng.choice(["", "-post"])
        pool = self.pool_for(name) or COLLECTION_NAMES
        return rng.choice(pool)

    def pool_for(self, name: str) -> list[str]:
        pool = self._pool_for(name)
        if self.spare_fixtures:
            fixtures = {FIX_COLLECTION, FIX_VECTORS, FIX_BUCKET, FIX_KEY, self.ctx.document_id, *FIX_CHUNK_IDS}
            pool = [p for p in pool if p not in fixtures]
        return pool

    def _pool_for(self, name: str) -> list[str]:
        n = name.lower()
        if n in ("key", "source_key", "destination_key", "prefix", "delimiter", "continuation_token"):
            return TRAVERSAL_KEYS
        if "bucket" in n:
            return BUCKETS
        if n in ("collection", "name", "vector_collection", "embedding_model", "model"):
            return COLLECTION_NAMES + ["all-MiniLM-L6-v2", "hashing", "no-such-model"]
        if n.endswith("id") or n.endswith("ids") or n in ("secret",):
            return fuzz_ids(self.rng, self.ctx)
        if n == "field":
            return FILTER_FIELDS
        if n in ("query", "texts", "text"):
            return FTS_QUERIES
        if n in ("mime_type", "content_type"):
            return MIME_TYPES
        if n in ("page_token", "next_page_token"):
            return ["", "garbage", "eyJ9", "%%%", "a" * 10000, "MTIz", "-1", "0"]
        return []

    def number(self, fd):
        rng = self.rng
        t = fd.type
        if t in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
            if rng.random() < 0.5:
                return rng.choice(FLOAT_SPECIAL)
            return rng.uniform(-2, 2)
        if t == fd.TYPE_BOOL:
            return rng.random() < 0.5
        if t in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32):
            kind = "int32"
        elif t in (fd.TYPE_UINT32, fd.TYPE_FIXED32):
            kind = "uint32"
        elif t in (fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_SFIXED64):
            kind = "int64"
        else:
            kind = "uint64"
        huge = self.targeted or rng.random() < 0.3
        if huge:
            return rng.choice(INT_LIMITS[kind] + ([10000, 10001, 1001, 65536, 65537] if kind.startswith("u") else [-2]))
        return rng.randint(0, 20)

    def enum(self, fd) -> int:
        values = [v.number for v in fd.enum_type.values]
        if self.rng.random() < 0.2:
            return self.rng.choice([-1, 99, 2**31 - 1, -(2**31)])
        return self.rng.choice(values)

    def scalar(self, fd):
        if fd.type == fd.TYPE_STRING:
            return self.string(fd.name)
        if fd.type == fd.TYPE_BYTES:
            return self.rng.randbytes(self.rng.choice([0, 1, 16, 100, 4096]))
        if fd.type == fd.TYPE_ENUM:
            return self.enum(fd)
        return self.number(fd)

    # ---- messages

    def fill(self, msg, depth: int = 0, max_depth: int = 5):
        rng = self.rng
        desc = msg.DESCRIPTOR
        chosen_oneof = {}
        for oneof in desc.oneofs:
            synthetic = oneof.name.startswith("_") and len(oneof.fields) == 1 and oneof.fields[0].name == oneof.name[1:]
            if synthetic:
                continue
            chosen_oneof[oneof.full_name] = rng.choice(list(oneof.fields) + [None])
        for fd in desc.fields:
            oneof = fd.containing_oneof
            if oneof is not None and oneof.full_name in chosen_oneof:
                if chosen_oneof[oneof.full_name] is not fd:
                    continue
            elif rng.random() < 0.35:
                continue
            try:
                self.set_field(msg, fd, depth, max_depth)
            except (ValueError, TypeError, OverflowError):
                pass
        return msg

    def set_field(self, msg, fd, depth, max_depth):
        rng = self.rng
        is_map = fd.message_type is not None and fd.message_type.GetOptions().map_entry
        repeated = repeated_field(fd)
        if fd.message_type is not None and not is_map and depth >= max_depth:
            return
        if is_map:
            if depth >= max_depth:
                return
            container = getattr(msg, fd.name)
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            for _ in range(rng.choice([0, 1, 2, 3])):
                key = self.scalar(key_fd)
                if value_fd.message_type is not None:
                    self.fill(container[key], depth + 1, max_depth)
                else:
                    container[key] = self.scalar(value_fd)
            return
        if repeated:
            container = getattr(msg, fd.name)
            count = rng.choice([0, 1, 1, 2, 3, 5]) if rng.random() < 0.95 else rng.choice([50, 200])
            for _ in range(count):
                if fd.message_type is not None:
                    self.fill(container.add(), depth + 1, max_depth)
                else:
                    container.append(self.scalar(fd))
            return
        if fd.message_type is not None:
            sub = getattr(msg, fd.name)
            sub.SetInParent()
            self.fill(sub, depth + 1, max_depth)
            return
        setattr(msg, fd.name, self.scalar(fd))

    def wellformed(self, desc, max_depth: int = 5) -> bytes:
        msg = message_class(desc)()
        self.fill(msg, 0, max_depth)
        return self.patch_markers(msg.SerializeToString(deterministic=True))


# --------------------------------------------------------------------------------------------
# Mutations


def random_wire_field(rng: random.Random, number: int, wire_type: int) -> bytes:
    if wire_type == 0:
        return tag(number, 0) + varint(rng.choice([0, 1, 2**63, 2**64 - 1, rng.getrandbits(32)]))
    if wire_type == 1:
        return tag(number, 1) + rng.randbytes(8)
    if wire_type == 5:
        return tag(number, 5) + rng.randbytes(4)
    if wire_type == 2:
        return ld(number, rng.randbytes(rng.randint(0, 40)))
    if wire_type == 3:  # start group, sometimes closed
        body = tag(number, 3) + random_wire_field(rng, 1, 0)
        return body + (tag(number, 4) if rng.random() < 0.5 else b"")
    if wire_type == 4:
        return tag(number, 4)
    return tag(number, wire_type) + rng.randbytes(rng.randint(0, 8))  # 6, 7: invalid


def mutate(rng: random.Random, data: bytes, desc, gen: Generator) -> tuple[bytes, list[str]]:
    done = []
    data = bytearray(data)
    fields = list(desc.fields)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["flip", "truncate", "overlong_length", "nested_overlong", "varint11", "wrong_wire",
                         "unknown", "repeat_singular", "field_zero", "insert", "tag_overlong"])
        if op == "flip" and data:
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == "truncate" and data:
            data = data[: rng.randrange(len(data))]
        elif op == "overlong_length":
            number = rng.choice(fields).number if fields else 1
            data += tag(number, 2) + varint(rng.choice([len(data) + 10, 2**31, 2**32 + 5, 2**63, 2**64 - 1])) + b"abc"
        elif op == "nested_overlong":
            number = rng.choice(fields).number if fields else 1
            inner = tag(1, 2) + varint(200) + b"abc"
            data += ld(number, inner) + rng.randbytes(300)
        elif op == "varint11":
            number = rng.choice(fields).number if fields else 1
            data += tag(number, 0) + b"\xff" * 10 + b"\x01"
        elif op == "wrong_wire" and fields:
            fd = rng.choice(fields)
            right = wire_type_of(fd)
            wrong = rng.choice([w for w in (0, 1, 2, 3, 4, 5, 6, 7) if w != right])
            data += random_wire_field(rng, fd.number, wrong)
        elif op == "unknown":
            number = rng.choice([16, 99, 1000, 19000, 19999, 2**29 - 1, 536870912 + 7])
            data += random_wire_field(rng, number & ((1 << 61) - 1), rng.choice([0, 1, 2, 3, 4, 5, 6, 7]))
        elif op == "repeat_singular" and fields:
            singular = [f for f in fields if not repeated_field(f)]
            if singular:
                fd = rng.choice(singular)
                extra = message_class(desc)()
                try:
                    gen.set_field(extra, fd, 0, 3)
                except (ValueError, TypeError, OverflowError):
                    pass
                data += gen.patch_markers(extra.SerializeToString(deterministic=True)) * rng.randint(1, 3)
        elif op == "field_zero":
            data += tag(0, rng.choice([0, 2])) + b"\x01\x01"
        elif op == "insert":
            i = rng.randint(0, len(data))
            data[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == "tag_overlong":
            data += b"\x8a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00" + b"\x01x"
        else:
            continue
        done.append(op)
    return bytes(data), done


# --------------------------------------------------------------------------------------------
# Server context: fixtures


class Context:
    """What setup created on the server: names and ids the targeted cases aim at."""

    def __init__(self, modules: dict):
        self.modules = modules
        self.pool = modules["trove.v1.common_pb2"].DESCRIPTOR.pool
        self.document_id = ""
        self.dimension = FIX_DIMENSION

    def cls(self, full_name: str):
        return message_class(self.pool.FindMessageTypeByName(full_name))

    def known_ids(self) -> list[str]:
        return [i for i in [self.document_id] + FIX_CHUNK_IDS if i]

    def setup(self, channel: grpc.Channel) -> list[str]:
        """Creates the fixtures (idempotent) and returns notes on what failed."""
        notes = []
        obj = self.modules["trove.v1.object_storage_pb2"]
        vec = self.modules["trove.v1.vector_search_pb2"]
        ing = self.modules["trove.v1.ingestion_pb2"]
        meta = self.modules["trove.v1.metadata_pb2"]
        common = self.modules["trove.v1.common_pb2"]

        def call(path, request, response_cls, stream=False):
            try:
                if stream:
                    raw = channel.stream_unary(path)(iter([r.SerializeToString(deterministic=True) for r in request]), timeout=30)
                else:
                    raw = channel.unary_unary(path)(request.SerializeToString(deterministic=True), timeout=60)
                return response_cls.FromString(raw)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                    notes.append(f"setup {path}: {error.code().name}: {error.details()}")
                return None

        call("/trove.v1.ObjectStorage/CreateBucket", obj.CreateBucketRequest(bucket=FIX_BUCKET), obj.CreateBucketResponse)
        call(
            "/trove.v1.ObjectStorage/PutObject",
            [obj.PutObjectRequest(header=obj.PutObjectHeader(bucket=FIX_BUCKET, key=FIX_KEY, content_type="text/plain")),
             obj.PutObjectRequest(chunk=b"seed object for the fuzzer\n")],
            obj.PutObjectResponse,
            stream=True,
        )
        call(
            "/trove.v1.VectorSearch/CreateCollection",
            vec.CreateVectorCollectionRequest(name=FIX_VECTORS, dimension=FIX_DIMENSION, metric=common.DISTANCE_METRIC_COSINE),
            vec.VectorCollectionInfo,
        )
        upsert = vec.UpsertRequest(collection=FIX_VECTORS)
        for i in range(8):
            v = upsert.vectors.add(id=f"v{i}", values=[float(i), 1.0, -1.0, 0.5])
            v.payload.update({"i": i, "tag": "even" if i % 2 == 0 else "odd"})
        call("/trove.v1.VectorSearch/Upsert", upsert, vec.UpsertResponse)
        call("/trove.v1.Ingestion/CreateCollection", ing.CreateIngestionCollectionRequest(name=FIX_COLLECTION), common.Collection)
        document = common.Document(
            collection=FIX_COLLECTION, filename="seed.txt", mime_type="text/plain",
            sha256="5eed" * 16, size_bytes=23, location=common.ObjectLocation(bucket=FIX_BUCKET, key=FIX_KEY),
        )
        created = call("/trove.v1.Metadata/CreateDocument", meta.CreateDocumentRequest(document=document), meta.CreateDocumentResponse)
        if created is not None:
            self.document_id = created.document.id
            chunks = meta.PutChunksRequest(document_id=self.document_id, replace_existing=True)
            chunks.chunks.add(id=FIX_CHUNK_IDS[0], sequence=0, content="seed object", start_offset=0, end_offset=11, token_count=2)
            chunks.chunks.add(id=FIX_CHUNK_IDS[1], sequence=1, content="for the fuzzer", start_offset=12, end_offset=26, token_count=3)
            call("/trove.v1.Metadata/PutChunks", chunks, meta.PutChunksResponse)
        return notes


# --------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    number: int | str
    method: Method
    kind: str
    messages: list[bytes]
    note: str = ""
    deadline: float = DEADLINE

    def head_hex(self) -> str:
        first = self.messages[0] if self.messages else b""
        return first[:64].hex()


# Calls that would remove a fixture (VectorSearch/Delete only removes vectors, which Upsert cases re-add).
DESTRUCTIVE = re.compile(r"/(Delete\w+|Drop\w*|Revoke\w*|ApplyRetention)$")


def find_field(desc, type_name: str):
    for fd in desc.fields:
        if fd.message_type is not None and fd.message_type.full_name == type_name and not repeated_field(fd):
            return fd
    return None


def targeted_messages(method: Method, rng: random.Random, ctx: Context) -> tuple[list[bytes], str]:
    """Hostile but mostly well-formed requests aimed at what each method does."""
    path = method.path
    desc = method.input
    # Destructive calls never aim at the fixtures (later cases rely on them).
    gen = Generator(rng, ctx, targeted=True, spare_fixtures=bool(DESTRUCTIVE.search(path)))
    special = TARGETED.get(path)
    if special is not None and rng.random() < 0.7:
        return special(method, rng, ctx, gen)
    # generic: hostile strings/limits, then perhaps a deep filter or a deep Struct on top
    base = gen.wellformed(desc, max_depth=4)
    note = "hostile-values"
    filter_fd = find_field(desc, "trove.v1.Filter")
    struct_fd = find_field(desc, "google.protobuf.Struct")
    if filter_fd is not None and rng.random() < 0.5:
        depth = rng.choice(FILTER_DEPTHS)
        base += ld(filter_fd.number, deep_filter(depth, rng))
        note = f"deep-filter-{depth}"
    elif struct_fd is not None and rng.random() < 0.5:
        depth = rng.choice(FILTER_DEPTHS)
        base += ld(struct_fd.number, deep_struct(depth, rng))
        note = f"deep-struct-{depth}"
    messages = [base]
    if method.client_streaming:
        messages = [gen.wellformed(desc, max_depth=3) for _ in range(rng.randint(0, 4))] + messages
    return messages, note


def t_upsert(method, rng, ctx, gen):
    vec = ctx.cls("trove.v1.UpsertRequest")
    req = vec(collection=rng.choice([FIX_VECTORS] * 4 + ["no-such-collection", "", "../x"]))
    choice = rng.choice(["dim", "nan", "ids", "dup", "many", "payload"])
    # "many": a large batch; 1,000 vectors per message keeps the 5-message stream well inside the
    # deadline on a debug build of a loaded 2-core machine (5 × 5,000 took up to 10 s there).
    for i in range(rng.randint(1, 5) if choice != "many" else 1000):
        dim = ctx.dimension
        if choice == "dim":
            dim = rng.choice([0, 1, 3, 5, 4096, 65537])
        values = [rng.uniform(-1, 1) for _ in range(dim)]
        if choice == "nan" and values:
            values[rng.randrange(dim)] = rng.choice([math.nan, math.inf, -math.inf, 3.4e38])
        vid = f"fz{rng.getrandbits(20)}"
        if choice == "ids":
            vid = rng.choice(["", "i" * 512, "i" * 513, "é" * 300, "a\x00b", "../../x", gen.marker()])
        if choice == "dup":
            vid = "dup"
        v = req.vectors.add(id=vid, values=values)
        if choice == "payload":
            v.payload.update({"n": rng.choice([1, -1, 1e308]), "s": rng.choice(["", "x" * 10000, "é"]), "l": [1, [2, [3]]]})
    data = gen.patch_markers(req.SerializeToString(deterministic=True))
    if choice == "payload" and rng.random() < 0.5:
        # UpsertRequest.vectors(2) → Vector{id(1), values(2, packed), payload(3) = deep Struct}
        depth = rng.choice([100, 1000, 100000])
        data += ld(2, ld(1, b"deep") + ld(2, struct.pack("<4f", 1, 0, 0, 0)) + ld(3, deep_struct(depth, rng)))
        choice += f"-deep-{depth}"
    msgs = [data]
    if method.client_streaming:
        msgs = [data] * rng.randint(0, 5)
    return msgs, f"upsert-{choice}"


def t_search_vectors(method, rng, ctx, gen):
    cls = ctx.cls("trove.v1.SearchVectorsRequest")

    def one():
        choice = rng.choice(["dim", "nan", "k", "ef", "minsim", "filter", "unknown"])
        dim = ctx.dimension if choice != "dim" else rng.choice([0, 1, 3, 5, 4096])
        values = [rng.uniform(-1, 1) for _ in range(dim)]
        if choice == "nan":
            values = [rng.choice([math.nan, math.inf, -math.inf, 0.0]) for _ in range(dim)]
        req = cls(collection=FIX_VECTORS if choice != "unknown" else rng.choice(COLLECTION_NAMES), vector=values)
        if choice == "k":
            req.k = rng.choice([0, 1, 10000, 10001, 2**31, 2**32 - 1])
        if choice == "ef":
            req.ef = rng.choice([1, 100000, 100001, 2**32 - 1])
        if choice == "minsim":
            req.min_similarity = rng.choice([math.nan, math.inf, -math.inf, 2.0, -2.0])
        req.include_values = rng.random() < 0.5
        req.include_payload = rng.random() < 0.5
        req.exact = rng.random() < 0.3
        data = req.SerializeToString(deterministic=True)
        if choice == "filter":
            depth = rng.choice([1] + FILTER_DEPTHS)
            data += ld(6, deep_filter(depth, rng))
            choice += f"-{depth}"
        return data, choice

    if method.name == "SearchBatch":
        count = rng.choice([0, 1, 5, 1000])
        parts = [one() for _ in range(min(count, 20))]
        body = b"".join(ld(1, p) for p, _ in parts)
        if count == 1000:
            body = body + ld(1, parts[0][0]) * (1000 - len(parts)) if parts else body
        return [body], f"batch-{count}"
    data, choice = one()
    return [data], f"search-{choice}"


def t_create_vectors(method, rng, ctx, gen):
    cls = ctx.cls("trove.v1.CreateVectorCollectionRequest")
    req = cls(name=rng.choice(COLLECTION_NAMES[2:] + [f"fz-{rng.getrandbits(16)}"]),
              dimension=rng.choice([0, 1, 4, 65536, 65537, 2**32 - 1]), metric=rng.choice([0, 1, 2, 3, 99]))
    req.hnsw.m = rng.choice([0, 1, 2, 128, 129, 2**32 - 1])
    req.hnsw.ef_construction = rng.choice([0, 1, 10000, 10001, 2**32 - 1])
    req.hnsw.ef_search = rng.choice([0, 1, 100000, 100001, 2**32 - 1])
    req.hnsw.seed = rng.choice([0, 2**64 - 1])
    return [req.SerializeToString(deterministic=True)], "create-limits"


def t_object_key(method, rng, ctx, gen):
    """Path traversal and odd keys into every object-storage call that takes a key."""
    key = rng.choice(TRAVERSAL_KEYS + [gen.marker()])
    bucket = rng.choice([FIX_BUCKET] * 5 + BUCKETS)
    name = method.name
    note = f"key={key[:24]!r}"
    if name == "PutObject":
        header = ctx.cls("trove.v1.PutObjectRequest")()
        header.header.bucket = bucket
        header.header.key = key
        header.header.content_type = rng.choice(MIME_TYPES)
        if rng.random() < 0.3:
            header.header.expected_sha256 = rng.choice(["", "0" * 64, "zz", "A" * 64])
        if rng.random() < 0.3:
            header.header.user_metadata[rng.choice(["a", "", "é", "x" * 3000, "a\nb"])] = rng.choice(["", "v" * 3000, "\r\n"])
        first = gen.patch_markers(header.SerializeToString(deterministic=True))
        chunks = [ld(2, rng.randbytes(rng.choice([0, 1, 1000]))) for _ in range(rng.randint(0, 3))]
        order = rng.choice(["normal", "normal", "two-headers", "chunk-first", "header-only"])
        if order == "two-headers":
            msgs = [first] + chunks + [first]
        elif order == "chunk-first":
            msgs = chunks + [first] if chunks else [ld(2, b"x"), first]
        elif order == "header-only":
            msgs = [first]
        else:
            msgs = [first] + chunks
        return msgs, f"{note} {order}"
    cls_name = {
        "GetObject": "trove.v1.GetObjectRequest", "HeadObject": "trove.v1.HeadObjectRequest",
        "DeleteObject": "trove.v1.DeleteObjectRequest", "PresignObject": "trove.v1.PresignObjectRequest",
        "CopyObject": "trove.v1.CopyObjectRequest", "ListObjects": "trove.v1.ListObjectsRequest",
    }[name]
    req = ctx.cls(cls_name)()
    if name == "CopyObject":
        req.source_bucket = bucket
        req.destination_bucket = rng.choice([FIX_BUCKET] * 3 + BUCKETS)
        if rng.random() < 0.5:
            req.source_key, req.destination_key = FIX_KEY, key
        else:
            req.source_key, req.destination_key = key, rng.choice(TRAVERSAL_KEYS)
    elif name == "ListObjects":
        req.bucket = bucket
        req.prefix = key
        req.delimiter = rng.choice(["", "/", "..", "\x00", "é", "//"])
        req.page_size = rng.choice([0, 1, 1000, 1001, 2**32 - 1])
        req.continuation_token = rng.choice(["", "garbage", key, "a" * 10000])
    else:
        req.bucket = bucket
        req.key = key if not (name == "DeleteObject" and key == FIX_KEY) else "x"
        if name == "GetObject" and rng.random() < 0.5:
            req.key = FIX_KEY
            req.range.offset = rng.choice([0, 5, 27, 28, 10**6, 2**63, 2**64 - 1])
            req.range.length = rng.choice([0, 1, 2**63, 2**64 - 1])
            note = f"range={req.range.offset},{req.range.length}"
        if name == "PresignObject":
            req.method = rng.choice([0, 1, 2, 99])
            req.expires_seconds = rng.choice([0, 1, 604800, 604801, 2**32 - 1])
    return [gen.patch_markers(req.SerializeToString(deterministic=True))], note


def t_bucket(method, rng, ctx, gen):
    name = method.name
    cls = ctx.cls(f"trove.v1.{name}Request")
    req = cls()
    req.bucket = rng.choice(BUCKETS[1:] if name == "DeleteBucket" else BUCKETS)
    if name == "PutBucketLifecycle":
        for _ in range(rng.choice([0, 1, 3, 1000])):
            req.rules.add(id=rng.choice(["", "r", "r" * 5000, "é"]), prefix=rng.choice(TRAVERSAL_KEYS),
                          expire_after_days=rng.choice([0, 1, 36500, 2**32 - 1]))
    return [req.SerializeToString(deterministic=True)], f"bucket={req.bucket[:24]!r}"


def document_body(rng: random.Random) -> tuple[bytes, str, str]:
    """Small odd documents for IngestDocument: (bytes, filename, mime type)."""
    kind = rng.choice(["invalid-utf8", "nul", "long-word", "deep-json", "deep-html", "csv-wide", "md-headings",
                       "empty-lines", "bom", "utf16", "random"])
    if kind == "invalid-utf8":
        body = b"".join(rng.choice(INVALID_UTF8 + [b"word "]) for _ in range(2000))
        return body, "bad.txt", "text/plain"
    if kind == "nul":
        return b"a\x00b\x00" * 1000, "nul.txt", "text/plain"
    if kind == "long-word":
        return b"x" * 65536, "word.txt", "text/plain"
    if kind == "deep-json":
        depth = rng.choice([1000, 100000])
        return b"[" * depth + b"]" * depth, "deep.json", "application/json"
    if kind == "deep-html":
        return b"<div>" * 20000 + b"text" + b"</div>" * 20000, "deep.html", "text/html"
    if kind == "csv-wide":
        return (b",".join([b"\"" + b"c" * 100] * 1000)) + b"\n", "wide.csv", "text/csv"
    if kind == "md-headings":
        return (b"#" * 10000 + b" heading\n") * 10 + b"`" * 10000, "deep.md", "text/markdown"
    if kind == "empty-lines":
        return b"\n" * 100000, "lines.txt", "text/plain"
    if kind == "bom":
        return b"\xef\xbb\xbf" * 1000 + b"text", "bom.txt", "text/plain"
    if kind == "utf16":
        return "hello wörld ".encode("utf-16") * 100, "u16.txt", rng.choice(["text/plain", "text/plain; charset=utf-16"])
    return rng.randbytes(rng.randint(0, 4096)), "rand.bin", rng.choice(MIME_TYPES)


def t_ingest(method, rng, ctx, gen):
    req_cls = ctx.cls("trove.v1.IngestDocumentRequest")
    header = req_cls()
    body, filename, mime = document_body(rng)
    header.header.collection = rng.choice([FIX_COLLECTION] * 6 + COLLECTION_NAMES)
    header.header.filename = rng.choice([filename] * 4 + ["", "../../etc/passwd", "f" * 5000, "a\x00b", gen.marker()])
    header.header.mime_type = rng.choice([mime] * 4 + MIME_TYPES)
    order = rng.choice(["normal"] * 5 + ["reference", "two-headers", "chunk-first", "empty", "header-only", "chunking"])
    if order == "reference":
        header.header.object_reference.bucket = rng.choice([FIX_BUCKET] * 3 + BUCKETS)
        header.header.object_reference.key = rng.choice([FIX_KEY] * 3 + TRAVERSAL_KEYS)
    if order == "chunking":
        header.header.chunking.unit = rng.choice([0, 1, 2, 99])
        header.header.chunking.size = rng.choice([0, 1, 2, 100000, 2**32 - 1])
        header.header.chunking.overlap = rng.choice([0, 1, 2**32 - 1])
    if rng.random() < 0.2:
        header.header.metadata.update({"k": rng.choice([1e308, "v", None, True, [1, 2]])})
    first = gen.patch_markers(header.SerializeToString(deterministic=True))
    if rng.random() < 0.1:
        # IngestDocumentRequest.header(1) → IngestHeader{collection, filename, metadata(4) = deep Struct}
        depth = rng.choice([1000, 100000])
        first = ld(1, ld(1, FIX_COLLECTION.encode()) + ld(2, b"deep.txt") + ld(4, deep_struct(depth, rng)))
        order = f"deep-metadata-{depth}"
    step = rng.choice([1, 7, 4096, 65536])
    chunks = [ld(2, body[i:i + step]) for i in range(0, len(body), step)][:200]
    if order == "two-headers":
        msgs = [first] + chunks[:2] + [first]
    elif order == "chunk-first":
        msgs = (chunks[:1] or [ld(2, b"x")]) + [first]
    elif order == "empty":
        msgs = []
    elif order in ("header-only", "reference"):
        msgs = [first] + (chunks[:1] if rng.random() < 0.3 else [])
    else:
        msgs = [first] + chunks
    # a unique suffix, so the document is not deduplicated away before it reaches the pipeline
    if msgs and order in ("normal", "chunking") and rng.random() < 0.7:
        msgs.append(ld(2, b" %d" % rng.getrandbits(40)))
    return msgs, f"doc-{filename}-{order}"


def t_search_ingestion(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.SearchRequest")(
        collection=rng.choice([FIX_COLLECTION] * 4 + COLLECTION_NAMES), query=rng.choice(FTS_QUERIES + ["kettle", "a" * 5000]),
        k=rng.choice([0, 1, 1000, 1001, 2**32 - 1]), mode=rng.choice([0, 1, 2, 3, 99]),
    )
    if rng.random() < 0.3:
        req.min_similarity = rng.choice([math.nan, math.inf, -1.0, 2.0])
    if rng.random() < 0.3:
        req.vector_weight = rng.choice([math.nan, -1.0, 0.0, 1.0, 2.0, math.inf])
    req.no_cache = rng.random() < 0.5
    data = req.SerializeToString(deterministic=True)
    note = "search"
    if rng.random() < 0.4:
        depth = rng.choice(FILTER_DEPTHS)
        data += ld(5, deep_filter(depth, rng))
        note = f"search-deep-filter-{depth}"
    return [data], note


def t_text_search(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.SearchChunksTextRequest")(
        collection=rng.choice([FIX_COLLECTION] * 4 + COLLECTION_NAMES), query=rng.choice(FTS_QUERIES),
        limit=rng.choice([0, 1, 1000, 1001, 2**32 - 1]),
    )
    data = req.SerializeToString(deterministic=True)
    note = f"fts={req.query[:20]!r}"
    if rng.random() < 0.4:
        depth = rng.choice(FILTER_DEPTHS)
        data += ld(4, deep_filter(depth, rng))
        note += f" deep-filter-{depth}"
    return [data], note


def t_embed(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.EmbedRequest")(model=rng.choice(["", "", "no-such-model", "hashing", gen.marker()]))
    choice = rng.choice(["count", "empty", "invalid", "long", "image", "audio", "none"])
    if choice == "count":
        # Just past the limit (2,048 texts would be accepted and take seconds to embed on a debug build).
        req.texts.extend(["t"] * rng.choice([2049, 100000]))
    elif choice == "empty":
        req.texts.extend(["", "x"])
    elif choice == "invalid":
        req.texts.append("pre " + gen.marker() + " post")
    elif choice == "long":
        req.texts.append("w " * rng.choice([(1 << 19), (1 << 19) + 1, 600000]))
    elif choice == "image":
        req.inputs.add(image=rng.randbytes(100))
    elif choice == "audio":
        req.inputs.add(audio=b"")
    else:
        req.inputs.add()
    data = gen.patch_markers(req.SerializeToString(deterministic=True))
    msgs = [data]
    if method.client_streaming:
        msgs = [data] * rng.randint(0, 3)
    return msgs, f"embed-{choice}"


def t_tokenize(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.TokenizeRequest")(model=rng.choice(["", "no-such-model"]), include_ids=True, include_offsets=True)
    choice = rng.choice(["count", "invalid", "long", "empty"])
    if choice == "count":
        req.texts.extend(["t"] * rng.choice([2048, 2049]))
    elif choice == "invalid":
        req.texts.append(gen.marker())
    elif choice == "long":
        req.texts.append("x" * rng.choice([1 << 20, (1 << 20) + 1]))
    else:
        req.texts.append("")
    return [gen.patch_markers(req.SerializeToString(deterministic=True))], f"tokenize-{choice}"


def t_neighbors(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.GetNeighborsRequest")(
        chunk_id=rng.choice(FIX_CHUNK_IDS + fuzz_ids(rng, ctx)), depth=rng.choice([0, 1, 5, 6, 2**32 - 1])
    )
    req.types.extend(rng.choice([[], ["next"], ["x" * 10000], ["a"] * 1000]))
    return [req.SerializeToString(deterministic=True)], f"neighbors-depth-{req.depth}"


def t_status(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.UpdateDocumentStatusRequest")(
        id=rng.choice([ctx.document_id] * 3 + fuzz_ids(rng, ctx)), status=rng.choice([0, 1, 2, 3, 4, 99, -1]),
        expected_version=rng.choice([0, 1, 2**64 - 1]), error_message=rng.choice(["", "e" * 100000, "é"]),
    )
    return [req.SerializeToString(deterministic=True)], f"status-{req.status}"


def t_watch(method, rng, ctx, gen):
    req = ctx.cls("trove.v1.WatchIngestionRequest")(collection=rng.choice(COLLECTION_NAMES))
    req.document_ids.extend(rng.choice([[], fuzz_ids(rng, ctx), ["x"] * 10000]))
    return [req.SerializeToString(deterministic=True)], "watch"


TARGETED = {
    "/trove.v1.VectorSearch/Upsert": t_upsert,
    "/trove.v1.VectorSearch/UpsertStream": t_upsert,
    "/trove.v1.VectorSearch/Search": t_search_vectors,
    "/trove.v1.VectorSearch/SearchBatch": t_search_vectors,
    "/trove.v1.VectorSearch/CreateCollection": t_create_vectors,
    "/trove.v1.ObjectStorage/PutObject": t_object_key,
    "/trove.v1.ObjectStorage/GetObject": t_object_key,
    "/trove.v1.ObjectStorage/HeadObject": t_object_key,
    "/trove.v1.ObjectStorage/DeleteObject": t_object_key,
    "/trove.v1.ObjectStorage/PresignObject": t_object_key,
    "/trove.v1.ObjectStorage/CopyObject": t_object_key,
    "/trove.v1.ObjectStorage/ListObjects": t_object_key,
    "/trove.v1.ObjectStorage/CreateBucket": t_bucket,
    "/trove.v1.ObjectStorage/HeadBucket": t_bucket,
    "/trove.v1.ObjectStorage/DeleteBucket": t_bucket,
    "/trove.v1.ObjectStorage/PutBucketLifecycle": t_bucket,
    "/trove.v1.ObjectStorage/GetBucketLifecycle": t_bucket,
    "/trove.v1.Ingestion/IngestDocument": t_ingest,
    "/trove.v1.Ingestion/Search": t_search_ingestion,
    "/trove.v1.Ingestion/WatchIngestion": t_watch,
    "/trove.v1.Metadata/SearchChunksText": t_text_search,
    "/trove.v1.Metadata/GetNeighbors": t_neighbors,
    "/trove.v1.Metadata/UpdateDocumentStatus": t_status,
    "/trove.v1.Embedding/Embed": t_embed,
    "/trove.v1.Embedding/EmbedStream": t_embed,
    "/trove.v1.Embedding/Tokenize": t_tokenize,
}


def oversized_message(method: Method, rng: random.Random) -> bytes:
    """A message past the server's limit: the first string/bytes field (or an unknown field)
    holding OVERSIZED_BYTES."""
    for fd in method.input.fields:
        if fd.type in (fd.TYPE_STRING, fd.TYPE_BYTES):
            return ld(fd.number, b"o" * OVERSIZED_BYTES)
        if fd.message_type is not None and fd.message_type.full_name == "trove.v1.IngestHeader":
            return ld(fd.number, ld(1, b"o" * OVERSIZED_BYTES))
        if fd.message_type is not None and fd.message_type.full_name == "trove.v1.PutObjectHeader":
            return ld(fd.number, ld(1, b"o" * OVERSIZED_BYTES))
    return ld(1000, b"o" * OVERSIZED_BYTES)


KIND_WEIGHTS = [("random", 20), ("wellformed", 30), ("mutation", 25), ("targeted", 25)]


def make_case(methods: list[Method], ctx: Context, seed: int, number: int) -> Case:
    rng = random.Random(f"trove-fuzz:{seed}:{number}")
    method = methods[number % len(methods)]
    rnd = number // len(methods)
    desc = method.input
    if rnd == 0:
        kind = "baseline"
    elif rnd == 1:
        kind = "oversized"
    else:
        total = sum(w for _, w in KIND_WEIGHTS)
        pick = rng.randrange(total)
        for kind, weight in KIND_WEIGHTS:
            if pick < weight:
                break
            pick -= weight
    note = ""
    count = 1
    spare = bool(DESTRUCTIVE.search(method.path))
    if method.client_streaming and kind in ("random", "wellformed", "mutation"):
        count = rng.randint(0, 5)
    if kind == "baseline":
        messages = [b""]
    elif kind == "oversized":
        messages = [oversized_message(method, rng)]
    elif kind == "random":
        messages = [rng.randbytes(rng.randint(0, 4096)) for _ in range(count)]
    elif kind == "wellformed":
        gen = Generator(rng, ctx, spare_fixtures=spare)
        messages = [gen.wellformed(desc) for _ in range(count)]
        if gen.markers:
            note = "invalid-utf8"
    elif kind == "mutation":
        messages = []
        ops = []
        for _ in range(count):
            gen = Generator(rng, ctx, spare_fixtures=spare)
            data, done = mutate(rng, gen.wellformed(desc, max_depth=3), desc, gen)
            messages.append(data)
            ops += done
        note = ",".join(ops)
    else:
        messages, note = targeted_messages(method, rng, ctx)
    return Case(number, method, kind, messages, note)


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Outcome:
    code: str  # a grpc.StatusCode name, or OPEN (open-ended stream cancelled by the client)
    details: str
    responses: int
    seconds: float
    reset: bool = False  # the call ended by a stream reset / transport error, not a status
    body: bytes = b""  # the response of a unary or client-streaming call


RESET_PATTERNS = ("RST_STREAM", "Stream removed", "Socket closed", "Connection reset", "GOAWAY", "failed to connect",
                  "Broken pipe", "Connection refused", "Endpoint read failed")


def execute(channel: grpc.Channel, case: Case) -> Outcome:
    method = case.method
    start = time.monotonic()
    responses = 0
    client_cancelled = False
    shape = method.shape
    try:
        if shape == "unary":
            body = channel.unary_unary(method.path)(case.messages[0], timeout=case.deadline)
            return Outcome("OK", "", 1, time.monotonic() - start, body=body)
        elif shape == "client":
            body = channel.stream_unary(method.path)(iter(case.messages), timeout=case.deadline)
            return Outcome("OK", "", 1, time.monotonic() - start, body=body)
        else:
            if shape == "server":
                call = channel.unary_stream(method.path)(case.messages[0], timeout=case.deadline)
            else:
                call = channel.stream_stream(method.path)(iter(case.messages), timeout=case.deadline)
            window = OPEN_ENDED.get(method.path)
            timer = None
            if window is not None:
                def stop():
                    nonlocal client_cancelled
                    client_cancelled = True
                    call.cancel()
                timer = threading.Timer(window, stop)
                timer.start()
            try:
                for _ in call:
                    responses += 1
                    if responses >= SERVER_STREAM_CAP:
                        client_cancelled = True
                        call.cancel()
                        break
            finally:
                if timer is not None:
                    timer.cancel()
        return Outcome("OK", "", responses, time.monotonic() - start)
    except grpc.RpcError as error:
        code = error.code()
        details = error.details() or ""
        seconds = time.monotonic() - start
        if code == grpc.StatusCode.CANCELLED and client_cancelled:
            return Outcome("OPEN" if responses < SERVER_STREAM_CAP else "OK", f"cancelled by the client after {responses} messages", responses, seconds)
        reset = code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL) and any(
            p in details for p in RESET_PATTERNS
        )
        return Outcome(code.name, details, responses, seconds, reset)


UNHELPFUL = re.compile(
    r"^\s*(internal( server)? error|an? (unknown|unexpected|internal) error( occurred| has occurred)?|error|failed|failure|"
    r"unknown( error)?|something went wrong|the operation could(n’|n')t be completed\.?.*|"
    r"[A-Za-z_.]+(Error|Exception)(\(.*\))?|[A-Za-z_.]+error \d+\.?)\s*\.?\s*$",
    re.IGNORECASE,
)


def explains(details: str) -> bool:
    text = details.strip()
    return len(text) >= 12 and not UNHELPFUL.match(text)


@dataclass
class Record:
    case: str
    method: str
    kind: str
    note: str
    code: str
    details: str
    head: str
    seconds: float
    crash: str = ""


class Fuzzer:
    def __init__(self, target: str, modules: dict, seed: int, pid: int | None = None, log_path: Path | None = None,
                 out=sys.stdout, restarter: "ServerProcess | None" = None):
        self.target = target
        self.restarter = restarter
        self.log_offset = 0
        self.modules = modules
        self.seed = seed
        self.pid = pid
        self.log_path = log_path
        self.out = out
        self.methods = discover_methods(modules)
        self.ctx = Context(modules)
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.codes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.failures: list[Record] = []
        self.findings: list[tuple[str, Record]] = []
        self.decode_rejects: collections.Counter = collections.Counter()
        self.kinds: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.method_seconds: collections.Counter = collections.Counter()
        self.crash_seconds = 0.0  # spent on crashed cases and restarts (--keep-going)
        self.oversized: list[Record] = []
        self.heavy: list[Record] = []
        self.slowest: list[Record] = []
        self.setup_notes: list[str] = []
        self.crashes = 0
        self.hangs = 0
        self.cases_run = 0
        self.elapsed = 0.0
        self.recent_ingest: collections.deque = collections.deque(maxlen=10)
        self.aborted = ""

    # ---- liveness

    def process_alive(self) -> bool:
        if self.pid is None:
            return True
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        state = stat.rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")

    def crash_logged(self) -> bool:
        """Whether serve.log shows a crash since the run began (Swift's backtracer writes its
        banner at once, while the process may answer health checks for a few more seconds)."""
        if self.log_path is None or not self.log_path.exists():
            return False
        lines = self.log_path.read_text(errors="replace").splitlines()[self.log_offset:]
        return any("*** Program crashed" in line or "Fatal error:" in line for line in lines)

    def wait_for_exit(self, seconds: float = 30):
        """Lets a crashing process finish writing its backtrace."""
        deadline = time.monotonic() + seconds
        while self.pid is not None and self.process_alive() and time.monotonic() < deadline:
            time.sleep(0.2)

    def healthy(self) -> tuple[bool, str]:
        if not self.process_alive():
            return False, f"server process {self.pid} is gone"
        if self.crash_logged():
            return False, "serve.log reports a crash"
        health = self.modules["health_pb2"]
        request = health.HealthCheckRequest(service="").SerializeToString(deterministic=True)
        last = ""
        for attempt in range(3):
            channel = self.channel if attempt == 0 else grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
            try:
                raw = channel.unary_unary("/grpc.health.v1.Health/Check")(request, timeout=5)
                status = health.HealthCheckResponse.FromString(raw).status
                if status == health.HealthCheckResponse.SERVING:
                    if attempt > 0:
                        self.channel.close()
                        self.channel = channel
                    return True, ""
                last = f"health status {status}"
            except grpc.RpcError as error:
                last = f"Health/Check: {error.code().name}: {error.details()}"
            finally:
                if attempt > 0 and channel is not self.channel:
                    channel.close()
            if not self.process_alive():
                return False, f"server process {self.pid} is gone ({last})"
            if self.crash_logged():
                return False, f"serve.log reports a crash ({last})"
            time.sleep(0.5 * (attempt + 1))
        return False, "server stopped answering: " + last

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def crash_excerpt(self) -> str:
        """The crashing thread's first frames from serve.log (Swift's backtracer), if any."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()[self.log_offset:]
        out = [l for l in lines if "Fatal error" in l or "fatal error" in l][:2]
        for i, line in enumerate(lines):
            if "crashed:" in line:
                frames = [l for l in lines[i + 1:i + 40] if " in " in l and "[thunk]" not in l][:6]
                out += [line.strip()] + [re.sub(r"\s+", " ", f.strip())[:260] for f in frames]
                break
        if not out:
            out = [l[:260] for l in lines[-8:]]
        return "\n".join(out)

    # ---- one case

    def run_case(self, case: Case) -> Outcome:
        began = time.monotonic()
        outcome = execute(self.channel, case)
        self.cases_run += 1
        method = case.method.short
        self.codes[method][outcome.code] += 1
        self.method_seconds[method] += outcome.seconds
        decoded = not (outcome.code == "INVALID_ARGUMENT" and outcome.details.startswith("Can't deserialize"))
        if not decoded:
            self.decode_rejects[method] += 1
        self.kinds[case.kind]["cases"] += 1
        self.kinds[case.kind]["decoder" if not decoded else ("OK" if outcome.code in ("OK", "OPEN") else "error")] += 1
        record = Record(str(case.number), method, case.kind, case.note, outcome.code, outcome.details, case.head_hex(), outcome.seconds)
        if case.method.path == "/trove.v1.Ingestion/IngestDocument":
            self.recent_ingest.append(f"case {case.number} ({case.note}): {outcome.code}")
        if case.kind == "oversized":
            self.oversized.append(record)
        elif case.kind.startswith("heavy"):
            self.heavy.append(record)
        crashed = ""
        if outcome.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED") or (
            isinstance(case.number, int) and case.number % HEALTH_EVERY == HEALTH_EVERY - 1
        ):
            ok, why = self.healthy()
            if not ok:
                crashed = why
        problem = ""
        if crashed:
            self.crashes += 1
            problem = "crash: " + crashed
        elif outcome.code == "DEADLINE_EXCEEDED":
            problem = "hang: no answer within the deadline"
            self.hangs += 1
        elif outcome.code == "UNKNOWN":
            problem = "UNKNOWN status"
        elif outcome.code not in ("OK", "OPEN") and not outcome.details.strip():
            problem = "error status with an empty message"
        elif case.kind == "oversized" and outcome.code != "RESOURCE_EXHAUSTED":
            problem = "an oversized message was not answered RESOURCE_EXHAUSTED"
        elif outcome.reset:
            problem = "the call ended without a gRPC status (stream reset)"
        elif outcome.code == "INTERNAL" and not explains(outcome.details):
            self.findings.append(("INTERNAL without an explanation", record))
        elif "metadata size exceeds" in outcome.details:
            self.findings.append(("status lost: the server's grpc-message is larger than a default client accepts (8 KiB)", record))
        if problem:
            record.details = f"{problem} — {outcome.code}: {outcome.details}"
            self.failures.append(record)
        else:
            self.slowest.append(record)
            if len(self.slowest) > 40:
                self.slowest.sort(key=lambda r: -r.seconds)
                del self.slowest[10:]
        if crashed:
            if self.restarter is not None:
                self.restarter.stop(wait=30)
                record.crash = self.crash_excerpt()
                self.target, self.pid, self.log_path = self.restarter.start()
                self.log_offset = 0
                self.channel.close()
                self.channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
                self.setup()
                self.crash_seconds += time.monotonic() - began
            else:
                self.wait_for_exit()
                record.crash = self.crash_excerpt()
                self.aborted = f"server down after case {case.number}"
        return outcome

    # ---- the run

    def setup(self):
        self.setup_notes = self.ctx.setup(self.channel)

    def run(self, cases: int, only: int | None = None, long: bool = False, heavy: bool = True, progress: bool = False,
            watch_heavy: float = 0):
        start = time.monotonic()
        if self.log_path is not None and self.log_path.exists():
            self.log_offset = len(self.log_path.read_text(errors="replace").splitlines())
        self.setup()
        numbers = [only] if only is not None else range(cases)
        for n in numbers:
            case = make_case(self.methods, self.ctx, self.seed, n)
            outcome = self.run_case(case)
            if only is not None:
                print(f"case {n}: {case.method.path} kind={case.kind} note={case.note}", file=self.out)
                for i, m in enumerate(case.messages):
                    print(f"  message {i}: {len(m)} bytes: {m[:256].hex()}{'…' if len(m) > 256 else ''}", file=self.out)
                print(f"  -> {outcome.code}: {outcome.details} ({outcome.responses} responses, {outcome.seconds:.3f}s)", file=self.out)
            if progress and n % 1000 == 999:
                print(f"… {n + 1} cases, {time.monotonic() - start:.1f}s, {len(self.failures)} failures", file=sys.stderr, flush=True)
            if self.aborted:
                break
        if heavy and only is None and not self.aborted:
            for case in heavy_cases(self.methods, self.ctx, long):
                outcome = self.run_case(case)
                if self.aborted:
                    break
                if watch_heavy > 0 and outcome.code == "OK" and case.method.name == "IngestDocument":
                    self.watch_document(case, outcome, watch_heavy)
                    if self.aborted:
                        break
        if not self.aborted:
            ok, why = self.healthy()
            if not ok:
                self.crashes += 1
                record = Record("end", "-", "final-health", "", "-", "crash: " + why, "", 0)
                self.wait_for_exit()
                record.crash = self.crash_excerpt()
                self.failures.append(record)
                self.aborted = "server down at the end"
        self.elapsed = time.monotonic() - start
        return self

    def watch_document(self, case: Case, outcome: Outcome, seconds: float):
        """Follows a heavy document through the pipeline for up to `seconds`, checking the server's
        health on the way, and notes how far it got."""
        ing = self.modules["trove.v1.ingestion_pb2"]
        common = self.modules["trove.v1.common_pb2"]
        record = self.heavy[-1]
        document_id = ing.IngestDocumentResponse.FromString(outcome.body).document_id if outcome.body else ""
        if not document_id:
            return
        start = time.monotonic()
        state = "?"
        while time.monotonic() - start < seconds:
            try:
                raw = self.channel.unary_unary("/trove.v1.Ingestion/GetDocumentStatus")(
                    ing.GetDocumentStatusRequest(document_id=document_id).SerializeToString(deterministic=True), timeout=DEADLINE)
                document = common.Document.FromString(raw)
                state = f"{common.DocumentStatus.Name(document.status)} chunks={document.chunk_count} {document.error_message[:120]}"
                if document.status in (common.DOCUMENT_STATUS_COMPLETED, common.DOCUMENT_STATUS_FAILED):
                    break
            except grpc.RpcError as error:
                state = f"GetDocumentStatus: {error.code().name}: {error.details()}"
                ok, why = self.healthy()
                if not ok:
                    self.crashes += 1
                    failure = Record(f"{case.number}-processing", record.method, "heavy", case.note, "-", "crash while processing: " + why,
                                     record.head, time.monotonic() - start)
                    self.wait_for_exit()
                    failure.crash = self.crash_excerpt()
                    self.failures.append(failure)
                    self.aborted = f"server down while processing {case.number}"
                    break
            time.sleep(1)
        record.note += f"; after {time.monotonic() - start:.0f}s: {state}"

    # ---- report

    def report(self) -> str:
        lines = []
        total = self.cases_run
        lines.append(f"Trove RPC fuzz: target {self.target}, seed {self.seed}, {total} cases over {len(self.methods)} methods "
                     f"in {self.elapsed:.1f}s")
        if self.crash_seconds:
            lines.append(f"  of which {self.crash_seconds:.1f}s went to crashed cases, waiting for backtraces and restarts; "
                         f"the rest ran in {self.elapsed - self.crash_seconds:.1f}s")
        for note in self.setup_notes:
            lines.append(f"  setup: {note}")
        lines.append("")
        lines.append("Status codes per method: cases, time in calls, dec = INVALID_ARGUMENT from the decoder (before the service ran), codes:")
        abbrev = {"OK": "OK", "INVALID_ARGUMENT": "INVARG", "NOT_FOUND": "NOTFOUND", "RESOURCE_EXHAUSTED": "RESEXH",
                  "FAILED_PRECONDITION": "FAILPRE", "ALREADY_EXISTS": "EXISTS", "UNIMPLEMENTED": "UNIMPL",
                  "OUT_OF_RANGE": "RANGE", "DATA_LOSS": "DATALOSS", "PERMISSION_DENIED": "DENIED", "UNAUTHENTICATED": "UNAUTH",
                  "DEADLINE_EXCEEDED": "DEADLINE", "UNAVAILABLE": "UNAVAIL"}
        width = max(len(m.short) for m in self.methods)
        for m in self.methods:
            counter = self.codes.get(m.short, collections.Counter())
            n = sum(counter.values())
            cells = " ".join(f"{abbrev.get(c, c)}={k}" for c, k in sorted(counter.items(), key=lambda x: (-x[1], x[0])))
            lines.append(f"  {m.short:<{width}} {n:>5} {self.method_seconds[m.short]:6.1f}s  dec={self.decode_rejects[m.short]:<4} {cells}")
        overall = collections.Counter()
        for counter in self.codes.values():
            overall.update(counter)
        lines.append("  " + "all".ljust(width) + f" {total:>5} {sum(self.method_seconds.values()):6.1f}s  dec={sum(self.decode_rejects.values()):<4} "
                     + " ".join(f"{abbrev.get(c, c)}={k}" for c, k in overall.most_common()))
        lines.append("")
        lines.append("Cases per kind (decoder: rejected before the service ran; error: a status from the service):")
        for kind, counter in sorted(self.kinds.items(), key=lambda x: -x[1]["cases"]):
            lines.append(f"  {kind:<11} {counter['cases']:>5}  decoder={counter['decoder']:<5} error={counter['error']:<5} OK={counter['OK']}")
        lines.append("")
        lines.append("Oversized messages (> %d bytes; RESOURCE_EXHAUSTED expected):" % MAX_MESSAGE_BYTES)
        summary = collections.Counter(f"{r.code}: {r.details[:90]}" for r in self.oversized)
        for text, k in summary.most_common():
            lines.append(f"  {k:>3} × {text}")
        if self.heavy:
            lines.append("")
            lines.append("Heavy cases:")
            for r in self.heavy:
                lines.append(f"  {r.case} {r.method} ({r.note}): {r.code} {r.details[:160]} [{r.seconds:.1f}s]")
        lines.append("")
        lines.append("Slowest cases (apart from failures):")
        for r in sorted(self.slowest, key=lambda r: -r.seconds)[:8]:
            lines.append(f"  {r.seconds:6.2f}s case {r.case} {r.method} {r.kind} {r.note[:60]} -> {r.code}")
        lines.append("")
        lines.append(f"Failures: {len(self.failures)}")
        for r in self.failures[:60]:
            lines.append(f"  case {r.case} seed {self.seed} {r.method} kind={r.kind} note={r.note[:80]}")
            lines.append(f"    {r.details[:300]}")
            lines.append(f"    first 64 request bytes: {r.head}")
            lines.append(f"    reproduce: fuzz_rpcs.py --target HOST:PORT --seed {self.seed} --case {r.case}")
            for x in r.crash.splitlines():
                lines.append(f"    | {x}")
        if len(self.failures) > 60:
            lines.append(f"  … {len(self.failures) - 60} more")
        if self.aborted:
            lines.append(f"  run aborted: {self.aborted}")
            if self.recent_ingest:
                lines.append("  documents ingested just before:")
                lines += [f"    {x}" for x in self.recent_ingest]
        lines.append("")
        grouped: dict[tuple, list[Record]] = collections.defaultdict(list)
        for category, r in self.findings:
            grouped[(category, r.method, r.code, re.sub(r"\d+", "N", r.details)[:120])].append(r)
        lines.append(f"Findings: {len(self.findings)} cases, {len(grouped)} distinct")
        for (category, method, code, _), records in sorted(grouped.items()):
            first = records[0]
            lines.append(f"  [{category}] {method} {code} {first.details[:200]!r} ×{len(records)}")
            lines.append(f"    e.g. case {first.case} ({first.kind} {first.note[:50]}), first bytes {first.head}")
        lines.append("")
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        return (f"fuzz: {self.cases_run} cases, {len(self.codes)} methods, {self.crashes} crashes, {self.hangs} hangs, "
                f"{len(self.failures)} failures")


def heavy_cases(methods: list[Method], ctx: Context, long: bool) -> list[Case]:
    by_path = {m.path: m for m in methods}
    cases = []
    rng = random.Random("trove-fuzz-heavy")
    words = b" ".join(rng.choice([b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"kettle", b"tyre", b"zeta"]) for _ in range(300000))

    def single_line(size: int) -> list[bytes]:
        chunk = 1 << 20
        line = (words * (size // len(words) + 1))[:size].replace(b"\n", b" ")
        return [ld(2, line[i:i + chunk]) for i in range(0, size, chunk)]

    def ingest(size: int, label: str) -> Case:
        header = ld(1, ld(1, FIX_COLLECTION.encode()) + ld(2, f"{label}.txt".encode()) + ld(3, b"text/plain"))
        return Case(f"heavy-{label}", by_path["/trove.v1.Ingestion/IngestDocument"], "heavy", [header] + single_line(size),
                    f"{size} bytes single line, 1 MiB chunks", deadline=120)

    if not long:
        cases.append(ingest(8 * 1000 * 1000, "line-8MB"))
        return cases
    cases.append(ingest(100 * 1000 * 1000, "line-100MB"))
    header = ld(1, ld(1, FIX_BUCKET.encode()) + ld(2, b"heavy/line-100MB.txt") + ld(3, b"text/plain"))
    cases.append(Case("heavy-put-100MB", by_path["/trove.v1.ObjectStorage/PutObject"], "heavy",
                      [header] + single_line(100 * 1000 * 1000), "100 MB object, 1 MiB chunks", deadline=120))
    ten = b"w" * (10 * 1000 * 1000)
    cases.append(Case("heavy-embed-10MB", by_path["/trove.v1.Embedding/Embed"], "heavy", [ld(3, ten)], "one 10 MB text", deadline=60))
    cases.append(Case("heavy-embed-10MB-words", by_path["/trove.v1.Embedding/Embed"], "heavy",
                      [ld(3, (words * 10)[: 10 * 1000 * 1000])], "one 10 MB text of words", deadline=60))
    cases.append(Case("heavy-embedstream-10MB", by_path["/trove.v1.Embedding/EmbedStream"], "heavy", [ld(3, ten)], "one 10 MB text", deadline=60))
    # Under the message limit but over embedding.max_text_bytes: the service's own limit answers.
    cases.append(Case("heavy-embed-7MB", by_path["/trove.v1.Embedding/Embed"], "heavy",
                      [ld(3, (words * (7 * 1000 * 1000 // len(words) + 1))[: 7 * 1000 * 1000])], "one 7 MB text of words", deadline=60))
    return cases


# --------------------------------------------------------------------------------------------
# Command line


class ServerProcess:
    """`trove serve all` started by the fuzzer in a temporary data directory; `start` again after a
    crash gives a fresh server (with --keep-going), and every data directory is kept until `close`."""

    def __init__(self, binary: str, keep_logs: Path | None = None):
        self.binary = binary
        self.keep_logs = keep_logs
        self.process: subprocess.Popen | None = None
        self.directories: list[Path] = []
        self.generation = 0

    def start(self) -> tuple[str, int, Path]:
        data = Path(tempfile.mkdtemp(prefix="trove-fuzz-"))
        self.directories.append(data)
        self.generation += 1
        server = ServeAll(self.binary, data)
        self.process = server.process
        return server.address, server.pid, server.log

    def stop(self, wait: float = 20):
        """Lets a crashing process finish writing its backtrace, then ends it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.wait(timeout=wait)  # a crash: the backtracer is still writing
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.directories[-1] / "serve.log", self.keep_logs / f"serve-{self.generation}.log")
        self.process = None

    def close(self):
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.directories[-1] / "serve.log", self.keep_logs / f"serve-{self.generation}.log")
        for data in self.directories:
            shutil.rmtree(data, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", help="HOST:PORT of a running `trove serve all`")
    where.add_argument("--binary", help="start `BINARY serve all` in a temporary data directory")
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--case", type=int, default=None, help="run only case K (after the setup)")
    parser.add_argument("--long", action="store_true", help="the 100 MB documents and 10 MB texts")
    parser.add_argument("--no-heavy", action="store_true", help="skip the heavy cases")
    parser.add_argument("--watch-heavy", type=float, default=0, metavar="SECONDS",
                        help="follow each heavy document through the pipeline for up to SECONDS")
    parser.add_argument("--report", help="also write the report to this file")
    parser.add_argument("--pid", type=int, help="with --target: the server's pid, to check its liveness")
    parser.add_argument("--log", help="with --target: the server's serve.log, quoted on a crash")
    parser.add_argument("--keep-going", action="store_true",
                        help="with --binary: after a crash, start a fresh server and go on (to collect every crash)")
    parser.add_argument("--keep-logs", help="with --binary: copy each server's serve.log into this directory")
    args = parser.parse_args(argv)
    if args.keep_going and not args.binary:
        parser.error("--keep-going needs --binary")

    stubs = Path(tempfile.mkdtemp(prefix="trove-fuzz-stubs-"))
    atexit.register(shutil.rmtree, stubs, ignore_errors=True)
    modules = generate_stubs(stubs)
    server = None
    target, pid = args.target, args.pid
    log = Path(args.log) if args.log else None
    if args.binary:
        server = ServerProcess(args.binary, Path(args.keep_logs) if args.keep_logs else None)
        target, pid, log = server.start()
    try:
        fuzzer = Fuzzer(target, modules, args.seed, pid=pid, log_path=log, restarter=server if args.keep_going else None)
        fuzzer.run(args.cases, only=args.case, long=args.long, heavy=not args.no_heavy, progress=True, watch_heavy=args.watch_heavy)
        text = fuzzer.report()
        print(text)
        if args.report:
            Path(args.report).write_text(text + "\n")
        return 1 if fuzzer.failures else 0
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    sys.exit(main())
