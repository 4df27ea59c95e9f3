"""Failed sign-ins, which the login throttle counts in every worker process and host.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_logins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_logins")),
    )
    op.create_index(
        op.f("ix_failed_logins_email_attempted_at"),
        "failed_logins",
        ["email", "attempted_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_failed_logins_address_attempted_at"),
        "failed_logins",
        ["address", "attempted_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_failed_logins_attempted_at"), "failed_logins", ["attempted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_failed_logins_attempted_at"), table_name="failed_logins")
    op.drop_index(op.f("ix_failed_logins_address_attempted_at"), table_name="failed_logins")
    op.drop_index(op.f("ix_failed_logins_email_attempted_at"), table_name="failed_logins")
    op.drop_table("failed_logins")
