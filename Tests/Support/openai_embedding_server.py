"""A small server speaking OpenAI's embeddings API (POST /v1/embeddings) that computes real
all-MiniLM-L6-v2 sentence embeddings, for testing the openai-compatible embedding provider.
The BERT encoder is evaluated with numpy in float32 from the model's safetensors file (read by
hand) and text is tokenized with Hugging Face `tokenizers`, so the server needs no torch.
Prints one JSON line, {"url": ".../v1", "api_key": ..., "model": ...}, and runs until standard
input closes (when the test process that started it exits, however it exits).

  openai_embedding_server.py --model-dir DIR [--api-key KEY] [--model-name NAME]
  openai_embedding_server.py --model-dir DIR --self-check REFERENCE_DIR
      compares with sentence-transformers' embeddings (REFERENCE_DIR/reference.jsonl and
      reference_tokens.jsonl), prints the differences, exits 1 if one is over 1e-5

The control path, not part of OpenAI's API, injects faults into /v1/embeddings requests
(taken before the API key is checked) and reports what was seen:

  POST /__control__ {"status": 429, "retry_after": 2, "count": 1}   answer the next request with
                                           this status, an OpenAI-shaped error, Retry-After
  POST /__control__ {"delay_seconds": 3}   hold the next answer (real or injected) this long
  POST /__control__ {"drop": true}         close the next connection without answering
  POST /__control__/reset                  forget the queued faults and the request log
  GET  /__control__  {"requests": [{"inputs", "injected", "status", "authorized"}...]}

Faults queue in the order posted; "count" defaults to 1. "injected" is true when the answer
was replaced (a status or a drop); "status" is 0 for a dropped request, and until answered.
"""

import argparse
import base64
import json
import math
import os
import secrets
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# One BLAS thread: the server shares the machine with the tests, and OpenBLAS's spinning worker
# threads make it several times slower (and erratic) when the cores are already busy.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402 (after the thread settings, which it reads when loaded)
from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length, [CLS] and [SEP] included
BATCH = 32
MAX_INPUTS = 2048  # OpenAI's limit on inputs per request


# ---- the model -----------------------------------------------------------------------------


