"""the deadline scan sets aside a situation it cannot handle (issue 10): `situations.scan_error`, and the
scan's three partial indexes leave such situations out (they are never picked again)

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('new', 'acknowledged', 'in_progress')"
_ACK = "acknowledged_at IS NULL AND NOT ('ack_overdue' = ANY (escalation_reasons))"
_CONTACT = "first_contact_at IS NULL AND contact_overdue_at IS NULL"
_RESOLVE = "NOT ('resolve_overdue' = ANY (escalation_reasons))"
_INDEXES = (
    ("ix_situations_ack_pending", "ack_due", _ACK),
    ("ix_situations_contact_pending", "contact_due", _CONTACT),
    ("ix_situations_resolve_pending", "resolve_due", _RESOLVE),
)


def _recreate(open_sql: str) -> None:
    for name, column, pending in _INDEXES:
        op.drop_index(name, table_name="situations")
        op.create_index(name, "situations", [column], postgresql_where=sa.text(f"{open_sql} AND {pending}"))


def upgrade() -> None:
    op.add_column("situations", sa.Column("scan_error", sa.String(), nullable=True))
    _recreate(f"{_OPEN} AND scan_error IS NULL")


def downgrade() -> None:
    _recreate(_OPEN)
    op.drop_column("situations", "scan_error")
