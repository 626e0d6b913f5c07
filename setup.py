"""What pyproject.toml cannot say: `webui/` stands at the top of the checkout (DESIGN §2) and
installs inside the package, as `iep_appliance/webui/` (where paths.py looks first).

Everything else about the project is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["iep_appliance*"]), "iep_appliance.webui"],
    package_dir={"iep_appliance.webui": "webui"},
    package_data={
        "iep_appliance": ["store/sqlite/schema/*.sql", "store/postgres/schema/*.sql"],
        "iep_appliance.webui": ["templates/admin/*.html", "static/*"],
    },
)
