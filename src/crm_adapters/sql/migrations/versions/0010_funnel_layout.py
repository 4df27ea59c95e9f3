"""A funnel's layout number: one more on every commit that changes the funnel or its stages,
so that a process may keep a funnel as it last read it and check it by one column. On
PostgreSQL, `crm_funnel_layout` takes the funnel's shared advisory lock and then reads the
number, in one round trip: a VOLATILE function runs each of its statements under a snapshot
of its own, so the number is read after the lock (one statement doing both would read it
under a snapshot taken before any wait for the lock).

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

LOCKED_LAYOUT = """
CREATE FUNCTION crm_funnel_layout(wanted uuid, tenant uuid, lock_key bigint)
RETURNS integer LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock_shared(lock_key);
    SELECT layout FROM funnels WHERE id = wanted AND company_id = tenant;
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("funnels") as funnels:
        funnels.add_column(sa.Column("layout", sa.Integer(), nullable=False, server_default="1"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LOCKED_LAYOUT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION crm_funnel_layout(uuid, uuid, bigint)")
    with op.batch_alter_table("funnels") as funnels:
        funnels.drop_column("layout")
