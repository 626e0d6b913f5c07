"""The bare-endpoint reference: Litestar + msgspec POST /v1/messages that stores nothing.

It decodes the DESIGN §4 send body into IEP's own `SendRequest` Struct and answers 202 with a
fresh id, on uvicorn with uvloop and httptools and no access log: the ceiling IEP's real endpoint is
judged against. Run: `python bench/bare_app.py --port 8099`.
"""

import argparse
import uuid

import msgspec
import uvicorn
from litestar import Litestar, post

from iep_appliance.domain.models import SendRequest


class Accepted(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    status: str
    suppressed_recipients: list[str]


@post("/v1/messages", status_code=202)
async def send_message(data: SendRequest) -> Accepted:
    return Accepted(message_id=f"msg_{uuid.uuid4().hex}", status="queued", suppressed_recipients=[])


app = Litestar(route_handlers=[send_message], openapi_config=None, debug=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--reuseport",
        action="store_true",
        help="listen with SO_REUSEPORT, as each `iep serve --workers N` worker does: start N",
    )
    args = parser.parse_args()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    if not args.reuseport:
        uvicorn.Server(config).run()
        return
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
