"""The tenant suite's in-process appliance (tests/integration/tenant/conftest.py)."""

from tests.integration.tenant.conftest import Appliance, TenantKey, appliance, message

__all__ = ["Appliance", "TenantKey", "appliance", "message"]
