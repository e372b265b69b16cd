"""Alembic environment: the only way the schema changes."""
from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import pool

from registry.db import database_url, make_engine
from registry.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # PostGIS's own tables are not ours to manage.
    return not (type_ == "table" and name in {"spatial_ref_sys"})


def run_migrations_online() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        # The caller's connection and transaction (registry.schema's downgrade rehearsal rolls it back).
        _run(shared)
        return
    url = config.attributes.get("database_url") or database_url()
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      include_object=include_object, compare_type=True,
                      process_revision_directives=alembic_helpers.writer,
                      render_item=alembic_helpers.render_item)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
