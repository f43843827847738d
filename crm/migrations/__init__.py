"""Alembic migrations of the CRM (a package so that installs ship them)."""
