from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hipcoach.bot.storage.db import current_revision, head_revision, make_engine, upgrade
from hipcoach.bot.storage.models import Base


async def test_migrations_build_the_schema_from_an_empty_database(database_url):
    engine = make_engine(database_url)
    assert await current_revision(engine) is None

    await upgrade(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    await engine.dispose()


async def test_upgrading_twice_is_harmless(database_url):
    engine = make_engine(database_url)
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    await engine.dispose()


async def test_the_models_and_the_migrations_agree(database_url):
    engine = make_engine(database_url)
    await upgrade(engine)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert diff == []
    await engine.dispose()
