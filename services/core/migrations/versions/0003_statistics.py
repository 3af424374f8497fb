"""statistics (issue 6)

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SITUATION_INDEXES = (
    ("ix_situations_first_contact_at", ["first_contact_at"]),
    ("ix_situations_resolved_at", ["resolved_at"]),
    ("ix_situations_ack_due", ["ack_due"]),
    ("ix_situations_contact_due", ["contact_due"]),
    ("ix_situations_resolve_due", ["resolve_due"]),
)


def upgrade() -> None:
    op.create_table(
        "stats_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("durations", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("open_at_end", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", "sector"),
    )
    op.create_index(
        "ix_situations_taken_at",
        "situations",
        [sa.text("LEAST(acknowledged_at, first_contact_at, resolved_at)")],
        unique=False,
    )
    for name, columns in _SITUATION_INDEXES:
        op.create_index(name, "situations", columns, unique=False)


def downgrade() -> None:
    for name, _ in reversed(_SITUATION_INDEXES):
        op.drop_index(name, table_name="situations")
    op.drop_index("ix_situations_taken_at", table_name="situations")
    op.drop_table("stats_daily")
