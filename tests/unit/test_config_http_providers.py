"""`[providers.NAME]` tables of type ses / sendgrid / mailgun: parsed into their
tagged structs, secrets read from the environment, every bad key named."""

from pathlib import Path

import pytest

from iep_appliance.config import parse
from iep_appliance.config_http_providers import MailgunProviderConfig, SesProviderConfig
from iep_appliance.domain.errors import ConfigError

ENV = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "MAILGUN_API_KEY": "k"}


def test_tables_become_their_structs_with_secrets_resolved() -> None:
    cfg = parse(
        {"providers": {"outbox": {"type": "outbox"},
                       "ses": {"type": "ses", "region": "eu-west-1", "configuration_set": "c"},
                       "mg": {"type": "mailgun", "domain": "mg.example.com", "region": "eu"}}},
        Path("."),
        ENV,
    )  # fmt: skip
    ses, mg = cfg.providers["ses"], cfg.providers["mg"]
    assert isinstance(ses, SesProviderConfig) and ses.access_key_id == "AKID"
    assert ses.region == "eu-west-1" and ses.configuration_set == "c"
    assert isinstance(mg, MailgunProviderConfig) and mg.api_key == "k" and mg.region == "eu"
    assert mg.webhook_signing_key == ""  # optional: events refused without it


@pytest.mark.parametrize(
    ("table", "env", "problem"),
    [
        ({"type": "ses", "colour": 1}, ENV, "providers.p.colour: unknown key"),
        ({"type": "ses"}, {}, "providers.p.access_key_id_env: environment variable"),
        ({"type": "ses", "access_key_id": "x"}, ENV, "providers.p.access_key_id: secrets come"),
        ({"type": "ses", "sns_cert_url_pattern": "("}, ENV, "sns_cert_url_pattern: not a regex"),
        ({"type": "mailgun", "region": "mars"}, ENV, "providers.p.region"),
        ({"type": "mailgun"}, ENV, "providers.p.domain: required"),
        ({"type": "sendgrid", "endpoint_url": "ftp://x"}, {"SENDGRID_API_KEY": "k"},
         "providers.p.endpoint_url: expected an http(s) URL"),
        ({"type": "sendgrid", "timeout_seconds": 0}, {"SENDGRID_API_KEY": "k"},
         "providers.p.timeout_seconds"),
    ],
)  # fmt: skip
def test_bad_tables_name_the_key(table: dict, env: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"providers": {"outbox": {"type": "outbox"}, "p": table}}, Path("."), env)
    assert any(problem in line for line in info.value.problems), info.value.problems
