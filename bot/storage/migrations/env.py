"""Alembic environment: runs on the connection bot/storage/db.py hands over (SQLite or PostgreSQL)."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from hipcoach.bot.storage.models import Base, UtcDateTime


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write our UTC datetime type as the plain column type it stores, so migrations stand alone."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
