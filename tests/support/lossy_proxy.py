"""A TCP proxy on 127.0.0.1 that can lose an HTTP answer: the request reaches the server, the
server answers, and the client's connection is closed without that answer — the network
failure after which a client cannot know whether its request was applied.

    with LossyProxy(server_port) as proxy:
        proxy.lose_answers(1)               # the next connection's answer is lost
        httpx.post(f"http://127.0.0.1:{proxy.port}/...")   # raises RemoteProtocolError

Other connections are piped both ways untouched. One thread per connection direction;
everything stops (sockets closed) in `stop()`.
"""

import contextlib
import socket
import threading


class LossyProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._to_lose = 0
        self.lost = 0  # answers lost so far
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="lossy-proxy", daemon=True)

    def start(self) -> "LossyProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "LossyProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def lose_answers(self, n: int = 1) -> None:
        """The next `n` connections deliver their request and lose the server's answer."""
        with self._lock:
            self._to_lose += n

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.create_connection(self.target, timeout=10)
            with self._lock:
                self._sockets += [client, upstream]
                lose = self._to_lose > 0
                self._to_lose -= int(lose)
            if lose:
                threading.Thread(target=self._lose, args=(client, upstream), daemon=True).start()
            else:
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def _lose(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            upstream.sendall(_read_request(client))
            answer = upstream.recv(65536)  # the server has answered: the request was applied
        finally:
            client.close()
            upstream.close()
        if answer:
            with self._lock:
                self.lost += 1


def _read_request(sock: socket.socket) -> bytes:
    """One HTTP/1.1 request with a Content-Length body, as bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
