"""safety events: every red flag with its tier, the signs matched and the state it came in

Replaces `red_flags` (tier and time only). Existing rows are copied with no signs and the state
`unknown`, since the old table never recorded them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("signs", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_safety_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_events")),
    )
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_events_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO safety_events (user_id, tier, signs, state, raised_at) "
        "SELECT user_id, tier, '[]', 'unknown', raised_at FROM red_flags ORDER BY id"
    )
    with op.batch_alter_table("red_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_red_flags_user_id"))
    op.drop_table("red_flags")


def downgrade() -> None:
    op.create_table(
        "red_flags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_red_flags_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flags")),
    )
    with op.batch_alter_table("red_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_red_flags_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO red_flags (user_id, tier, raised_at) "
        "SELECT user_id, tier, raised_at FROM safety_events ORDER BY id"
    )
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_events_user_id"))
    op.drop_table("safety_events")
