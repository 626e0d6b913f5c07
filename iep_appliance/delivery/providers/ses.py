"""The `ses` provider: Amazon SES v2 `SendEmail` with the raw MIME, SigV4-signed by botocore.

POST {endpoint}/v2/email/outbound-emails with `Content.Raw.Data` (base64 of the message as
IEP built and DKIM-signed it), the envelope recipients as the destination, the From header's
address as `FromEmailAddress` (SES sets the Return-Path itself), the configuration set when one
is named, and the IEP message id as the `iep_message_id` tag, so SES events (via SNS) name it.
The answer's `MessageId` is the provider message id. `probe()` is `GetAccount`
(`ListEmailIdentities` where the endpoint lacks it).
"""

import base64
import email.parser
import email.policy
import email.utils
from typing import Any

import httpx
import msgspec
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from iep_appliance.config_providers import SesProviderConfig
from iep_appliance.delivery.providers.base import Envelope
from iep_appliance.delivery.providers.http_base import HttpProvider

MESSAGE_TAG = "iep_message_id"


def from_address(mime: bytes) -> str:
    """The address of the From header (SES's `FromEmailAddress`); ValueError when none."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)
    _name, address = email.utils.parseaddr(str(headers.get("From", "")))
    if not address or "@" not in address:
        raise ValueError("the message has no From address")
    return address


class SesProvider(HttpProvider):
    kind = "ses"

    def __init__(
        self, name: str, cfg: SesProviderConfig, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(name, cfg, client)
        self.base = (cfg.endpoint_url or f"https://email.{cfg.region}.amazonaws.com").rstrip("/")
        self._signer = SigV4Auth(
            Credentials(cfg.access_key_id, cfg.secret_access_key), "ses", cfg.region
        )

    def _signed(self, method: str, path: str, body: bytes = b"") -> httpx.Request:
        url = self.base + path
        headers = {"Content-Type": "application/json"} if body else {}
        aws = AWSRequest(method=method, url=url, data=body, headers=headers)
        self._signer.add_auth(aws)  # SigV4: X-Amz-Date, Authorization (and the body's hash)
        return httpx.Request(method, url, content=body, headers=dict(aws.headers.items()))

    def request(self, envelope: Envelope, mime: bytes) -> httpx.Request:
        body: dict[str, Any] = {
            "FromEmailAddress": from_address(mime),
            "Destination": {"ToAddresses": list(envelope.rcpt_to)},
            "Content": {"Raw": {"Data": base64.b64encode(mime).decode("ascii")}},
            "EmailTags": [{"Name": MESSAGE_TAG, "Value": envelope.message_id}],
        }
        if self.cfg.configuration_set:
            body["ConfigurationSetName"] = self.cfg.configuration_set
        return self._signed("POST", "/v2/email/outbound-emails", msgspec.json.encode(body))

    def message_id(self, response: httpx.Response, body: Any) -> str | None:
        found = body.get("MessageId") if isinstance(body, dict) else None
        if isinstance(found, str):
            return found[:200]
        return None

    def probe_requests(self) -> list[httpx.Request]:
        # GetAccount; ListEmailIdentities where an endpoint lacks it (moto)
        return [
            self._signed("GET", "/v2/email/account"),
            self._signed("POST", "/v2/email/list-identities", b"{}"),  # as botocore 1.44 sends it
            self._signed("GET", "/v2/email/identities"),
        ]


def build(name: str, cfg: SesProviderConfig, parts: Any = None) -> SesProvider:
    return SesProvider(name, cfg, getattr(parts, "http_client", None))
