"""Small local HTTP servers that answer as SendGrid's and Mailgun's APIs do, and one that serves
files (an SNS signing certificate, a SubscribeURL). 127.0.0.1, free port, a daemon thread.

They check what the real APIs check first (the API key: SendGrid 401 with its `errors` JSON,
Mailgun 401 with a plain-text "Forbidden"; required fields: 400), keep every accepted message,
and answer scripted replies first (e.g. 429 with Retry-After, a 503 HTML page from a proxy).

    with FakeSendgrid(api_key="SG.key") as sg:
        sg.script(Reply(429, {"Retry-After": "7"}, b'{"errors":[{"message":"slow down"}]}'))
"""

import contextlib
import email
import email.policy
import json
import threading
import uuid
from base64 import b64decode
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _json(status: int, value: Any, **headers: str) -> Reply:
    return Reply(
        status, {"Content-Type": "application/json", **headers}, json.dumps(value).encode()
    )


class FakeApi:
    """Base: records requests, answers the script first, then `answer()`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self._script: list[Reply] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(self, req: Seen) -> Reply:
        return Reply(404, {"Content-Type": "text/plain"}, b"404 page not found")

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self._script.extend(replies)

    def _handle(self, req: Seen) -> Reply:
        with self.lock:
            self.requests.append(req)
            if self._script:
                return self._script.pop(0)
        return self.answer(req)

    def start(self) -> "FakeApi":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"


class FakeSendgrid(FakeApi):
    """v3 `POST /v3/mail/send` (202 + X-Message-Id) and `GET /v3/scopes`."""

    def __init__(self, api_key: str = "SG.test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.sent: list[dict[str, Any]] = []  # accepted mail/send bodies, with "_id"

    def answer(self, req: Seen) -> Reply:
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(
                401,
                {
                    "errors": [
                        {
                            "field": None,
                            "message": "The provided authorization grant is invalid, expired,"
                            " or revoked",
                        }
                    ]
                },
            )
        if req.method == "GET" and req.path == "/v3/scopes":
            return _json(200, {"scopes": ["mail.send"]})
        if req.method != "POST" or req.path != "/v3/mail/send":
            return _json(404, {"errors": [{"field": None, "message": "not found"}]})
        try:
            body = json.loads(req.body)
        except ValueError:
            return _json(400, {"errors": [{"field": None, "message": "Bad Request"}]})
        errors = []
        if not body.get("personalizations"):
            errors.append({"field": "personalizations", "message": "required"})
        if not body.get("from", {}).get("email"):
            errors.append({"field": "from.email", "message": "required"})
        if errors:
            return _json(400, {"errors": errors})
        message_id = uuid.uuid4().hex[:22]
        with self.lock:
            self.sent.append({**body, "_id": message_id})
        return Reply(202, {"X-Message-Id": message_id})


class FakeMailgun(FakeApi):
    """`POST /v3/{domain}/messages.mime` and `GET /v3/domains/{domain}`."""

    def __init__(self, domain: str = "mg.example.com", api_key: str = "key-test") -> None:
        super().__init__()
        self.domain = domain
        self.api_key = api_key
        self.sent: list[dict[str, Any]] = []  # {"id", "to", "message", "variables"}

    def answer(self, req: Seen) -> Reply:
        auth = req.headers.get("authorization", "")
        try:
            user, _, key = b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, key = "", ""
        if user != "api" or key != self.api_key:
            return Reply(401, {"Content-Type": "text/plain"}, b"Forbidden")
        if req.method == "GET" and req.path == f"/v3/domains/{self.domain}":
            return _json(200, {"domain": {"name": self.domain, "state": "active"}})
        if req.method == "GET" and req.path.startswith("/v3/domains/"):
            return _json(404, {"message": "Domain not found"})
        if req.method != "POST" or req.path != f"/v3/{self.domain}/messages.mime":
            return _json(404, {"message": "Not Found"})
        form = _multipart(req.headers.get("content-type", ""), req.body)
        if not form.get("to"):
            return _json(400, {"message": "'to' parameter is missing"})
        if not form.get("message"):
            return _json(400, {"message": "'message' parameter is missing"})
        message_id = f"{uuid.uuid4().hex}@{self.domain}"
        variables = {k[2:]: v[0] for k, v in form.items() if k.startswith("v:")}
        with self.lock:
            self.sent.append(
                {
                    "id": message_id,
                    "to": form["to"],
                    "message": form["message"][0],
                    "variables": variables,
                }
            )
        return _json(200, {"id": f"<{message_id}>", "message": "Queued. Thank you."})


class FileServer(FakeApi):
    """Serves `files` (path -> bytes) on GET; records every request (a SubscribeURL's GET)."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        super().__init__()
        self.files = dict(files or {})

    def answer(self, req: Seen) -> Reply:
        path = req.path.split("?", 1)[0]
        if req.method == "GET" and path in self.files:
            return Reply(200, {"Content-Type": "application/octet-stream"}, self.files[path])
        return Reply(404, {"Content-Type": "text/plain"}, b"not found")


def _multipart(content_type: str, body: bytes) -> dict[str, list[Any]]:
    """multipart/form-data fields by name; file fields as bytes, exactly as sent."""
    boundary = ""
    for piece in content_type.split(";"):
        key, _, value = piece.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    out: dict[str, list[Any]] = {}
    if not boundary:
        return out
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        headers = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.HTTP)
        name = headers.get_param("name", header="content-disposition")
        if not name:
            continue
        is_file = headers.get_param("filename", header="content-disposition") is not None
        out.setdefault(str(name), []).append(value if is_file else value.decode())
    return out


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = api._handle(Seen(self.command, self.path, headers, body))
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
