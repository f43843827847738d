"""dial_decisions: every dial and no-dial of the campaigns, with compliance's reasons

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dial_decisions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.String(length=64), nullable=False),
    sa.Column('contact_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('next_allowed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agent_reserved', sa.Boolean(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dial_decisions')),
    sa.UniqueConstraint('contact_id', 'decided_at', name='uq_dial_decisions_contact_decided')
    )
    with op.batch_alter_table('dial_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_dial_decisions_campaign_decided', ['campaign_id', 'decided_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dial_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_dial_decisions_campaign_decided')

    op.drop_table('dial_decisions')
