"""statistics: the day in progress rolled up so far (issue 15), refreshed every minute by the scheduler, so a
semester in progress computes live only the last minute or so, not the whole day

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_today",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sector", sa.String(length=20), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("durations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "sector"),
    )


def downgrade() -> None:
    op.drop_table("stats_today")
