"""A revision per funnel, bumped by every commit that writes its stages, leads or deals.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funnel_revisions",
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_funnel_revisions_funnel_id_funnels"),
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("funnel_id", name=op.f("pk_funnel_revisions")),
    )


def downgrade() -> None:
    op.drop_table("funnel_revisions")
