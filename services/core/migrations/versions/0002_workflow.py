"""workflow (issue 4): deadline scan indexes, contact overdue, directory of structures, alert deliveries

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import sqlmodel
import yaml
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('new', 'acknowledged', 'in_progress')"
ACK_PENDING = f"{_OPEN} AND acknowledged_at IS NULL AND NOT ('ack_overdue' = ANY (escalation_reasons))"
CONTACT_PENDING = f"{_OPEN} AND first_contact_at IS NULL AND contact_overdue_at IS NULL"
RESOLVE_PENDING = f"{_OPEN} AND NOT ('resolve_overdue' = ANY (escalation_reasons))"
SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "directory.yaml"


def _kind(code: str) -> str:
    if code == "mus":
        return "mus"
    prefix, sep, _ = code.partition(":")
    return prefix if sep else "partner"


def upgrade() -> None:
    op.add_column("situations", sa.Column("contact_overdue_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_situations_escalated_open",
        "situations",
        ["next_deadline", "id"],
        postgresql_where=sa.text(f"{_OPEN} AND escalation_level > 0"),
    )
    op.create_index("ix_situations_ack_pending", "situations", ["ack_due"], postgresql_where=sa.text(ACK_PENDING))
    op.create_index(
        "ix_situations_contact_pending", "situations", ["contact_due"], postgresql_where=sa.text(CONTACT_PENDING)
    )
    op.create_index(
        "ix_situations_resolve_pending", "situations", ["resolve_due"], postgresql_where=sa.text(RESOLVE_PENDING)
    )

    structures = op.create_table(
        "structures",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("webhook_secret", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("situation_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("structure_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "structure_code", "channel", name="uq_deliveries_event_structure_channel"),
    )
    op.create_index("ix_deliveries_situation", "deliveries", ["situation_id"])
    op.create_index(
        "ix_deliveries_unfinished", "deliveries", ["created_at"], postgresql_where=sa.text("status = 'pending'")
    )

    # The directory's first load, from the seed as it is at this revision (placeholders, inactive, no secrets).
    seed = yaml.safe_load(SEED_FILE.read_text("utf-8")) or {}
    now = datetime.now(UTC)
    rows = [
        {
            "code": str(code),
            "kind": _kind(str(code)),
            "name": str(entry["name"]),
            "active": bool(entry.get("active", False)),
            "webhook_url": entry.get("webhook_url"),
            "webhook_secret": None,
            "email": entry.get("email"),
            "updated_at": now,
            "updated_by": "seed",
        }
        for code, entry in (seed.get("structures") or {}).items()
    ]
    if rows:
        op.bulk_insert(structures, rows)


def downgrade() -> None:
    op.drop_index("ix_deliveries_unfinished", table_name="deliveries", postgresql_where=sa.text("status = 'pending'"))
    op.drop_index("ix_deliveries_situation", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("structures")
    op.drop_index("ix_situations_resolve_pending", table_name="situations", postgresql_where=sa.text(RESOLVE_PENDING))
    op.drop_index("ix_situations_contact_pending", table_name="situations", postgresql_where=sa.text(CONTACT_PENDING))
    op.drop_index("ix_situations_ack_pending", table_name="situations", postgresql_where=sa.text(ACK_PENDING))
    op.drop_index(
        "ix_situations_escalated_open",
        table_name="situations",
        postgresql_where=sa.text(f"{_OPEN} AND escalation_level > 0"),
    )
    op.drop_column("situations", "contact_overdue_at")
