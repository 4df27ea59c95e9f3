"""A funnel's revision kept in slots: each commit bumps one slot, a read sums them, so
commits that write the same funnel no longer wait on one row's lock (and on each other's
WAL flush) in turn.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funnel_revision_slots",
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_funnel_revision_slots_funnel_id_funnels"),
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.PrimaryKeyConstraint("funnel_id", "slot", name=op.f("pk_funnel_revision_slots")),
    )
    # The sums carry on from the revisions: a process's cached answer keyed by an old
    # revision is never matched by a different state.
    op.execute(
        "INSERT INTO funnel_revision_slots (funnel_id, slot, revision) "
        "SELECT funnel_id, 0, revision FROM funnel_revisions"
    )
    op.drop_table("funnel_revisions")


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO funnel_revisions (funnel_id, revision) "
        "SELECT funnel_id, SUM(revision) FROM funnel_revision_slots GROUP BY funnel_id"
    )
    op.drop_table("funnel_revision_slots")
