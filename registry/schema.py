"""Run Alembic migrations programmatically (``eqreg db upgrade|downgrade``, tests).

A downgrade is first rehearsed inside a transaction that is rolled back: whatever it would drop
(tables, columns) that still holds data is listed, and the real downgrade is refused unless the
caller forces it (``eqreg db downgrade REV --force``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

# Alembic announces each of its plugins at INFO when imported: noise in the CLI's output.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402 (after silencing its plugin announcements)
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from alembic.util import CommandError  # noqa: E402
from sqlalchemy import Connection, pool, text

from registry import db as registry_db
from registry.errors import Conflict, InvalidInput

# PostGIS's own table; never ours to count or drop.
_FOREIGN_TABLES = {"spatial_ref_sys"}


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def is_known(revision: str) -> bool:
    """Whether ``revision`` is one of this code's migrations."""
    try:
        return ScriptDirectory.from_config(alembic_config("")).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(database_url: str) -> str | None:
    """The database's migration revision (``None``: never migrated)."""
    engine = registry_db.make_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Loss:
    """Data a downgrade would drop: a whole table (``column`` None) or one column's values."""
    table: str
    rows: int
    column: str | None = None

    def describe(self) -> str:
        if self.column is None:
            return f"表 {self.table}（{self.rows} 行）"
        return f"表 {self.table} 的字段 {self.column}（{self.rows} 行有值）"


class DataWouldBeLost(Conflict):
    code = "downgrade_drops_data"


def downgrade(database_url: str, revision: str, *, force: bool = False) -> list[Loss]:
    """Downgrade to ``revision``; refuse (``DataWouldBeLost``) if that drops data, unless ``force``.

    Returns what was dropped (empty when nothing held data).
    """
    try:
        losses = rehearse_downgrade(database_url, revision)
    except CommandError as exc:
        raise InvalidInput(f"无法降级到 {revision}：{exc}", {"revision": revision}) from exc
    if losses and not force:
        raise DataWouldBeLost(
            f"降级到 {revision} 会删除数据：{'；'.join(loss.describe() for loss in losses)}。"
            "请先备份（eqreg db backup 文件名）；确定要删除时加 --force。",
            [loss.__dict__ for loss in losses])
    command.downgrade(alembic_config(database_url), revision)
    if losses:
        record_maintenance(database_url, "db.downgrade", revision,
                           {"dropped": [loss.__dict__ for loss in losses]})
    return losses


def record_maintenance(database_url: str, action: str, entity_id: str, details: dict) -> None:
    """Audit a maintenance command (downgrade, restore) when the database still has an audit trail."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('public.audit_log') IS NOT NULL").fetchone()[0]:
            conn.execute("INSERT INTO audit_log (actor, action, entity, entity_id, details) "
                         "VALUES ('cli', %s, 'database', %s, %s)", (action, entity_id, Jsonb(details)))


def rehearse_downgrade(database_url: str, revision: str) -> list[Loss]:
    """Run the downgrade in a transaction that is rolled back; list the data it would drop.

    Dropped tables and columns that hold values, and rows a downgrade deletes from tables it
    keeps. Bookkeeping tables (``_DERIVED``) are not data.
    """
    engine = registry_db.make_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            with connection.begin() as transaction:
                before = _columns(connection)
                config = alembic_config(database_url)
                config.attributes["connection"] = connection
                command.downgrade(config, revision)
                after = _columns(connection)
                kept = {table: _count(connection, table) for table in before if table in after}
                transaction.rollback()
            # Back to the state before the rehearsal: count what it removed.
            with connection.begin():
                losses = []
                for table in sorted(before):
                    rows = _count(connection, table)
                    if table not in after:
                        losses += [Loss(table, rows)] if rows else []
                        continue
                    if kept[table] < rows:
                        losses.append(Loss(table, rows - kept[table]))
                    for column in sorted(before[table] - after[table]):
                        filled = _count(connection, table, column)
                        losses += [Loss(table, filled, column)] if filled else []
                return losses
    finally:
        engine.dispose()


# Derived or bookkeeping tables: rebuilt on demand, nothing a person entered.
_DERIVED = {"registry_changes", "registry_change_requests", "town_parts", "map_cells", "map_cell_state",
            "map_cell_projects", "map_cell_dirty",
            "town_figure_cache", "sign_in_proofs"}  # a proof lives a minute
# Columns filled from others (a district's city and province from its code, migration 0012).
_DERIVED_COLUMNS = {("districts", "city_code"), ("districts", "province_code")}


def _columns(connection: Connection) -> dict[str, set[str]]:
    rows = connection.execute(text("""
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'""")).all()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        if table not in _FOREIGN_TABLES | _DERIVED and table != "alembic_version":
            if (table, column) not in _DERIVED_COLUMNS:
                tables.setdefault(table, set()).add(column)
    return tables


def _count(connection: Connection, table: str, column: str | None = None) -> int:
    quote = connection.dialect.identifier_preparer.quote
    where = f" WHERE {quote(column)} IS NOT NULL" if column else ""
    return connection.execute(text(f"SELECT count(*) FROM {quote(table)}{where}")).scalar_one()


def ensure_web_login(database_url: str, password: str, name: str = "eqreg_web") -> None:
    """Create (or re-password) the web app's login role: a member of eqreg_app and nothing else.

    Production runs the app as this role so row-level security always applies
    (docs/security.md); run as the owner after ``upgrade``.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)))
        conn.execute(sql.SQL("GRANT eqreg_app TO {}").format(sql.Identifier(name)))
