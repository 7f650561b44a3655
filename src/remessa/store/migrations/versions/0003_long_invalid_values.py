"""A row refused as INVALID keeps what was written, however long: destination and correlationId become
TEXT (PostgreSQL enforced VARCHAR(64) and refused a whole file for one over-long value; SQLite never did).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("destination", "correlation_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # SQLite does not enforce VARCHAR lengths
    for column in COLUMNS:
        op.alter_column("messages", column, type_=sa.Text, existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for column in COLUMNS:
        op.alter_column("messages", column, type_=sa.String(64), existing_nullable=False)
