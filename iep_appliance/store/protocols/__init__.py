"""The Store's verbs, one Protocol per aggregate; `store/base.py` `Store` inherits them."""
