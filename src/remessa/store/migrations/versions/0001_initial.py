"""The first schema: batches, messages (one per input row) and receipt events.

Revision ID: 0001
Revises:
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOT_NULL_TEXT: dict[str, Any] = {"nullable": False, "server_default": ""}


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("subaccount", sa.String(100), **NOT_NULL_TEXT),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("in_flight", sa.String(16), nullable=False, server_default="retry"),
        sa.Column("format", sa.String(16), **NOT_NULL_TEXT),
        sa.Column("encoding", sa.String(16), **NOT_NULL_TEXT),
        sa.Column("kind", sa.String(16), nullable=False, server_default="sms"),
        sa.Column("info", sa.Text, nullable=False, server_default="{}"),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error_code", sa.String(64), **NOT_NULL_TEXT),
        sa.Column("error", sa.Text, **NOT_NULL_TEXT),
        sa.Column("rows", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_line", sa.Integer, nullable=False, server_default="0"),
        sa.Column("final_name", sa.String(255), **NOT_NULL_TEXT),
        sa.Column("outcome", sa.String(8), **NOT_NULL_TEXT),
        sa.Column("zone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("window", sa.Text, nullable=False, server_default="{}"),
        sa.Column("not_before", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.Column("paused", sa.Integer, nullable=False, server_default="0"),
        sa.Column("eta", sa.Float),
        sa.Column("expected_expired", sa.Integer, nullable=False, server_default="0"),
        sa.Column("received_at", sa.Float, nullable=False),
        *(sa.Column(name, sa.Float) for name in (
            "first_submit_at", "last_submit_at", "finished_at", "settled_at", "changed_at")),
    )
    op.create_index("ix_batches_profile_name", "batches", ["profile", "name"])
    op.create_index("ix_batches_state", "batches", ["state"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Text, nullable=False) for name in ("extra_info", "params", "raw", "reason")),
        sa.Column("provider_id", sa.String(100)),
        sa.Column("parts", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_code", sa.Integer),
        sa.Column("sent_status", sa.String(64)),
        sa.Column("delivered_code", sa.Integer),
        sa.Column("delivered_status", sa.String(64)),
        *(sa.Column(name, sa.Float) for name in ("submitted_at", "sent_at", "delivered_at")),
    )
    op.create_index("ix_messages_batch_status", "messages", ["batch_id", "status"])
    op.create_index(
        "ix_messages_provider_id", "messages", ["provider_id"],
        sqlite_where=sa.text("provider_id IS NOT NULL"),
        postgresql_where=sa.text("provider_id IS NOT NULL"),
    )

    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id")),
        sa.Column("provider_id", sa.String(100), nullable=False),
        sa.Column("part_id", sa.String(100)),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("sent_code", sa.Integer),
        sa.Column("sent_status", sa.String(64)),
        sa.Column("delivered_code", sa.Integer),
        sa.Column("delivered_status", sa.String(64)),
        sa.Column("raw", sa.Text, nullable=False, server_default="{}"),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_receipts_provider_id", "receipts", ["provider_id"])
    op.create_index("ix_receipts_message_id", "receipts", ["message_id"])


    op.create_table(
        "inbound",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id")),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id")),
        sa.Column("opt_out", sa.Integer, nullable=False, server_default="0"),
        sa.Column("raw", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_inbound_source", "inbound", ["source"])
    op.create_table(
        "blocklist",
        sa.Column("profile", sa.String(100), primary_key=True),
        sa.Column("destination", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blocklist")
    op.drop_table("inbound")
    op.drop_table("receipts")
    op.drop_table("messages")
    op.drop_table("batches")
