"""Amazon SES as moto's server mode on 127.0.0.1 (a free port), in a thread of the test process.

It keeps what was sent, readable back over moto's own API (`/moto-api/data.json`), and refuses
senders that are not verified identities, as SES does.

    with MotoSes() as ses:
        ses.verify("sender@example.com")
        ... send through SesProvider(endpoint_url=ses.url) ...
        assert ses.sent()[0]["raw_data"].startswith("From:")
"""

import socket
from typing import Any

import boto3
import httpx
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoSes:
    def __init__(self) -> None:
        self.port = _free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "MotoSes":
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def client(self) -> Any:
        return boto3.client(
            "sesv2",
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def verify(self, identity: str) -> None:
        self.client().create_email_identity(EmailIdentity=identity)

    def sent(self) -> list[dict[str, Any]]:
        """Raw messages SES accepted: {"id", "source", "destinations", "raw_data"}."""
        data = httpx.get(self.url + "/moto-api/data.json", timeout=10).json()
        return list(data.get("ses", {}).get("RawMessage", []))
