"""Every part's provider id: a receipt for part 2..n of a multipart message names that part's own id, and
it must match after a restart or however many messages went out since (the channel once kept these ids in
memory only).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("provider_id", sa.String(100), nullable=False),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
    )
    op.create_index("ix_message_parts_provider_id", "message_parts", ["provider_id"])


def downgrade() -> None:
    op.drop_index("ix_message_parts_provider_id", "message_parts")
    op.drop_table("message_parts")
