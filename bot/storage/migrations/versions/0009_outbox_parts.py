"""outbox parts: per-part delivery progress and unconfirmed sends

A row's messages are sent as parts, one Bot API call each. `parts_done` counts the parts settled,
`part_in_flight` names the part whose request may be under way, and `unconfirmed` counts parts that
got no answer and are not sent again (a read timeout, or a sender killed mid-request). Rows already
in the table start at part 0 with nothing in flight, which is how they were sent before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parts_done", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("part_in_flight", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("unconfirmed", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("unconfirmed")
        batch_op.drop_column("part_in_flight")
        batch_op.drop_column("parts_done")
