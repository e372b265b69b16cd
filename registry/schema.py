"""Run Alembic migrations programmatically (``eqreg db upgrade``, tests)."""
from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


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
