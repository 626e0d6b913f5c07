"""Structured JSON-line logs. An event name plus fields; `message_id`, `tenant_id` and
`job_id` are bound through contextvars so every line of one send correlates.
Never log a secret, a key or a message body."""

import contextvars
import logging
import os
import sys
import time
from typing import Any

import msgspec

message_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "message_id", default=None
)
tenant_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tenant_id", default=None
)
job_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("job_id", default=None)
# The trace id of the open span; None while tracing is off.
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    # Under `iep serve --workers N` every line says which worker wrote it.
    static: dict[str, Any] = {}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
            **self.static,
        }
        for key, var in (
            ("messageId", message_id_var),
            ("tenantId", tenant_id_var),
            ("jobId", job_id_var),
            ("traceId", trace_id_var),
        ):
            value = var.get()
            if value is not None:
                out[key] = value
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        try:
            return _encode(out).decode()
        except TypeError:
            return _encode({k: str(v) for k, v in out.items()}).decode()


def setup(level: str = "INFO", stream: Any = None) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stdout)
    formatter = JsonFormatter()
    role = os.environ.get("IEP_WORKER", "")  # "index/count", set by supervisor.py
    if role:
        formatter.static = {"worker": int(role.partition("/")[0])}
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "aiosmtplib", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})
