"""The HTTP listener: uvicorn serving the app, and the drain that ends it on SIGTERM.

What runs: `run()` serves until `stop()` (the signal handler) is called. Then, in order:
not ready → the drain (api/drain.py: new requests get 503 + `Retry-After` + `Connection:
close`) → wait until no admitted request is in flight and every connection open at the
signal has closed, at most `server.drain_seconds` → the listener closes (clients now see
"connection refused"), connections accepted just before get their answer (at most 1 s)
→ uvicorn closes what is left. The caller then stops the Runtime,
so every `202` answered is already committed. A second signal skips the rest of the drain.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from iep_appliance.clock import Clock
from iep_appliance.config import ServerConfig
from iep_appliance.logs import event

log = logging.getLogger("iep.http")
_POLL_SECONDS = 0.02  # how often the drain looks at its counters (a few per request at most)
_LAST_CONNECTIONS_SECONDS = 1.0  # after the listener closes, for connections accepted just before


class _Server(uvicorn.Server):
    clock: Any = None
    announce: Callable[[int], None] | None = None  # told the bound port once listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.announce is not None:
            port = self.config.port
            for server in self.servers:
                for sock in server.sockets:
                    port = sock.getsockname()[1]
            self.announce(port)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the signals are ours (HttpServer.stop), so a SIGTERM ends in exit code 0

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn closes the listener and, in the same step, every connection without a
        # request in progress: one accepted a moment ago, whose request is on its way, would
        # be cut unanswered. Close the listener first and give those their 503 (drain.py).
        for server in self.servers:
            server.close()
        deadline = self.clock.monotonic() + _LAST_CONNECTIONS_SECONDS
        while self.server_state.connections and self.clock.monotonic() < deadline:
            await self.clock.sleep(_POLL_SECONDS)
        await super().shutdown(sockets)


class HttpServer:
    def __init__(
        self,
        cfg: ServerConfig,
        clock: Clock,
        app: Any,
        not_ready: Callable[[], None],
        announce: Callable[[int], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.not_ready = not_ready  # /ready answers 503 from the first signal on
        self.drain = app.state.drain
        self.server = _Server(
            uvicorn.Config(
                app,
                host=cfg.host,
                port=cfg.port,
                http="httptools",
                lifespan="off",
                access_log=False,
                log_config=None,
                server_header=False,
                timeout_graceful_shutdown=5,
                backlog=2048,
            )
        )
        self.server.clock = clock
        self.server.announce = announce
        self._stop = asyncio.Event()

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self) -> None:
        """Begin the drain; called again (a second signal), close the listener at once."""
        self.not_ready()
        if self._stop.is_set():
            self.server.should_exit = True
        self._stop.set()

    async def run(self, sock: socket.socket | None = None) -> bool:
        """Serve until stopped and drained; True if the listener ever started. `sock`: a
        listening socket already bound (a worker's, from the supervisor)."""
        drainer = asyncio.create_task(self._drain_on_stop(), name="http-drain")
        try:
            await self.server.serve(sockets=[sock] if sock is not None else None)
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        return self.started

    async def _drain_on_stop(self) -> None:
        await self._stop.wait()
        self.drain.begin()
        clock = self.clock
        state = self.server.server_state
        open_at_signal = set(state.connections)
        event(log, "http.draining", inFlight=self.drain.in_flight, connections=len(open_at_signal))
        deadline = clock.monotonic() + self.cfg.drain_seconds
        while clock.monotonic() < deadline and not self.server.should_exit:
            if self.drain.idle() and not open_at_signal & state.connections:
                break
            await clock.sleep(_POLL_SECONDS)
        event(
            log,
            "http.drained",
            inFlight=self.drain.in_flight,
            connections=len(open_at_signal & state.connections),
        )
        self.server.should_exit = True
