"""A funnel's layout number: one more on every commit that changes the funnel or its stages,
so that a process may keep a funnel as it last read it and check it by one column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("funnels") as funnels:
        funnels.add_column(sa.Column("layout", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("funnels") as funnels:
        funnels.drop_column("layout")
