"""Alembic environment: runs migrations against the URL given by dealroom.migrate."""

from alembic import context
from sqlalchemy import pool

from dealroom.db import load_models, make_engine

config = context.config
target_metadata = load_models().metadata


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("No sqlalchemy.url: run migrations through dealroom.migrate.")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        # SQLite needs render_as_batch to ALTER tables; harmless elsewhere.
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
