"""IEP appliance: a self-hosted multi-tenant email platform in one process."""

__version__ = "0.1.0"
