"""Alembic migrations of the store; applied at start-up by Store.migrate()."""
