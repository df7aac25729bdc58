"""Alembic migrations of the oih-cds store (packaged with the service)."""
