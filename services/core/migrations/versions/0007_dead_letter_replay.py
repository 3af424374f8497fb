"""dead letters are replayed by people (issue 15): who replayed one, when, and the outbox row it became; the
letter itself stays (history)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("dead_letters", sa.Column("replayed_by", sa.String(length=100), nullable=True))
    op.add_column("dead_letters", sa.Column("replay_outbox_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for column in ("replay_outbox_id", "replayed_by", "replayed_at"):
        op.drop_column("dead_letters", column)