def read_safetensors(path: str) -> dict:
    """Tensors by name: an 8-byte little-endian header length, a JSON header giving each
    tensor's dtype, shape and byte range, then the raw little-endian data."""
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}
    with open(path, "rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_length))
        data = file.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = array.astype(np.float32) if entry["dtype"] in ("F32", "F16") else array
    return tensors


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) = x * (1 - erfc(x / sqrt 2) / 2), with erfc from Numerical
    Recipes' Chebyshev-fitted formula (relative error under 1.2e-7 everywhere, tails included).
    In place where it can be, and |x| / sqrt 2 capped at 9 so that exp never gives float32
    denormals, which are very slow (erfc(9) / 2 is 2e-37, so nothing visible changes)."""
    z = np.abs(x)
    z *= np.float32(1 / math.sqrt(2))
    np.minimum(z, np.float32(9), out=z)
    t = z * np.float32(0.5)
    t += np.float32(1)
    np.reciprocal(t, out=t)
    coefficients = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                    -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223)
    poly = t * np.float32(coefficients[0])
    for c in coefficients[1:-1]:
        poly += np.float32(c)
        poly *= t
    poly += np.float32(coefficients[-1])
    z *= z
    poly -= z
    np.exp(poly, out=poly)
    poly *= t
    poly *= np.float32(0.5)  # now erfc(|x| / sqrt 2) / 2, which is Phi(x) where x < 0
    phi = np.subtract(np.float32(1), poly, out=z)
    np.copyto(phi, poly, where=x < 0)
    phi *= x
    return phi


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(1e-12)) * weight + bias


class MiniLM:
    """all-MiniLM-L6-v2: a 6-layer BERT encoder (12 heads, hidden 384), mean pooling, L2 norm."""

    def __init__(self, model_dir: str):
        config = json.load(open(os.path.join(model_dir, "config.json")))
        self.heads, self.layers = config["num_attention_heads"], config["num_hidden_layers"]
        w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        w = {name.removeprefix("bert."): value for name, value in w.items()}
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]  # every token is type 0
        self.embedding_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.blocks = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def weight(name):  # transposed to (in, out), so that activations @ weight
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            self.blocks.append({
                # query, key and value in one product: (384, 3 * 384)
                "qkv": np.concatenate([weight(f"attention.self.{n}") for n in ("query", "key", "value")], axis=1),
                "qkv_bias": np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]),
                "attention_out": (weight("attention.output.dense"), w[p + "attention.output.dense.bias"]),
                "attention_norm": (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                "intermediate": (weight("intermediate.dense"), w[p + "intermediate.dense.bias"]),
                "output": (weight("output.dense"), w[p + "output.dense.bias"]),
                "output_norm": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)  # tokenizer.json says 128; the model uses 256
        self.tokenizer.no_padding()  # padded per batch below
        self.lock = threading.Lock()  # one forward pass at a time, to bound memory and CPU

    def tokenize(self, texts: list) -> list:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Unit-length sentence vectors for a padded batch of token ids, shape (batch, length)."""
        batch, length = ids.shape
        hidden = self.words[ids] + self.positions[:length] + self.token_type
        hidden = layer_norm(hidden, *self.embedding_norm)
        head_size = hidden.shape[-1] // self.heads
        # Padding keys get a large negative score, so softmax gives them no weight.
        mask_bias = np.where(mask, np.float32(0), np.float32(-1e30))[:, None, None, :]
        for block in self.blocks:
            qkv = hidden @ block["qkv"] + block["qkv_bias"]
            qkv = qkv.reshape(batch, length, 3, self.heads, head_size).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]  # each (batch, heads, length, head_size)
            scores = query @ key.transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(head_size)) + mask_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            weight, bias = block["attention_out"]
            hidden = layer_norm(context @ weight + bias + hidden, *block["attention_norm"])
            weight, bias = block["intermediate"]
            inner = gelu(hidden @ weight + bias)
            weight, bias = block["output"]
            hidden = layer_norm(inner @ weight + bias + hidden, *block["output_norm"])
        # Mean over the real tokens, then divide by the Euclidean norm.
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.float32(1e-9))
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))

    def embed(self, texts: list):
        """(embeddings in input order, shape (n, 384), token counts): batches of up to 32 inputs
        of similar length, so that little padding is computed."""
        token_ids = self.tokenize(texts)
        result = np.zeros((len(texts), self.words.shape[1]), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        with self.lock:
            for start in range(0, len(order), BATCH):
                chosen = order[start:start + BATCH]
                length = max(len(token_ids[i]) for i in chosen)
                ids = np.zeros((len(chosen), length), dtype=np.int64)
                mask = np.zeros((len(chosen), length), dtype=bool)
                for row, i in enumerate(chosen):
                    ids[row, :len(token_ids[i])] = token_ids[i]
                    mask[row, :len(token_ids[i])] = True
                result[chosen] = self._encode(ids, mask)
        return result, [len(ids) for ids in token_ids]


# ---- the HTTP server -----------------------------------------------------------------------

MODEL = None  # set in main
API_KEY = ""
MODEL_NAME = ""
LOCK = threading.Lock()
FAULTS = []  # queued fault dicts, each with a remaining "count"
SEEN = []  # one entry per /v1/embeddings request


def take_fault():
    """The next queued fault, or None; each fault applies to "count" requests."""
    with LOCK:
        while FAULTS and FAULTS[0]["count"] <= 0:
            FAULTS.pop(0)
        if not FAULTS:
            return None
        FAULTS[0]["count"] -= 1
        return dict(FAULTS[0])


def error(status: int, message: str, type_: str = "invalid_request_error", param=None, code=None):
    return status, {"error": {"message": message, "type": type_, "param": param, "code": code}}


def count_inputs(body) -> int:
    value = body.get("input") if isinstance(body, dict) else None
    return 1 if isinstance(value, str) else len(value) if isinstance(value, list) else 0


def embeddings(body) -> tuple:
    """(status, JSON answer) for an authorised request's parsed body."""
    if not isinstance(body, dict):
        return error(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error(400, "You must provide a model parameter.", param="model")
    if model != MODEL_NAME:
        return error(404, f"The model `{model}` does not exist", param="model", code="model_not_found")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        return error(400, "'input' must be a non-empty string or a non-empty array of strings.", param="input")
    if any(isinstance(t, int) or (isinstance(t, list) and all(isinstance(i, int) for i in t)) for t in texts):
        return error(400, "Token arrays are not supported by this server; send strings.", param="input")
    if not all(isinstance(t, str) for t in texts):
        return error(400, "'input' must be a string or an array of strings.", param="input")
    if any(t == "" for t in texts):
        return error(400, "'input' cannot contain an empty string.", param="input")
    if len(texts) > MAX_INPUTS:
        return error(400, f"'input' has {len(texts)} items; at most {MAX_INPUTS} are allowed.", param="input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return error(400, f"'encoding_format' must be 'float' or 'base64', not {encoding!r}.", param="encoding_format")
    if body.get("dimensions") is not None and body.get("dimensions") != MODEL.words.shape[1]:
        return error(400, "This model does not support specifying dimensions.", param="dimensions")
    vectors, token_counts = MODEL.embed(texts)
    data = []
    for index, vector in enumerate(vectors):
        value = base64.b64encode(vector.astype("<f4").tobytes()).decode() if encoding == "base64" else vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(token_counts)
    return 200, {"object": "list", "data": data, "model": MODEL_NAME, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: dict, headers: dict = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _control(self):
        if self.command == "POST" and self.path.rstrip("/") == "/__control__/reset":
            with LOCK:
                FAULTS.clear()
                SEEN.clear()
        elif self.command == "POST":
            try:
                fault = json.loads(self._body() or b"{}")
                fault["count"] = int(fault.get("count") or 1)
            except (ValueError, TypeError, AttributeError):
                return self._answer(*error(400, "The fault must be a JSON object."))
            with LOCK:
                FAULTS.append(fault)
        else:
            with LOCK:
                return self._answer(200, {"requests": list(SEEN)})
        self._answer(200, {})

    def _embeddings(self):
        raw = self._body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        authorized = secrets.compare_digest(self.headers.get("Authorization", "").encode(), f"Bearer {API_KEY}".encode())
        fault = take_fault() or {}
        injected_status = fault.get("status")
        entry = {"inputs": count_inputs(body), "injected": injected_status is not None or bool(fault.get("drop")),
                 "status": 0, "authorized": authorized}
        with LOCK:
            SEEN.append(entry)
        if fault.get("delay_seconds"):
            time.sleep(float(fault["delay_seconds"]))
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        headers = {}
        if injected_status is not None:
            status = int(injected_status)
            if status == 429:
                message, type_, code = "Rate limit reached (injected by the test server).", "rate_limit_error", "rate_limit_exceeded"
            else:
                message = "The server had an error while processing your request (injected)."
                type_, code = "server_error" if status >= 500 else "invalid_request_error", None
            _, payload = error(status, fault.get("message", message), type_, code=code)
            retry_after = fault.get("retry_after")
            if retry_after is not None:
                headers["Retry-After"] = f"{retry_after:g}" if isinstance(retry_after, (int, float)) else str(retry_after)
        elif not authorized:
            status, payload = error(401, "Incorrect API key provided.", code="invalid_api_key")
        elif body is None:
            status, payload = error(400, "We could not parse the JSON body of your request.")
        else:
            try:
                status, payload = embeddings(body)
            except Exception as failure:  # a bug here should reach the test as an answer, not a hang
                status, payload = error(500, f"The test server failed: {failure!r}", "server_error")
        entry["status"] = status
        self._answer(status, payload, headers)

    def _route(self):
        path = self.path.split("?")[0]
        if path.startswith("/__control__"):
            return self._control()
        if self.command == "POST" and path.rstrip("/") == "/v1/embeddings":
            return self._embeddings()
        self._body()  # keep the connection usable
        self._answer(*error(404, f"Invalid URL ({self.command} {path})"))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _route


# ---- the self-check and main ---------------------------------------------------------------


def self_check(model: MiniLM, reference_dir: str) -> int:
    """Compares with sentence-transformers' embeddings, all texts in one padded request and each
    alone; 1e-5 is the limit for texts whose token ids agree with the reference's."""
    references = [json.loads(line) for line in open(os.path.join(reference_dir, "reference.jsonl"))]
    tokens = {r["text"]: r["input_ids"] for r in map(json.loads, open(os.path.join(reference_dir, "reference_tokens.jsonl")))}
    texts = [r["text"] for r in references]
    expected = np.array([r["embedding"] for r in references], dtype=np.float64)
    batched, counts = model.embed(texts)
    alone = np.concatenate([model.embed([text])[0] for text in texts])
    failures = mismatched = 0
    for i, text in enumerate(texts):
        same_tokens = model.tokenize([text])[0] == tokens.get(text)
        mismatched += not same_tokens
        diff_batched = np.abs(batched[i] - expected[i]).max()
        diff_alone = np.abs(alone[i] - expected[i]).max()
        ok = not same_tokens or max(diff_batched, diff_alone) <= 1e-5
        failures += not ok
        note = "" if same_tokens else "  (token ids differ from the reference's)"
        print(f"{'ok  ' if ok else 'FAIL'} {counts[i]:3d} tokens  max|diff| batched {diff_batched:.2e} "
              f"alone {diff_alone:.2e}  {text[:50]!r}{note}")
    worst = max(np.abs(batched - expected).max(), np.abs(alone - expected).max())
    print(f"{len(texts) - mismatched}/{len(texts)} tokenized as in the reference, "
          f"{len(texts) - failures}/{len(texts)} within 1e-5; overall max|diff| {worst:.2e}")
    return 1 if failures else 0


def main() -> None:
    global MODEL, API_KEY, MODEL_NAME
    parser = argparse.ArgumentParser(description="An OpenAI-compatible embeddings server for tests.")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--api-key", default="sk-test-" + secrets.token_hex(16))
    parser.add_argument("--model-name", default="all-MiniLM-L6-v2")
    parser.add_argument("--self-check", metavar="REFERENCE_DIR")
    arguments = parser.parse_args()
    MODEL, API_KEY, MODEL_NAME = MiniLM(arguments.model_dir), arguments.api_key, arguments.model_name
    if arguments.self_check:
        sys.exit(self_check(MODEL, arguments.self_check))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    print(json.dumps({"url": url, "api_key": API_KEY, "model": MODEL_NAME}), flush=True)
    sys.stdin.read()
    os._exit(0)  # at once, even with a request still computing or held by a delay


if __name__ == "__main__":
    main()
