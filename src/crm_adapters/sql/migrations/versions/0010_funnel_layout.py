"""A funnel's layout number, which the database adds one to on every change to the funnel's
row or to its stages, whoever makes it (triggers), so that a process may keep a funnel as it
last read it and check it by one column. On PostgreSQL, `crm_funnel_layout` takes the
funnel's shared advisory lock and then reads the number, in one round trip: a VOLATILE
function runs each of its statements under a snapshot of its own, so the number is read after
the lock (one statement doing both would read it under a snapshot taken before any wait for
the lock).

A later migration that rebuilds `funnels` or `stages` on SQLite (batch mode copies a table)
drops their triggers and must create them again.

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

POSTGRESQL = [
    # PL/pgSQL keeps its statements' plans for the session, where a SQL function plans them
    # on every call (about 0.08 ms of the server's CPU a call).
    """
    CREATE FUNCTION crm_funnel_layout(wanted uuid, tenant uuid, lock_key bigint)
    RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        found integer;
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(lock_key);
        SELECT layout INTO found FROM funnels WHERE id = wanted AND company_id = tenant;
        RETURN found;
    END
    $$
    """,
    # A statement that writes stages moves the funnels of its rows, as they were and as they
    # are (an operator's UPDATE may move a stage to another funnel), once each. An INSERT has
    # no rows as they were and a DELETE none as they are: each trigger names what it has.
    """
    CREATE FUNCTION crm_stages_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE funnels SET layout = layout + 1
            WHERE id IN (SELECT funnel_id FROM new_stages);
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE funnels SET layout = layout + 1
            WHERE id IN (SELECT funnel_id FROM old_stages);
        ELSE
            UPDATE funnels SET layout = layout + 1
            WHERE id IN (SELECT funnel_id FROM old_stages UNION SELECT funnel_id FROM new_stages);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    *(
        f"""
        CREATE TRIGGER stages_{event.lower()}_layout AFTER {event} ON stages
        REFERENCING {named} FOR EACH STATEMENT EXECUTE FUNCTION crm_stages_changed()
        """
        for event, named in (
            ("INSERT", "NEW TABLE AS new_stages"),
            ("UPDATE", "OLD TABLE AS old_stages NEW TABLE AS new_stages"),
            ("DELETE", "OLD TABLE AS old_stages"),
        )
    ),
    # An update of the funnel's own row that does not move the number itself moves it.
    """
    CREATE FUNCTION crm_funnel_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.layout := OLD.layout + 1;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER funnels_layout BEFORE UPDATE ON funnels
    FOR EACH ROW WHEN (OLD.layout = NEW.layout) EXECUTE FUNCTION crm_funnel_changed()
    """,
]

SQLITE = [
    """
    CREATE TRIGGER stages_insert_layout AFTER INSERT ON stages BEGIN
        UPDATE funnels SET layout = layout + 1 WHERE id = NEW.funnel_id;
    END
    """,
    """
    CREATE TRIGGER stages_update_layout AFTER UPDATE ON stages BEGIN
        UPDATE funnels SET layout = layout + 1 WHERE id IN (OLD.funnel_id, NEW.funnel_id);
    END
    """,
    """
    CREATE TRIGGER stages_delete_layout AFTER DELETE ON stages BEGIN
        UPDATE funnels SET layout = layout + 1 WHERE id = OLD.funnel_id;
    END
    """,
    # SQLite runs no trigger from within its own statement (recursive triggers are off).
    """
    CREATE TRIGGER funnels_layout AFTER UPDATE ON funnels WHEN OLD.layout = NEW.layout BEGIN
        UPDATE funnels SET layout = layout + 1 WHERE id = NEW.id;
    END
    """,
]

TRIGGERS = {  # by the table each is on
    "stages_insert_layout": "stages",
    "stages_update_layout": "stages",
    "stages_delete_layout": "stages",
    "funnels_layout": "funnels",
}


def upgrade() -> None:
    with op.batch_alter_table("funnels") as funnels:
        funnels.add_column(sa.Column("layout", sa.Integer(), nullable=False, server_default="1"))
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for trigger, table in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {trigger}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        for function in (
            "crm_funnel_changed()",
            "crm_stages_changed()",
            "crm_funnel_layout(uuid, uuid, bigint)",
        ):
            op.execute(f"DROP FUNCTION {function}")
    with op.batch_alter_table("funnels") as funnels:
        funnels.drop_column("layout")
