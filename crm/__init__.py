"""The CRM: SQLAlchemy models and Alembic migrations, repositories, customer tiers and RFM value,
call logging through an outbox, imports and exports."""
