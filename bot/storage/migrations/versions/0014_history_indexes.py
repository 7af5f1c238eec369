"""partial indexes: claims read unsent rows and pending prompts only, the history sweep old rows only

The outbox claim and the due selection used full indexes on (status, id) and (status, due_at), so
their cost grew with every sent row and handled prompt ever kept: on PostgreSQL a claim walked every
sent row once 1,000+ were pending (160 ms with 1M sent rows), on SQLite it sorted every pending row.
The partial indexes hold only the rows they look for (unsent rows by id, and by user for a claim's
check that no earlier row of the user is unsent); three more let the history sweep
(bot/storage/history.py) find what has outlived its lifetime without reading the rest.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = "status IN ('pending', 'sending')"
PARTIAL = (  # name, table, columns, the rows it holds
    ("ix_outbox_unsent", "outbox", ["id"], UNSENT),
    ("ix_outbox_unsent_user", "outbox", ["user_id", "id"], UNSENT),
    ("ix_outbox_sent_at", "outbox", ["sent_at"], "status = 'sent'"),
    ("ix_prompts_pending_due_at", "prompts", ["due_at"], "status = 'pending'"),
    ("ix_prompts_handled_at", "prompts", ["handled_at"], "status <> 'pending'"),
)
REPLACED = (  # name, table, columns: full indexes the partial ones make redundant
    ("ix_outbox_status_id", "outbox", ["status", "id"]),
    ("ix_prompts_status_due_at", "prompts", ["status", "due_at"]),
)


def upgrade() -> None:
    for name, table, columns, where in PARTIAL:
        op.create_index(name, table, columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    op.create_index(op.f("ix_processed_updates_processed_at"), "processed_updates", ["processed_at"])
    for name, table, _columns in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, columns in REPLACED:
        op.create_index(name, table, columns)
    op.drop_index(op.f("ix_processed_updates_processed_at"), table_name="processed_updates")
    for name, table, _columns, _where in PARTIAL:
        op.drop_index(name, table_name=table)
