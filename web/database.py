"""One engine per app; one session per request, scoped to the current user (see registry.scope).

The database wall (DESIGN §6): every pooled connection runs as ``eqreg_app`` (``SET ROLE`` when the
login role is another one), which is subject to row-level security, and every transaction of the
request session starts by telling PostgreSQL the signed-in user's scope
(``set_config(..., true)``, so it cannot outlive the transaction on a pooled connection).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import Flask, current_app, g
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from registry import cache
from registry import db as registry_db
from registry.scope import apply_to_connection

APP_ROLE = "eqreg_app"


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or registry_db.database_url()
    engine = registry_db.make_engine(url, pool_size=app.config.get("DB_POOL_SIZE", 10),
                                     max_overflow=app.config.get("DB_MAX_OVERFLOW", 20),
                                     pool_pre_ping=True)
    role = app.config.get("DB_APP_ROLE", APP_ROLE)
    event.listen(engine, "connect", lambda dbapi_connection, _record: _become(dbapi_connection, role))
    if app.config.get("ENV_PRODUCTION") or app.config.get("ENV") == "production":
        check_login_role(engine)
    app.extensions["eqreg.engine"] = engine
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "after_begin", _apply_scope)
    app.extensions["eqreg.sessions"] = sessions
    # Sign-in needs the accounts before anyone's scope is known: a session without the scope hook.
    app.extensions["eqreg.account_sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(close_sessions)


def _become(dbapi_connection, role: str) -> None:
    """Run this pooled connection as the application role unless it logged in as it already."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] != role:
            cursor.execute(f'SET ROLE "{role}"')
        # Requests run short, indexed queries; the RLS predicates inflate their cost estimates past
        # jit_above_cost, and compiling (30+ ms) then costs more than the query itself.
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def _apply_scope(session: Session, transaction, connection) -> None:
    from web.auth import current_scope
    # The change stamp (registry.cache) comes back in the same round trip as the scope.
    row = apply_to_connection(connection, current_scope(), also=cache.STAMP_COLUMNS)
    cache.remember_stamp(session, row[2:])


def check_login_role(engine: Engine) -> None:
    """Refuse to serve as a superuser, a BYPASSRLS role or the tables' owner (production)."""
    with engine.connect() as connection:
        row = connection.execute(text("""
            SELECT r.rolsuper, r.rolbypassrls, pg_has_role(session_user, c.relowner, 'MEMBER')
            FROM pg_roles r, pg_class c
            WHERE r.rolname = session_user AND c.oid = to_regclass('public.projects')""")).one_or_none()
    if row is None:
        raise RuntimeError("数据库尚未初始化（缺少 projects 表）：请先运行 eqreg db upgrade。")
    superuser, bypass, owner = row
    if superuser or bypass or owner:
        raise RuntimeError(
            "生产模式下 Web 应用不得以超级用户、BYPASSRLS 角色或表的所有者连接数据库："
            "请创建专用登录角色（GRANT eqreg_app TO …），见 docs/security.md。")


def session() -> Session:
    """The request's session (opened on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["eqreg.sessions"]()
    return g.db_session


@contextmanager
def account_session() -> Iterator[Session]:
    """A short session for account look-ups and sign-in (no scope: projects are invisible to it).

    Closed on exit so its connection goes back to the pool at once: a request must never hold two
    pooled connections at a time, or concurrent requests can starve the pool.
    """
    with current_app.extensions["eqreg.account_sessions"]() as db_session:
        yield db_session


def close_sessions(exc: BaseException | None = None) -> None:
    """End the request session's transaction and give back its connection (also at teardown)."""
    # Kept in ``g`` on purpose: a streamed response (stream_with_context) runs its generator after
    # a first teardown and tears down again at its end; closing twice ends the transaction the
    # generator re-opened instead of leaving it idle on a pooled connection.
    db_session = g.get("db_session")
    if db_session is not None:
        db_session.close()
