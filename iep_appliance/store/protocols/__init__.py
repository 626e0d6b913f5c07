"""The Store's verbs, one Protocol per aggregate (store/base.py's `Store` inherits them)."""
