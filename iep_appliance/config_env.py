"""`IEP_SECTION__KEY` environment overrides of config keys (`IEP_SERVER__PORT=9000`).

`config.load` applies them on top of the file before validation, and `blame` tells an error
line which variable its value came from.
"""

import tomllib
from collections.abc import Mapping

from iep_appliance.domain.errors import ConfigError

ENV_PREFIX = "IEP_"
ENV_SEPARATOR = "__"


def apply_environ(data: dict, environ: Mapping[str, str]) -> dict[str, str]:
    """Set every key named by an `IEP_SECTION__KEY` variable (`IEP_SERVER__PORT=9000`,
    `IEP_PROVIDERS__RELAY__HOST=smtp.example.net`) in the parsed file `data`, in place.

    Only names with `__` count, so `IEP_RELAY_PASSWORD`-style secrets are never read as keys.
    A value is read as a TOML value when it is one (`9000`, `true`, `[60, 300]`), else as a
    string. Returns {dotted key: variable name}, so errors can say where a value came from.
    """
    sources: dict[str, str] = {}
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or ENV_SEPARATOR not in var:
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX) :].split(ENV_SEPARATOR)]
        if not all(parts):
            continue
        table = data
        for part in parts[:-1]:
            inner = table.setdefault(part, {})
            if not isinstance(inner, dict):
                raise ConfigError([f"{'.'.join(parts)}: {var} names a key inside a value"])
            table = inner
        table[parts[-1]] = _env_value(environ[var])
        sources[".".join(parts)] = var
    return sources


def _env_value(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def blame(line: str, sources: dict[str, str]) -> str:
    key = line.split(":", 1)[0]
    for dotted, var in sources.items():
        if key == dotted or key.startswith(dotted + "."):
            return f"{line} (from the environment variable {var})"
    return line
