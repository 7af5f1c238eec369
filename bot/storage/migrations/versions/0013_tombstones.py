"""tombstones: deleted users recognised (keyed hash, last update id) while Telegram may redeliver

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:00:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("user_hash", sa.String(length=64), nullable=False),
        sa.Column("last_update_id", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_hash", name=op.f("pk_tombstones")),
    )
    op.create_index(op.f("ix_tombstones_deleted_at"), "tombstones", ["deleted_at"], unique=False)
    key = op.create_table(
        "tombstone_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstone_key")),
    )
    op.bulk_insert(key, [{"id": 1, "key": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("tombstone_key")
    op.drop_index(op.f("ix_tombstones_deleted_at"), table_name="tombstones")
    op.drop_table("tombstones")
