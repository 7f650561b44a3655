"""Inbound messages keep the provider's own id of the MO (`mo_id`): the SMS API's MO list returns the last five
days every time, and webhooks are retried, so a copy already stored is not stored (nor applied) again.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("mo_id", sa.String(100), nullable=True))
        batch.create_index("ix_inbound_mo_id", ["provider", "mo_id"])


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_index("ix_inbound_mo_id")
        batch.drop_column("mo_id")
