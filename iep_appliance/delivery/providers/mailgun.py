"""The `mailgun` provider: Mailgun's messages API, MIME endpoint, US or EU region.

POST {endpoint}/v3/{domain}/messages.mime as multipart/form-data: one `to` per envelope
recipient, `message` = the MIME as IEP built and signed it, `v:iep_message_id` = the IEP
message id (it comes back in events as a user variable). HTTP Basic `api:<key>`. The answer's
`id` is the provider message id. `probe()` is `GET /v3/domains/{domain}`.
"""

from typing import Any

import httpx

from iep_appliance.config_providers import MailgunProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.http_base import HttpProvider

MESSAGE_VARIABLE = "iep_message_id"
REGION_BASE = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}


class MailgunProvider(HttpProvider):
    kind = "mailgun"

    def __init__(
        self, name: str, cfg: MailgunProviderConfig, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(name, cfg, client)
        self.base = (cfg.endpoint_url or REGION_BASE[cfg.region]).rstrip("/")
        self._auth = httpx.BasicAuth("api", cfg.api_key)

    def request(self, envelope: Envelope, mime: bytes) -> httpx.Request:
        data = {"to": list(envelope.rcpt_to), f"v:{MESSAGE_VARIABLE}": envelope.message_id}
        files = {"message": ("message.mime", mime, "message/rfc822")}
        req = httpx.Request(
            "POST", f"{self.base}/v3/{self.cfg.domain}/messages.mime", data=data, files=files
        )
        return next(self._auth.auth_flow(req))

    def message_id(self, response: httpx.Response, body: Any) -> str | None:
        found = body.get("id") if isinstance(body, dict) else None
        if isinstance(found, str):
            return found.strip("<>")[:200]
        return None

    def probe_requests(self) -> list[httpx.Request]:
        req = httpx.Request("GET", f"{self.base}/v3/domains/{self.cfg.domain}")
        return [next(self._auth.auth_flow(req))]


def build(name: str, cfg: MailgunProviderConfig, parts: Any = None) -> MailgunProvider:
    return MailgunProvider(name, cfg, getattr(parts, "http_client", None))
