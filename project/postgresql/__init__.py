"""PostgreSQL backend: Django's, with a pool that drops all its dead connections at once (base.py)."""
