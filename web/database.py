"""One engine per app; one session per request, scoped to the current user (see registry.scope).

Connections are a budget shared by every worker (``EQREG_DB_CONNECTIONS``, default 80 so that
PostgreSQL's default ``max_connections`` 100 leaves room for the CLI and maintenance): each of
``EQREG_DB_WORKERS`` processes gets its share, as pool plus overflow (``pool_limits``).

No ``pool_pre_ping``: instead a read (GET/HEAD) that finds its connection dead — the server was
restarted, or an administrator ended the session — is run once more on a fresh one
(``retry_reads_once``); SQLAlchemy then discards the whole stale pool. Other failures to reach the
database are answered 503 with ``Retry-After`` (``web.errors``).

The database wall (DESIGN §6, §9): every pooled connection runs as ``eqreg_app`` (``SET ROLE`` when
the login role is another one), which is subject to row-level security, and every transaction of
the request session starts by handing PostgreSQL the secret the request is authenticated with
(``registry.scope.present_secret``, transaction-local, so it cannot outlive the transaction on a
pooled connection); the policies derive the scope from it. Which secret that is, is the
``request_secret`` provider's business (``web.identity``): this module knows nothing of sign-in.

Reads may go to streaming replicas (``DATABASE_REPLICA_URLS``; which one, and read-your-writes:
``web.replicas``). Behind PgBouncer in transaction mode (``DB_TRANSACTION_POOLING``) nothing may be
set per connection — the next transaction may run on another server connection, and this one's
settings would leak to another client — so the role and ``jit`` are set per transaction
(``set_config(…, true)``, in the same round trip as the secret) and psycopg prepares no statements
(``prepare_threshold=None``).
"""
from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from registry import cache
from registry import db as registry_db
from registry.scope import Scope, database_key, present_secret
from web import replicas as read_replicas

log = logging.getLogger(__name__)

APP_ROLE = "eqreg_app"
CONNECTION_BUDGET = 80  # all workers together; PostgreSQL's default max_connections is 100
READ_METHODS = {"GET", "HEAD"}


