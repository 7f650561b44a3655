"""Receipts keep the provider's own form of their id (`alias`) when they wrote it in another form (decimal
for a hex provider, a UUID without dashes): tried only where the id itself matches no message.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.add_column(sa.Column("alias", sa.String(100), nullable=True))
        batch.create_index("ix_receipts_alias", ["alias"])


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_index("ix_receipts_alias")
        batch.drop_column("alias")
