"""An HTTP proxy in front of an S3 server that injects faults on request, for testing retries
and timeouts. Prints one JSON line, {"endpoint": ...}, and runs until standard input closes.

  s3_fault_proxy.py UPSTREAM_URL

Requests are forwarded unchanged, Host header included, so the upstream still checks the
client's SigV4 signatures. The proxy's own control path, POST /__faults__, takes a JSON body:

  {"status": 503, "code": "SlowDown", "count": 2}   answer the next 2 requests with this error
  {"delay_seconds": 3, "count": 1}                  hold the next request's answer this long
  {"drop": true, "count": 1}                        close the next connection without answering
  {"match": "partNumber="}                          (with any of the above) only for requests
                                                    whose path contains this text
  {"clear": true}                                   forget the faults not yet used up

GET /__faults__ answers what the proxy has seen: {"requests": [{"method", "path", "host",
"injected"}...]}.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
LOCK = threading.Lock()
FAULTS = []  # each: dict with "count" remaining
SEEN = []


def take_fault(path: str):
    with LOCK:
        for fault in FAULTS:
            if fault["count"] > 0 and fault.get("match", "") in path:
                fault["count"] -= 1
                return dict(fault)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _control(self):
        if self.command == "POST":
            fault = json.loads(self._body() or b"{}")
            fault.setdefault("count", 1)
            with LOCK:
                if fault.get("clear"):
                    FAULTS.clear()
                else:
                    FAULTS.append(fault)
            payload = b"{}"
        else:
            with LOCK:
                payload = json.dumps({"requests": SEEN}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self):
        if self.path.startswith("/__faults__"):
            return self._control()
        body = self._body()
        fault = take_fault(self.path)
        with LOCK:
            SEEN.append({"method": self.command, "path": self.path, "host": self.headers.get("Host", ""), "injected": fault is not None})
        if fault and fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault and "status" in fault:
            payload = (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                f"<Error><Code>{fault.get('code', 'InternalError')}</Code><Message>injected by the fault proxy</Message>"
                "<RequestId>fault-proxy</RequestId></Error>"
            ).encode()
            self.send_response(fault["status"])
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload) if self.command != "HEAD" else 0))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        if fault and "delay_seconds" in fault:
            time.sleep(fault["delay_seconds"])
        connection = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {name: value for name, value in self.headers.items()}
        connection.request(self.command, self.path, body=body if body else None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)) if self.command != "HEAD" else response.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"endpoint": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
