"""The store interface, one Protocol per aggregate (STYLE §1.8: services see only these)."""
