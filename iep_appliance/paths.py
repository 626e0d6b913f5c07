"""Where IEP's own files are: the only module that locates `webui/` (templates, static).

`webui/` stands at the top of the checkout (DESIGN §2); the wheel installs it as the package
data directory `iep_appliance/webui/` (setup.py maps it) and the PyInstaller bundle collects it
to the same place next to the frozen package (packaging/iep.spec). So it is found next to the
package when installed or frozen, else one level up: a checkout, or an editable install.
`IEP_WEBUI_DIR` overrides both, for working on templates elsewhere.
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def webui_dir() -> Path:
    override = os.environ.get("IEP_WEBUI_DIR")
    if override:
        return Path(override)
    installed = PACKAGE_DIR / "webui"
    return installed if installed.is_dir() else PACKAGE_DIR.parent / "webui"


def templates_dir() -> Path:
    return webui_dir() / "templates"


def static_dir() -> Path:
    return webui_dir() / "static"
