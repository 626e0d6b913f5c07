"""A real HTTP receiver on 127.0.0.1 at a free port that records requests and answers scripts.

Standard library only: `ThreadingHTTPServer` serving in a daemon thread, HTTP/1.1 keep-alive.
Each request is recorded (method, path, lowercase headers, raw body, monotonic arrival time) and
answered with the next scripted status (a list consumed per request), then 200.

    with WebhookSink(statuses=[500, 500, 200]) as sink:
        ... point a webhook at sink.url("/hook") ...
        await wait_until(lambda: len(sink.requests) == 3)
"""

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """time.monotonic() when the body had been read: for checking retry spacing."""

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookSink:
    """Scriptable HTTP receiver. Start with `start()` or `with WebhookSink() as sink:`."""

    def __init__(
        self,
        statuses: list[int] | None = None,
        *,
        default_status: int = 200,
        delay: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.default_status = default_status
        self._lock = threading.Lock()
        self._statuses: list[int] = list(statuses or [])
        self._delay = delay
        self._requests: list[Request] = []
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "WebhookSink":
        if self._server is not None:
            raise RuntimeError("WebhookSink already started")
        server = ThreadingHTTPServer((self.host, 0), _handler_class(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-sink-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        # Handler threads may sit in a keep-alive read; cut their sockets so they end now.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None
        self._thread = None

    def __enter__(self) -> "WebhookSink":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("WebhookSink not started")
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    # -- scripting and observations (any thread) ---------------------------------------------

    def script(self, *statuses: int) -> None:
        """Append statuses for the next requests, one consumed per request."""
        with self._lock:
            self._statuses.extend(statuses)

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering each request (to trigger client timeouts)."""
        with self._lock:
            self._delay = seconds

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._statuses.clear()
            self._delay = 0.0
            self._requests.clear()

    def _on_request(self, request: Request) -> tuple[int, float]:
        with self._lock:
            self._requests.append(request)
            status = self._statuses.pop(0) if self._statuses else self.default_status
            return status, self._delay

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def _handler_class(sink: WebhookSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # an idle keep-alive connection ends on its own

        def setup(self) -> None:
            super().setup()
            sink._track(self.connection, alive=True)

        def finish(self) -> None:
            sink._track(self.connection, alive=False)
            super().finish()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(self.command, self.path, headers, body, time.monotonic())
            status, delay = sink._on_request(request)
            if delay > 0:
                time.sleep(delay)  # a handler thread of its own: blocking is the point
            payload = b'{"ok":true}' if 200 <= status < 300 else b'{"ok":false}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the requests are recorded instead

    return Handler
