"""the fiches réflexes as published versions (issue 16): publications (the whole book each time) and drafts

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fiche_publications",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("documents", postgresql.JSONB(), nullable=False),
        sa.Column("versions", postgresql.JSONB(), nullable=False),
        sa.Column("changed", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("draft_id", sa.String(length=36), nullable=True),
        sa.Column("seed", postgresql.JSONB(), nullable=True),
    )
    op.create_index("ix_fiche_publications_fingerprint", "fiche_publications", ["fingerprint"])
    op.create_table(
        "fiche_drafts",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("document", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("base_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publication_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_fiche_drafts_code", "fiche_drafts", ["code"])


def downgrade() -> None:
    op.drop_index("ix_fiche_drafts_code", table_name="fiche_drafts")
    op.drop_table("fiche_drafts")
    op.drop_index("ix_fiche_publications_fingerprint", table_name="fiche_publications")
    op.drop_table("fiche_publications")