def pool_limits(config: Mapping) -> tuple[int, int]:
    """(pool_size, max_overflow) of one process: its share of the budget, at most what it asked for."""
    budget = int(config.get("DB_CONNECTIONS") or CONNECTION_BUDGET)
    workers = int(config.get("DB_WORKERS") or 1)
    share = max(1, budget // max(1, workers))
    pool_size = min(int(config.get("DB_POOL_SIZE") or 10), share)
    overflow = min(int(config.get("DB_MAX_OVERFLOW", 20)), share - pool_size)
    return pool_size, overflow


def init_app(app: Flask, *, request_secret: Callable[[], str | None],
             request_scope: Callable[[], Scope]) -> None:
    """The engines and the request session; ``request_secret()`` gives the current request's
    session id or API token (None: nothing visible), ``request_scope()`` who the app thinks asks."""
    url = app.config.get("DATABASE_URL") or registry_db.database_url()
    role = app.config.get("DB_APP_ROLE", APP_ROLE)
    pooled = bool(app.config.get("DB_TRANSACTION_POOLING"))
    engine = _engine(app.config, url, role, pooled)
    if app.config.get("ENV_PRODUCTION") or app.config.get("ENV") == "production":
        check_login_role(engine)
    app.extensions["eqreg.engine"] = engine
    # The map's cluster grid is counted on the primary (a standby cannot), on a connection of its
    # own: not one of the request pool's, which a request already holding one would wait for.
    app.extensions["eqreg.grid_engine"] = _engine(app.config, url, role, pooled, unpooled=True)
    app.extensions["eqreg.sessions"] = _request_sessions(engine, request_secret, request_scope, role, pooled)
    # Sign-in needs the accounts before anyone's scope is known: a session without the scope hook.
    accounts = sessionmaker(engine, expire_on_commit=False)
    if pooled:
        event.listen(accounts, "after_begin",
                     lambda _session, _transaction, connection: connection.exec_driver_sql(
                         f"SELECT {_role_settings(role)}"))
    app.extensions["eqreg.account_sessions"] = accounts
    members = [read_replicas.Replica(replica_url, replica_engine,
                                     _request_sessions(replica_engine, request_secret, request_scope, role, pooled))
               for replica_url in read_replicas.urls(app.config)
               for replica_engine in [_engine(app.config, replica_url, role, pooled)]]
    if members:
        app.extensions["eqreg.replicas"] = read_replicas.Replicas(
            members, engine,
            sticky_seconds=int(app.config.get("DB_REPLICA_STICKY_SECONDS", read_replicas.STICKY_SECONDS)),
            retry_seconds=float(app.config.get("DB_REPLICA_RETRY_SECONDS", read_replicas.RETRY_SECONDS)))
        app.after_request(_mark_writer)
    app.teardown_appcontext(close_sessions)
    app.preprocess_request = retry_reads_once(app.preprocess_request)  # sign-in look-up
    app.dispatch_request = retry_reads_once(app.dispatch_request)  # the view


def _engine(config: Mapping, url: str, role: str, pooled: bool, *, unpooled: bool = False) -> Engine:
    pool_size, max_overflow = pool_limits(config)
    # Connections older than the recycle age are replaced when next taken; overflow ones close
    # when given back. A request waits at most DB_POOL_TIMEOUT for one, then gets a 503.
    pool = {"poolclass": NullPool} if unpooled else {
        "pool_size": pool_size, "max_overflow": max_overflow, "pool_recycle": int(config.get("DB_POOL_RECYCLE", 600)),
        "pool_timeout": float(config.get("DB_POOL_TIMEOUT", 10))}
    engine = registry_db.make_engine(url, **pool, connect_args={"prepare_threshold": None} if pooled else {})
    if not pooled:
        event.listen(engine, "connect", lambda dbapi_connection, _record: _become(dbapi_connection, role))
    return engine


def _request_sessions(engine: Engine, request_secret, request_scope, role: str, pooled: bool) -> sessionmaker:
    sessions = sessionmaker(engine, expire_on_commit=False)
    also = (_role_settings(role) + ", " if pooled else "") + cache.STAMP_COLUMNS
    event.listen(sessions, "after_begin",
                 lambda session, _transaction, connection: _present(session, connection, request_secret(),
                                                                    request_scope(), also))
    return sessions


def _role_settings(role: str) -> str:
    """The per-connection settings of ``_become`` as transaction-local ones (transaction pooling)."""
    quoted = role.replace("'", "''")
    return f"set_config('role', '{quoted}', true), set_config('jit', 'off', true)"


def connection_lost(exc: BaseException) -> bool:
    """True when ``exc`` means the pooled connection died under us (SQLAlchemy has invalidated it)."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def retry_reads_once(step):
    """Run ``step`` again, once, when a read request lost its database connection doing it, or
    its replica failed it (then on the primary, ``web.replicas``).

    Only GET/HEAD: a write may have reached the database before the connection died.
    """
    @functools.wraps(step)
    def run():
        try:
            return step()
        except DBAPIError as exc:
            replica = g.get("db_replica")
            if request.method not in READ_METHODS or g.get("db_retried") or not (
                    connection_lost(exc) or (replica is not None and _server_failure(exc))):
                raise
            g.db_retried = True
            if replica is not None:
                current_app.extensions["eqreg.replicas"].skip(replica, exc)
                g.db_on_primary = True
            log.warning("database connection lost during %s %s, retrying once: %s",
                        request.method, request.path, exc.orig)
            close_sessions()
            g.pop("db_session", None)
            g.pop("db_replica", None)
            return step()
    return run


def _server_failure(exc: DBAPIError) -> bool:
    """An error that another server may not have (connection refused, cancelled, read-only...)."""
    return isinstance(exc, (OperationalError, InterfaceError, InternalError)) or \
        getattr(exc.orig, "sqlstate", None) == "25006"


def on_primary(view):
    """Mark a GET view that writes (an audited download): its session is on the primary."""
    view.eqreg_on_primary = True
    return view


def _reads_from_replica() -> bool:
    if request.method not in READ_METHODS or g.get("db_on_primary"):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "eqreg_on_primary", False)


def _mark_writer(response):
    """After a write request, read from the primary until the replicas have caught up (web.replicas)."""
    if request.method not in READ_METHODS and request.method != "OPTIONS":
        replicas = current_app.extensions["eqreg.replicas"]
        response.set_cookie(read_replicas.STICKY_COOKIE, "1", max_age=replicas.sticky_seconds,
                            httponly=True, samesite="Lax", secure=request.is_secure)
    return response


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


def _present(session: Session, connection, secret: str | None, scope: Scope, also: str) -> None:
    """Tell PostgreSQL the request's secret; read the change stamp in the same round trip.

    The app knows who asks from a sign-in it may have remembered for a few seconds
    (``web.identity``), the database from the secret itself, afresh. When the two disagree (a
    session that just expired or was revoked elsewhere, an account changed by the CLI) the answer
    is the overlap of both, correct for this request but not for others of the app's scope: the
    transaction then uses no cache and the request leaves nothing in one (``scope_disagrees``).
    """
    row = present_secret(connection, secret, also=also)
    if row[0] == database_key(scope):
        cache.remember_stamp(session, row[-3:])
    else:
        cache.remember_stamp(session, None)
        if has_request_context():
            g.scope_disagrees = True
        log.info("scope of %s differs in the database (%s): nothing cached", scope.actor, row[0])


def data_stamp() -> tuple[int, int] | None:
    """The change stamp of the data this request read (from the server it read it from), or None
    when it read nothing or must not be cached (``scope_disagrees``)."""
    db_session = g.get("db_session") if has_request_context() else None
    return None if db_session is None else cache.remembered_stamp(db_session)


def scope_disagrees() -> bool:
    """Whether this request's database scope differed from the app's (then cache nothing)."""
    return bool(has_request_context() and g.get("scope_disagrees"))


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


def grid_engine() -> Engine:
    """The primary, unpooled: where the map's cluster grid is counted (``registry.map_tiles``) and the
    per-town figures are stored for the other workers (``registry.figure_store``)."""
    return current_app.extensions["eqreg.grid_engine"]


def session() -> Session:
    """The request's session (opened on first use, closed at teardown).

    On the server chosen for the request (a replica for most reads, ``web.replicas``): whatever a
    request reads — a response cache's change stamp too (``registry.cache.stamp(session())``) —
    must come through it, or data and stamp could come from servers at different points in time.
    """
    if "db_session" not in g:
        replicas = current_app.extensions.get("eqreg.replicas")
        replica = None
        if replicas is not None and _reads_from_replica():
            replica = replicas.choose(wrote_recently=read_replicas.STICKY_COOKIE in request.cookies)
        g.db_replica = replica
        g.db_session = (replica.sessions if replica else current_app.extensions["eqreg.sessions"])()
    return g.db_session


@contextmanager
def account_session() -> Iterator[Session]:
    """A short session for account look-ups and sign-in (no secret: projects are invisible to it).

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
        try:
            db_session.close()
        except DBAPIError as error:  # the connection is gone: nothing left to roll back
            log.warning("closing a session on a lost connection: %s", error.orig)
