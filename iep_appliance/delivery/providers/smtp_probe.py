"""`POST /v1/providers/{id}/test` for an `smtp` provider: connect (and TLS), EHLO, AUTH, QUIT —
no MAIL, nothing sent — and which step failed."""

import ssl

import aiosmtplib
from aiosmtplib import SMTPAuthenticationError, SMTPException, SMTPResponseException

from iep_appliance.config_providers import SmtpProviderConfig
from iep_appliance.delivery.providers.http_base import ProbeResult
from iep_appliance.delivery.providers.smtp import SmtpProvider


def _text(exc: BaseException) -> str:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


async def probe_smtp(cfg: SmtpProviderConfig, local_hostname: str = "iep.local") -> ProbeResult:
    client = aiosmtplib.SMTP(
        hostname=cfg.host,
        port=cfg.port,
        timeout=cfg.timeout_seconds,
        use_tls=cfg.security == "tls",
        start_tls=False,
        validate_certs=True,
        tls_context=ssl.create_default_context() if cfg.security != "none" else None,
        local_hostname=local_hostname,
    )
    try:
        await client.connect()
    except (SMTPException, OSError, TimeoutError) as exc:
        return ProbeResult(False, "connect", _text(exc))
    try:
        try:
            await client.ehlo()
        except (SMTPException, OSError, TimeoutError) as exc:
            return ProbeResult(False, "ehlo", _text(exc))
        if cfg.security == "starttls":
            try:
                await client.starttls()
            except (SMTPException, OSError, TimeoutError) as exc:
                return ProbeResult(False, "starttls", _text(exc))
        if cfg.username:
            try:
                await client.login(cfg.username, cfg.password)
            except SMTPAuthenticationError as exc:
                return ProbeResult(False, "auth", _text(exc))
            except (SMTPException, OSError, TimeoutError) as exc:
                return ProbeResult(False, "auth", _text(exc))
        return ProbeResult(True)
    finally:
        try:
            await client.quit()
        except (SMTPException, OSError, TimeoutError):
            client.close()


class ProbedSmtpProvider(SmtpProvider):
    """An `smtp` provider that can also be tested (a tenant's own relay)."""

    async def probe(self) -> ProbeResult:
        return await probe_smtp(self.cfg)
