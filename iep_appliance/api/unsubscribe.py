"""One-click unsubscribe (RFC 8058, DESIGN §10.3): `POST /u/{token}` suppresses the recipient
the signed token names for that tenant (idempotent: 200 again); `GET /u/{token}` is a small
confirm page whose button makes the same POST. No API key: the signed token is the
capability. A forged or altered token is 404 and changes nothing."""

from html import escape

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from iep_appliance.api.inject import Injected
from iep_appliance.domain import verp
from iep_appliance.domain.errors import NotFound
from iep_appliance.services.inbound import InboundService

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1rem}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _html(title: str, body: str, status: int = 200) -> Response[str]:
    return Response(
        _PAGE.format(title=escape(title), body=body),
        status_code=status,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
                 " form-action 'self'", "Cache-Control": "no-store"},
    )  # fmt: skip


@post("/u/{token:str}", status_code=200, include_in_schema=True, tags=["unsubscribe"],
      summary="One-click unsubscribe (RFC 8058 body: List-Unsubscribe=One-Click)")  # fmt: skip
async def unsubscribe(
    request: Request, inbound: Injected[InboundService], token: FromPath[str]
) -> Response[str]:
    if await inbound.unsubscribe(token, "one-click") is None:
        raise NotFound("Unsubscribe link not found")
    return _html("Unsubscribed", "<p>You will not receive these emails any more.</p>")


@get("/u/{token:str}", include_in_schema=True, tags=["unsubscribe"],
     summary="The unsubscribe confirm page (its button makes the one-click POST)")  # fmt: skip
async def confirm(inbound: Injected[InboundService], token: FromPath[str]) -> Response[str]:
    if verp.read_unsubscribe_token(inbound.unsubscribe_key, token) is None:
        return _html("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    form = (
        f'<form method="post" action="/u/{escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        "<p>Stop receiving these emails?</p><button type=submit>Unsubscribe</button></form>"
    )
    return _html("Unsubscribe", form)


HANDLERS = [unsubscribe, confirm]
