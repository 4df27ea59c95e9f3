"""The initial schema: tenancy, funnels, contacts, leads, deals, history, activities, messaging.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _lead_deal_fk() -> sa.ForeignKeyConstraint:
    # leads.deal_id and deals.lead_id reference each other. SQLite accepts a reference to a
    # table that does not exist yet (and cannot add one later without rebuilding the table);
    # PostgreSQL gets the constraint once both tables exist.
    return sa.ForeignKeyConstraint(
        ["deal_id"],
        ["deals.id"],
        name=op.f("fk_leads_deal_id_deals"),
        ondelete="SET NULL",
        deferrable=True,
        initially="DEFERRED",
    )


def _sqlite_only(*items: sa.ForeignKeyConstraint) -> tuple[sa.ForeignKeyConstraint, ...]:
    return items if _is_sqlite() else ()


def upgrade() -> None:

    op.create_table(
        "companies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("default_region", sa.String(length=2), server_default="RU", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("name", name=op.f("uq_companies_name")),
    )
    op.create_table(
        "branches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_branches_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
    )
    op.create_index(
        op.f("ix_branches_company_id_created_at_id"),
        "branches",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_branches_company_id_name"), "branches", ["company_id", "name"], unique=False
    )
    op.create_table(
        "funnels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_funnels_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funnels")),
    )
    op.create_index(
        op.f("ix_funnels_company_id_created_at_id"),
        "funnels",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_funnels_company_id_name"), "funnels", ["company_id", "name"], unique=False
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_idempotency_keys_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("company_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), server_default="", nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("full_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_users_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(
        op.f("ix_users_company_id_created_at_id"),
        "users",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_tokens_user_id_users"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("branch_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=False),
        sa.Column("last_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("middle_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("phone_secondary", sa.String(length=16), nullable=True),
        sa.Column("whatsapp", sa.String(length=16), nullable=True),
        sa.Column("phone_digits", sa.String(length=64), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("instagram", sa.String(length=64), server_default="", nullable=False),
        sa.Column("telegram", sa.String(length=64), server_default="", nullable=False),
        sa.Column("company_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("position", sa.String(length=255), server_default="", nullable=False),
        sa.Column("address", sa.Text(), server_default="", nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=64), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("is_client", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["branches.id"],
            name=op.f("fk_contacts_branch_id_branches"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contacts_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_contacts_owner_id_users"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(
        op.f("ix_contacts_company_id_branch_id"),
        "contacts",
        ["company_id", "branch_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_created_at_id"),
        "contacts",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_email"), "contacts", ["company_id", "email"], unique=False
    )
    op.create_index(
        op.f("ix_contacts_company_id_first_name"),
        "contacts",
        ["company_id", "first_name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_last_name"),
        "contacts",
        ["company_id", "last_name"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_owner_id"),
        "contacts",
        ["company_id", "owner_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_phone"), "contacts", ["company_id", "phone"], unique=False
    )
    op.create_index(
        op.f("ix_contacts_company_id_phone_digits"),
        "contacts",
        ["company_id", "phone_digits"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_phone_secondary"),
        "contacts",
        ["company_id", "phone_secondary"],
        unique=False,
    )
    op.create_index(
        op.f("ix_contacts_company_id_whatsapp"),
        "contacts",
        ["company_id", "whatsapp"],
        unique=False,
    )
    op.create_table(
        "messaging_accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("api_key_encrypted", sa.Text(), nullable=False),
        sa.Column("api_key_hint", sa.String(length=16), nullable=False),
        sa.Column("webhook_secret", sa.String(length=128), nullable=False),
        sa.Column("api_url", sa.String(length=500), server_default="", nullable=False),
        sa.Column("instance_id", sa.String(length=255), server_default="", nullable=False),
        sa.Column("chat_type", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("is_connected", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("channel_state", sa.String(length=64), server_default="", nullable=False),
        sa.Column("last_sync", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("default_funnel_id", sa.Uuid(), nullable=True),
        sa.Column("auto_create_leads", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_messaging_accounts_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["default_funnel_id"],
            ["funnels.id"],
            name=op.f("fk_messaging_accounts_default_funnel_id_funnels"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_accounts")),
    )
    op.create_index(
        op.f("ix_messaging_accounts_company_id_chat_type"),
        "messaging_accounts",
        ["company_id", "chat_type"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messaging_accounts_company_id_created_at_id"),
        "messaging_accounts",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "stages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("color", sa.String(length=7), server_default="#3498db", nullable=False),
        sa.Column("is_final", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("is_success", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('"order" >= 0', name=op.f("ck_stages_order_not_negative")),
        sa.CheckConstraint("is_final OR NOT is_success", name=op.f("ck_stages_success_is_final")),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_stages_funnel_id_funnels"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stages")),
        sa.UniqueConstraint("funnel_id", "order", name=op.f("uq_stages_funnel_id_order")),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "estimated_value", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False
        ),
        sa.Column("probability", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source", sa.String(length=64), server_default="", nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("lost_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("stage_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "estimated_value >= 0", name=op.f("ck_leads_estimated_value_not_negative")
        ),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name=op.f("ck_leads_probability_range")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_leads_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_leads_contact_id_contacts"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        *_sqlite_only(_lead_deal_fk()),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_leads_funnel_id_funnels"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_leads_owner_id_users"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_leads_stage_id_stages"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    op.create_index(
        op.f("ix_leads_company_id_contact_id_status"),
        "leads",
        ["company_id", "contact_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_created_at_id"),
        "leads",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_estimated_value"),
        "leads",
        ["company_id", "estimated_value"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_funnel_id_created_at_id"),
        "leads",
        ["company_id", "funnel_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_funnel_id_stage_id"),
        "leads",
        ["company_id", "funnel_id", "stage_id"],
        unique=False,
        postgresql_include=["status", "estimated_value", "owner_id", "created_at"],
    )
    op.create_index(
        op.f("ix_leads_company_id_owner_id_created_at"),
        "leads",
        ["company_id", "owner_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_stage_id_created_at_id"),
        "leads",
        ["company_id", "stage_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_status_created_at"),
        "leads",
        ["company_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_leads_company_id_title"), "leads", ["company_id", "title"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["messaging_accounts.id"],
            name=op.f("fk_webhook_deliveries_account_id_messaging_accounts"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_account_id_processed_at_received_at"),
        "webhook_deliveries",
        ["account_id", "processed_at", "received_at"],
        unique=False,
    )
    op.create_table(
        "deals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("funnel_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False),
        sa.Column("probability", sa.Integer(), server_default="0", nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("is_won", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("is_lost", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("lost_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("stage_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(closed_at IS NOT NULL) = (is_won OR is_lost)",
            name=op.f("ck_deals_closed_when_settled"),
        ),
        sa.CheckConstraint("NOT (is_won AND is_lost)", name=op.f("ck_deals_not_won_and_lost")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_deals_amount_not_negative")),
        sa.CheckConstraint(
            "probability BETWEEN 0 AND 100", name=op.f("ck_deals_probability_range")
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_deals_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_deals_contact_id_contacts"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["funnel_id"],
            ["funnels.id"],
            name=op.f("fk_deals_funnel_id_funnels"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_deals_lead_id_leads"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_deals_owner_id_users"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_deals_stage_id_stages"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_deals_lead_id")),
    )
    op.create_index(
        op.f("ix_deals_company_id_amount"), "deals", ["company_id", "amount"], unique=False
    )
    op.create_index(
        op.f("ix_deals_company_id_contact_id"), "deals", ["company_id", "contact_id"], unique=False
    )
    op.create_index(
        op.f("ix_deals_company_id_created_at_id"),
        "deals",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_expected_close_date"),
        "deals",
        ["company_id", "expected_close_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_funnel_id_created_at_id"),
        "deals",
        ["company_id", "funnel_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_funnel_id_stage_id"),
        "deals",
        ["company_id", "funnel_id", "stage_id"],
        unique=False,
        postgresql_include=[
            "amount",
            "probability",
            "is_won",
            "is_lost",
            "owner_id",
            "created_at",
            "closed_at",
        ],
    )
    op.create_index(
        op.f("ix_deals_company_id_is_won_is_lost"),
        "deals",
        ["company_id", "is_won", "is_lost"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_owner_id_created_at"),
        "deals",
        ["company_id", "owner_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_stage_id_created_at_id"),
        "deals",
        ["company_id", "stage_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deals_company_id_title"), "deals", ["company_id", "title"], unique=False
    )
    if not _is_sqlite():
        op.create_foreign_key(
            op.f("fk_leads_deal_id_deals"),
            "leads",
            "deals",
            ["deal_id"],
            ["id"],
            ondelete="SET NULL",
            deferrable=True,
            initially="DEFERRED",
        )
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("chat_type", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("is_incoming", sa.Boolean(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_type", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("media_url", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("caption", sa.Text(), server_default="", nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("from_number", sa.String(length=255), server_default="", nullable=False),
        sa.Column("to_number", sa.String(length=255), server_default="", nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("is_read", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("error", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("author_name", sa.String(length=255), server_default="", nullable=False),
        sa.Column("is_edited", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("is_deleted", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["messaging_accounts.id"],
            name=op.f("fk_messages_account_id_messaging_accounts"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_messages_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_messages_contact_id_contacts"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_messages_lead_id_leads"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "account_id",
            "provider_message_id",
            name=op.f("uq_messages_account_id_provider_message_id"),
        ),
    )
    op.create_index(
        op.f("ix_messages_company_id_account_id_timestamp"),
        "messages",
        ["company_id", "account_id", "timestamp"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messages_company_id_chat_id"), "messages", ["company_id", "chat_id"], unique=False
    )
    op.create_index(
        op.f("ix_messages_company_id_contact_id_timestamp"),
        "messages",
        ["company_id", "contact_id", "timestamp"],
        unique=False,
    )
    op.create_index(
        op.f("ix_messages_company_id_lead_id"), "messages", ["company_id", "lead_id"], unique=False
    )
    op.create_index(
        op.f("ix_messages_company_id_status"), "messages", ["company_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_messages_company_id_timestamp_id"),
        "messages",
        ["company_id", "timestamp", "id"],
        unique=False,
    )
    op.create_table(
        "activities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("activity_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("is_done", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_activities_company_id_companies"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_activities_contact_id_contacts"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_activities_deal_id_deals"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_activities_lead_id_leads"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activities_user_id_users"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    op.create_index(
        op.f("ix_activities_company_id_activity_date_id"),
        "activities",
        ["company_id", "activity_date", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_activity_type"),
        "activities",
        ["company_id", "activity_type"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_contact_id_activity_date"),
        "activities",
        ["company_id", "contact_id", "activity_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_created_at_id"),
        "activities",
        ["company_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_deal_id"),
        "activities",
        ["company_id", "deal_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_lead_id"),
        "activities",
        ["company_id", "lead_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_activities_company_id_user_id"),
        "activities",
        ["company_id", "user_id"],
        unique=False,
    )
    op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("deal_id", sa.Uuid(), nullable=True),
        sa.Column("from_stage_id", sa.Uuid(), nullable=True),
        sa.Column("to_stage_id", sa.Uuid(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "(subject = 'lead' AND lead_id IS NOT NULL AND deal_id IS NULL)"
            " OR (subject = 'deal' AND deal_id IS NOT NULL AND lead_id IS NULL)",
            name=op.f("ck_stage_transitions_one_subject"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_stage_transitions_actor_id_users"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["deals.id"],
            name=op.f("fk_stage_transitions_deal_id_deals"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["from_stage_id"],
            ["stages.id"],
            name=op.f("fk_stage_transitions_from_stage_id_stages"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_stage_transitions_lead_id_leads"),
            ondelete="CASCADE",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.ForeignKeyConstraint(
            ["to_stage_id"],
            ["stages.id"],
            name=op.f("fk_stage_transitions_to_stage_id_stages"),
            ondelete="SET NULL",
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_transitions")),
    )
    op.create_index(
        op.f("ix_stage_transitions_deal_id_seq"),
        "stage_transitions",
        ["deal_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stage_transitions_from_stage_id"),
        "stage_transitions",
        ["from_stage_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stage_transitions_lead_id_seq"),
        "stage_transitions",
        ["lead_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stage_transitions_to_stage_id_lead_id_deal_id_entered_at_left_at"),
        "stage_transitions",
        ["to_stage_id", "lead_id", "deal_id", "entered_at", "left_at"],
        unique=False,
    )


def downgrade() -> None:
    if not _is_sqlite():
        op.drop_constraint(op.f("fk_leads_deal_id_deals"), "leads", type_="foreignkey")

    op.drop_index(
        op.f("ix_stage_transitions_to_stage_id_lead_id_deal_id_entered_at_left_at"),
        table_name="stage_transitions",
    )
    op.drop_index(op.f("ix_stage_transitions_lead_id_seq"), table_name="stage_transitions")
    op.drop_index(op.f("ix_stage_transitions_from_stage_id"), table_name="stage_transitions")
    op.drop_index(op.f("ix_stage_transitions_deal_id_seq"), table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_index(op.f("ix_activities_company_id_user_id"), table_name="activities")
    op.drop_index(op.f("ix_activities_company_id_lead_id"), table_name="activities")
    op.drop_index(op.f("ix_activities_company_id_deal_id"), table_name="activities")
    op.drop_index(op.f("ix_activities_company_id_created_at_id"), table_name="activities")
    op.drop_index(
        op.f("ix_activities_company_id_contact_id_activity_date"), table_name="activities"
    )
    op.drop_index(op.f("ix_activities_company_id_activity_type"), table_name="activities")
    op.drop_index(op.f("ix_activities_company_id_activity_date_id"), table_name="activities")
    op.drop_table("activities")
    op.drop_index(op.f("ix_messages_company_id_timestamp_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_company_id_status"), table_name="messages")
    op.drop_index(op.f("ix_messages_company_id_lead_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_company_id_contact_id_timestamp"), table_name="messages")
    op.drop_index(op.f("ix_messages_company_id_chat_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_company_id_account_id_timestamp"), table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_deals_company_id_title"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_stage_id_created_at_id"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_owner_id_created_at"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_is_won_is_lost"), table_name="deals")
    op.drop_index(
        op.f("ix_deals_company_id_funnel_id_stage_id"),
        table_name="deals",
        postgresql_include=[
            "amount",
            "probability",
            "is_won",
            "is_lost",
            "owner_id",
            "created_at",
            "closed_at",
        ],
    )
    op.drop_index(op.f("ix_deals_company_id_funnel_id_created_at_id"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_expected_close_date"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_created_at_id"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_contact_id"), table_name="deals")
    op.drop_index(op.f("ix_deals_company_id_amount"), table_name="deals")
    op.drop_table("deals")
    op.drop_index(
        op.f("ix_webhook_deliveries_account_id_processed_at_received_at"),
        table_name="webhook_deliveries",
    )
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_leads_company_id_title"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_status_created_at"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_stage_id_created_at_id"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_owner_id_created_at"), table_name="leads")
    op.drop_index(
        op.f("ix_leads_company_id_funnel_id_stage_id"),
        table_name="leads",
        postgresql_include=["status", "estimated_value", "owner_id", "created_at"],
    )
    op.drop_index(op.f("ix_leads_company_id_funnel_id_created_at_id"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_estimated_value"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_created_at_id"), table_name="leads")
    op.drop_index(op.f("ix_leads_company_id_contact_id_status"), table_name="leads")
    op.drop_table("leads")
    op.drop_table("stages")
    op.drop_index(
        op.f("ix_messaging_accounts_company_id_created_at_id"), table_name="messaging_accounts"
    )
    op.drop_index(
        op.f("ix_messaging_accounts_company_id_chat_type"), table_name="messaging_accounts"
    )
    op.drop_table("messaging_accounts")
    op.drop_index(op.f("ix_contacts_company_id_whatsapp"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_phone_secondary"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_phone_digits"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_phone"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_owner_id"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_last_name"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_first_name"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_email"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_created_at_id"), table_name="contacts")
    op.drop_index(op.f("ix_contacts_company_id_branch_id"), table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_users_company_id_created_at_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_funnels_company_id_name"), table_name="funnels")
    op.drop_index(op.f("ix_funnels_company_id_created_at_id"), table_name="funnels")
    op.drop_table("funnels")
    op.drop_index(op.f("ix_branches_company_id_name"), table_name="branches")
    op.drop_index(op.f("ix_branches_company_id_created_at_id"), table_name="branches")
    op.drop_table("branches")
    op.drop_table("companies")
