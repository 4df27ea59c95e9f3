"""Messaging revision 2: chats, early statuses, the account's transport and key fingerprint,
the send's attempt time and unknown outcome, the contact's telegram chat id.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column("telegram_chat_id", sa.String(64), server_default="", nullable=False)
        )
    with op.batch_alter_table("messaging_accounts") as batch:
        batch.add_column(sa.Column("transport", sa.String(32), server_default="", nullable=False))
        batch.add_column(
            sa.Column("api_key_fingerprint", sa.String(64), server_default="", nullable=False)
        )
        batch.create_index(
            op.f("ix_messaging_accounts_company_id_api_key_fingerprint"),
            ["company_id", "api_key_fingerprint"],
        )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("send_attempted_at", TIMESTAMP, nullable=True))
        batch.add_column(
            sa.Column("outcome_unknown", sa.Boolean(), server_default="0", nullable=False)
        )
    op.create_table(
        "chats",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.String(255), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["messaging_accounts.id"],
            name=op.f("fk_chats_account_id_messaging_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_chats_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_chats_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("account_id", "chat_id", name=op.f("pk_chats")),
    )
    op.create_index(op.f("ix_chats_company_id_contact_id"), "chats", ["company_id", "contact_id"])
    op.create_table(
        "early_statuses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=True),
        sa.Column("provider_message_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("reported_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["messaging_accounts.id"],
            name=op.f("fk_early_statuses_account_id_messaging_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_early_statuses_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_statuses")),
    )
    op.create_index(
        op.f("ix_early_statuses_account_id_provider_message_id"),
        "early_statuses",
        ["account_id", "provider_message_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_early_statuses_account_id_provider_message_id"), table_name="early_statuses"
    )
    op.drop_table("early_statuses")
    op.drop_index(op.f("ix_chats_company_id_contact_id"), table_name="chats")
    op.drop_table("chats")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("outcome_unknown")
        batch.drop_column("send_attempted_at")
    with op.batch_alter_table("messaging_accounts") as batch:
        batch.drop_index(op.f("ix_messaging_accounts_company_id_api_key_fingerprint"))
        batch.drop_column("api_key_fingerprint")
        batch.drop_column("transport")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("telegram_chat_id")
