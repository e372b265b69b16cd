"""Browser sessions kept in the database (DESIGN §9); the cookie carries only a random id.

Flask's session interface is replaced by ``ServerSessionInterface``: the data Flask-Login and
Flask-WTF keep in ``flask.session`` (the user id, the CSRF token, flashed messages) live in
``user_sessions`` (``registry/user_sessions.py``), and the cookie is nothing but the session's
random id. Logging out ends the row, so a copied cookie is worth nothing afterwards.

Look-ups are remembered per worker process for at most ``CACHE_SECONDS`` (the same bound as API
tokens, ``web/identity.py``), so a page view is not a database query: ending a session through this
process (logout, the admin page) drops it here at once; other workers and the CLI may keep
honouring it for up to 5 seconds. The session is written only when its data changed. The same
bound applies to the data: with several workers, a message flashed in one may show in another a
few seconds late (the user id and CSRF token, set once per session, are not affected).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time

import psycopg
from flask import Flask, Request, Response, g, request
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from registry import accounts, user_sessions
from web import database

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0
LIVENESS_PATH = "/api/v1/health"  # answers without the database, whatever the cookie
_CACHE_SIZE = 4096
_cache: dict[str, tuple[float, user_sessions.Loaded]] = {}
_cache_lock = threading.Lock()


class ServerSession(CallbackDict, SessionMixin):
    """``flask.session`` for one request: the stored data plus the account it was loaded with."""

    def __init__(self, data: dict | None = None, secret: str | None = None,
                 account: accounts.Account | None = None):
        super().__init__(data or {})
        self.secret = secret
        self.account = account
        self.stored = dict(data or {})  # as read: written back only when different
        self.replaced: str | None = None  # the session this one replaces (signing in)
        self.proof: str | None = None  # the sign-in's proof: the database makes the signed-in row with it
        self.ended = False
        self.unreadable: Exception | None = None  # the database could not be asked (outage)
        self.reread = False  # read the session again (after a lost connection)


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()  # no session ids kept in memory


def _remember(secret: str, loaded: user_sessions.Loaded) -> None:
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[_key(secret)] = (time.monotonic() + CACHE_SECONDS, loaded)


def forget(secret: str | None = None) -> None:
    """Drop one remembered session, or all of them (after an account change in this process)."""
    with _cache_lock:
        if secret is None:
            _cache.clear()
        else:
            _cache.pop(_key(secret), None)


def _load(secret: str) -> user_sessions.Loaded | None:
    with _cache_lock:
        hit = _cache.get(_key(secret))
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    with database.account_session() as session:
        loaded = user_sessions.load(session, secret)
    if loaded is None:
        forget(secret)
    else:
        _remember(secret, loaded)
    return loaded


def start_new(session: ServerSession, *, proof: str) -> None:
    """Give the session a new id when someone signs in (no session fixation); the old one ends.
    ``proof`` is what ``accounts.authenticate`` was given: only with it does the database store
    the new session as signed in (migration 0017)."""
    if session.secret is not None and session.replaced is None:
        session.replaced = session.secret
    session.secret = None
    session.account = None
    session.stored = {}
    session.proof = proof


def end(session: ServerSession) -> None:
    """End the session now (logout): its row is revoked and its cookie deleted."""
    if session.secret is not None:
        with database.account_session() as db_session:
            user_sessions.end(db_session, secret=session.secret)
        forget(session.secret)
    session.clear()
    session.ended = True


def _user_id(data: dict) -> int | None:
    # Flask-Login's user id (web/identity.py, SignedInUser.get_id).
    value = str(data.get("_user_id") or "")
    return int(value) if value.isdigit() and len(value) < 12 else None


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        secret = request.cookies.get(self.get_cookie_name(app))
        try:
            loaded = _load(secret) if secret else None
        except (SQLAlchemyError, psycopg.Error) as exc:
            # Raised here, the error would escape Flask's error handlers (a bare 500): it is
            # raised again by _load_unread, inside the request.
            session = ServerSession(secret=secret)
            session.unreadable = exc
            return session
        if loaded is None:
            return ServerSession()
        return ServerSession(loaded.data, secret=secret, account=loaded.account)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        pending = {"replaced": session.replaced}
        session.replaced = None
        if session.ended:
            response.delete_cookie(name, domain=domain, path=path)
        else:
            data = dict(session)
            if data != session.stored and (session.secret is not None or data):
                session.secret = session.secret or user_sessions.new_secret()
                pending["save"] = dict(secret=session.secret, data=data, user_id=_user_id(data),
                                       ip=request.remote_addr, user_agent=request.user_agent.string,
                                       proof=session.proof)
                session.proof = None
                session.stored = data
                response.set_cookie(name, session.secret, domain=domain, path=path,
                                    httponly=self.get_cookie_httponly(app), secure=self.get_cookie_secure(app),
                                    samesite=self.get_cookie_samesite(app),
                                    partitioned=self.get_cookie_partitioned(app))
                response.vary.add("Cookie")
        if pending["replaced"] or "save" in pending:
            g.eqreg_session_write = pending


def _write_pending(exc: BaseException | None = None) -> None:
    """Store what ``save_session`` decided, once the request's own session has let go of its
    connection (a request never holds two pooled connections; see web/database.py). Teardown
    runs before the response body is sent, so the next request finds the row."""
    pending = g.pop("eqreg_session_write", None)
    if pending is None:
        return
    database.close_sessions()
    try:
        with database.account_session() as db_session:
            if pending["replaced"]:
                user_sessions.end(db_session, secret=pending["replaced"])
                forget(pending["replaced"])
            if "save" in pending:
                user_sessions.save(db_session, **pending["save"])
                forget(pending["save"]["secret"])  # the account is read back with the next look-up
    except (SQLAlchemyError, psycopg.Error) as exc:
        # The page is already made; failing here would replace it with the server's bare 500.
        # The session is simply not kept (the next request meets the outage as a 503).
        log.warning("session not saved (database unavailable): %s", exc)


def _load_unread() -> None:
    """Raise, inside the request, what stopped ``open_session`` reading the session; the retry of a
    read (``web.database.retry_reads_once``) then reads it again, anything else becomes a 503."""
    session = flask_session
    if request.path == LIVENESS_PATH:
        return
    if getattr(session, "unreadable", None) is not None:
        failure, session.unreadable = session.unreadable, None
        session.reread = True
        raise failure
    if getattr(session, "reread", False):
        session.reread = False
        loaded = _load(session.secret)
        if loaded is None:
            session.secret = None
            return
        session.update(loaded.data)
        session.stored, session.account = dict(loaded.data), loaded.account


def init_app(app: Flask) -> None:
    app.session_interface = ServerSessionInterface()
    app.before_request_funcs.setdefault(None, []).insert(0, _load_unread)  # before the sign-in gate
    app.teardown_request(_write_pending)
