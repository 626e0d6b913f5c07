"""The operator dashboard under /admin: HTMX + Jinja2 pages over services/ (routes.py)."""
