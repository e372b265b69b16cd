"""One engine per app; one session per request, scoped to the current user (see registry.scope)."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from registry import db as registry_db


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or registry_db.database_url()
    engine = registry_db.make_engine(url, pool_size=app.config.get("DB_POOL_SIZE", 10),
                                     max_overflow=app.config.get("DB_MAX_OVERFLOW", 20),
                                     pool_pre_ping=True)
    app.extensions["eqreg.engine"] = engine
    app.extensions["eqreg.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def session() -> Session:
    """The request's session (opened on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["eqreg.sessions"]()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
