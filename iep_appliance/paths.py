"""Where IEP's own files are: the only module that locates `webui/` (templates, static).

The web assets ship inside the package (`iep_appliance/webui/`), so one rule serves a
checkout, an installed wheel (package data) and a PyInstaller bundle (collected as data next
to the frozen package). `IEP_WEBUI_DIR` overrides it, for working on templates elsewhere.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def webui_dir() -> Path:
    override = os.environ.get("IEP_WEBUI_DIR")
    return Path(override) if override else PACKAGE_DIR / "webui"


def templates_dir() -> Path:
    return webui_dir() / "templates"


def static_dir() -> Path:
    return webui_dir() / "static"
