"""the outbox keeps the correlation id of the request (or task) that wrote each row (issue 15): the task that
handles the row logs under it

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: PostgreSQL adds it without rewriting the table.
    op.add_column("outbox", sa.Column("correlation_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "correlation_id")
