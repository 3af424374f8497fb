"""statistics: each daily rollup carries a revision, and months are pre-merged from their days (issue 15), so a
semester reads six rows per sector instead of 181

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE stats_daily_rev")
    op.add_column(
        "stats_daily",
        sa.Column("rev", sa.BigInteger(), server_default=sa.text("nextval('stats_daily_rev')"), nullable=False),
    )
    op.execute("ALTER SEQUENCE stats_daily_rev OWNED BY stats_daily.rev")
    op.create_table(
        "stats_monthly",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sector", sa.String(length=20), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("durations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("built_from", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", "sector"),
    )


def downgrade() -> None:
    op.drop_table("stats_monthly")
    op.drop_column("stats_daily", "rev")  # drops the sequence it owns
