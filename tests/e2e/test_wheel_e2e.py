"""The wheel built from this tree: what `pip install .` (the README Quick start's first
command) installs.

The module fixture copies the files the build reads (pyproject.toml, setup.py, README.md, the
package and the top-level `webui/`) into a temp directory and runs `pip wheel --no-deps` there,
so the checkout gets no build/ or egg-info. The tests open the zip: the dashboard templates,
the static files and the migrations are inside, where paths.py and the store look for them;
then they run `iep serve` from the unpacked wheel (its dependencies are the test
interpreter's) and load the dashboard and its assets from it.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import ServerProcess, free_port, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
WEBUI = ROOT / "webui"
PACKAGE = ROOT / "iep_appliance"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, tree / "iep_appliance", ignore=skip)
    shutil.copytree(WEBUI, tree / "webui", ignore=skip)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    [built] = out.glob("iep_appliance-*.whl")
    yield built


def files_under(directory: Path) -> set[str]:
    return {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_wheel_holds_every_webui_file_and_migration_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    webui = {f"iep_appliance/webui/{name}" for name in files_under(WEBUI)}
    assert any(name.endswith(".html") for name in webui)
    assert any(name.endswith(".js") for name in webui)
    assert webui <= names, sorted(webui - names)
    for backend in ("sqlite", "postgresql"):
        folder = "postgres" if backend == "postgresql" else backend
        schema = PACKAGE / "store" / folder / "schema"
        migrations = {f"iep_appliance/store/{folder}/schema/{n}" for n in files_under(schema)}
        assert migrations and migrations <= names, (backend, sorted(migrations - names))
    # Every package of the tree is in it (setup.py finds them; webui/ is mapped in beside), and
    # no directory of modules lacks its __init__.py (find_packages skips those: the wheel had no
    # store/postgres, and `iep serve` on PostgreSQL failed from it).
    assert not [
        d
        for d in PACKAGE.rglob("*")
        if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()
    ]
    packages = {
        f"iep_appliance/{p.parent.relative_to(PACKAGE).as_posix()}/__init__.py".replace("/./", "/")
        for p in PACKAGE.rglob("__init__.py")
    }
    assert packages <= names, sorted(packages - names)
    assert not [name for name in names if name.startswith(("webui/", "tests/"))]


def test_iep_serve_from_the_unpacked_wheel_serves_the_dashboard_and_its_assets(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "IEP_WEBUI_DIR": ""}
    where = subprocess.run(
        [sys.executable, "-c", "from iep_appliance import paths; print(paths.templates_dir())"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert Path(where.stdout.strip()) == site / "iep_appliance" / "webui" / "templates"

    port = free_port()
    server = ServerProcess(
        write_config(tmp_path, port), port, tmp_path / "logs", env=env, cwd=tmp_path
    )
    server.start()
    try:
        server.wait_ready(timeout=60)
        with httpx.Client(base_url=server.base_url, trust_env=False, timeout=30) as http:
            login = http.get("/admin/login")
            assert login.status_code == 200
            assert 'name="password"' in login.text
            css = http.get("/admin/static/admin.css")
            assert css.status_code == 200
            assert css.content == (WEBUI / "static" / "admin.css").read_bytes()
            assert http.get("/favicon.ico").status_code == 200
    finally:
        code = server.stop()
    assert code == 0, server.stderr_text()[-3000:]
