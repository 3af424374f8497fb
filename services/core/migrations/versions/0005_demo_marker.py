"""demo marker (issue 11): rows written by `urgence demo` carry `demo = true`

Revision ID: 0005
Revises: 0004

The demo goes through the real intake, routing and state machine, which know nothing of demos. The marker is
therefore set by the database: the column's default reads the session setting `urgence.demo`, which only the
demo's own connections set (`SET urgence.demo = 'on'`). Every row they insert into these tables is marked,
whatever code path wrote it; every other connection writes `false`. The ORM models do not map the column, so
their inserts leave it to this default. `urgence demo` refuses a database holding unmarked signals (unless
`--force`) and `urgence demo --purge` deletes the marked rows (services/demo/purge.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKED_TABLES = ("signals", "situations", "events", "deliveries", "outbox")
DEMO_DEFAULT = "coalesce(current_setting('urgence.demo', true), '') = 'on'"


def upgrade() -> None:
    for table in MARKED_TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN demo boolean NOT NULL DEFAULT ({DEMO_DEFAULT})")


def downgrade() -> None:
    for table in MARKED_TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS demo")
