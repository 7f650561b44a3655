"""Retention: when a settled batch's messages and receipts were deleted (its reports stay on disk, and the
batch row stays, so that its name is still known and `remessa report` does not overwrite them with nothing).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("pruned_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("pruned_at")
