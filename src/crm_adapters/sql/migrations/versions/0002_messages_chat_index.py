"""An index for the contact of a chat: the latest message of an account's chat.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_messages_account_id_chat_id_timestamp"),
        "messages",
        ["account_id", "chat_id", "timestamp"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_account_id_chat_id_timestamp"), table_name="messages")
