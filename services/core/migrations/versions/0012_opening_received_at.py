"""statistics: each situation keeps the reception of the signal that opened it (issue 15), written when routing
opens it, and indexed: the live part of a semester (today) finds the day's openings by it, and no longer looks
up each situation's opening event and that event's signal

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exactly what the statistics computed before this column: the reception of the signal of the situation's first
# `opened` event that names an existing signal, else its opening. In two passes over the tables (a hash join of
# all the opening events and their signals), not one look-up per situation.
BACKFILL = (
    """
    UPDATE situations s SET opening_received_at = o.received_at
      FROM (SELECT DISTINCT ON (e.situation_id) e.situation_id, sg.received_at
              FROM events e JOIN signals sg ON sg.id = e.data->>'signal_id'
             WHERE e.type = 'opened'
             ORDER BY e.situation_id, e.id) o
     WHERE o.situation_id = s.id
    """,
    "UPDATE situations SET opening_received_at = opened_at WHERE opening_received_at IS NULL",
)


def upgrade() -> None:
    op.add_column("situations", sa.Column("opening_received_at", sa.DateTime(timezone=True), nullable=True))
    for statement in BACKFILL:
        op.execute(statement)
    op.alter_column("situations", "opening_received_at", nullable=False)
    op.create_index("ix_situations_opening_received_at", "situations", ["opening_received_at"])


def downgrade() -> None:
    op.drop_index("ix_situations_opening_received_at", table_name="situations")
    op.drop_column("situations", "opening_received_at")
