"""the situation page proposes the open situations within 1 km to merge with (issue 13): an index on the last
place of open situations, so that the search box does not scan every open situation

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('new', 'acknowledged', 'in_progress')"


def upgrade() -> None:
    op.create_index("ix_situations_place_open", "situations", ["last_lat", "last_lon"], postgresql_where=sa.text(_OPEN))


def downgrade() -> None:
    op.drop_index("ix_situations_place_open", table_name="situations")
