"""A loopback stand-in for the ZeroGPU device API that the `spaces` package talks to.

On a ZeroGPU Space, `SPACES_ZERO_DEVICE_API_URL` points at the platform's device API.
`spaces` (0.51.x) sends it, all as POST with query parameters and no JSON body:

- `/startup-report` at the first `Blocks.launch()`, when at least one function is
  decorated with `@spaces.GPU` (200 expected; 404 is retried twice, anything else fails
  the launch);
- `/schedule?cgroupPath=&taskId=&enableQueue=&tokenVersion=[&durationSeconds=&gpuSize=&token=]`
  before each call of a decorated function; it wants JSON
  `{"idle", "nvidiaIndex", "nvidiaUUID", "allowToken"}` (or 503: "No GPU was available");
- `/allow?allowToken=&pid=` from the forked worker that will run the function;
- `/release?allowToken=&fail=` when the call ends (fail=True when it raised).

This server answers all of them on 127.0.0.1 (port chosen by the OS) and records every
request, so a test can check what the app asked for. It gives no GPU: a call that
reaches the worker still needs CUDA on the machine.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# What the stand-in hands out as the scheduled device.
STANDIN_NVIDIA_UUID = "GPU-00000000-0000-0000-0000-standin00000"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str                  # without the query string
    query: dict[str, str]      # the last value of each query parameter
    body: Any                  # parsed JSON, the raw text when not JSON, None when empty


@dataclass
class ZeroGPUStandIn:
    """Threaded HTTP server posing as the device API; use as a context manager.

    `nvidia_uuid` is what the worker puts in CUDA_VISIBLE_DEVICES before it starts CUDA:
    the default names no device (so a call fails in the worker, after the whole
    protocol); on a machine with a GPU, "0" or its UUID lets the call run.
    `schedule_status` lets a test play the platform refusing a GPU (503, 401...).
    """
    nvidia_uuid: str = STANDIN_NVIDIA_UUID
    schedule_status: int = 200
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._tokens = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="zerogpu-standin", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "ZeroGPUStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # -- answers --------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _answer(self, request: RecordedRequest) -> tuple[int, Any]:
        """(status, JSON body or None) for one request, as the device API answers it."""
        if request.method == "POST" and request.path in ("/startup-report", "/allow", "/release"):
            return 200, None
        if request.method == "POST" and request.path == "/schedule":
            if self.schedule_status != 200:
                return self.schedule_status, {"detail": "refused by the stand-in"}
            with self._lock:
                self._tokens += 1
                token = f"standin-allow-{self._tokens}"
            return 200, {"idle": False, "nvidiaIndex": 0,
                         "nvidiaUUID": self.nvidia_uuid, "allowToken": token}
        if request.method == "GET" and request.path == "/queue-size":
            return 200, 0
        return 404, {"detail": f"the stand-in knows no {request.method} {request.path}"}

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw
                request = RecordedRequest(self.command, split.path,
                                          dict(parse_qsl(split.query, keep_blank_values=True)), body)
                standin._record(request)
                status, payload = standin._answer(request)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format, *args):  # keep test output quiet
                pass

        return Handler
