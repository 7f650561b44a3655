"""Provider state: why a provider is paused (bind or credentials refused, TLS refused, unreachable), so
that `remessa status`, in another process, can show its batches WAITING with the provider's error.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("provider_state")
