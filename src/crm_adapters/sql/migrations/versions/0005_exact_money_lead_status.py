"""Exact money on SQLite (whole kopecks), and leads' status made to agree with their stage.

On SQLite, money columns held binary floats; they now hold whole kopecks (PostgreSQL keeps
NUMERIC, unchanged). An open lead that stands in a final non-success stage is lost as of the
moment it entered it (contract revision 2); an open lead in a success stage is left for a
person to convert.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONEY = (("leads", "estimated_value"), ("deals", "amount"))

LOSE_LEADS_IN_FAILURE_STAGES = """
UPDATE leads SET status = 'lost', closed_at = stage_changed_at
WHERE status = 'open' AND stage_id IN (
    SELECT id FROM stages WHERE is_final AND NOT is_success
)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, column in MONEY:
            op.execute(f"UPDATE {table} SET {column} = CAST(ROUND({column} * 100) AS INTEGER)")
    op.execute(LOSE_LEADS_IN_FAILURE_STAGES)


def downgrade() -> None:
    # Leads lost by the upgrade stay lost: nothing tells them apart from the others.
    if op.get_bind().dialect.name == "sqlite":
        for table, column in MONEY:
            op.execute(f"UPDATE {table} SET {column} = {column} / 100.0")
