"""Alembic revisions. Alembic ignores this file; setuptools needs it to ship the revisions."""
