"""Server-side browser sessions (DESIGN §9): the cookie carries only a random id.

A row keeps the SHA-256 of that id, the session's data, the signed-in user and an absolute expiry.
Ending a session (logout, an administrator's revoke, a new password, disabling the account) sets
``revoked_at``; the next look-up of the id finds nothing. Services commit, like the rest of
``registry``; revokes are audited.

Every write is a definer function (migration 0017): the web role may read sessions but not write
them. A signed-in session is made only with the proof of the sign-in that just checked the
password (``accounts.authenticate(proof=…)``), data is stored only for a live session whose raw id
is given, and an admin's request (or the CLI, as the owner) ends other people's sessions.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import accounts, audit
from registry.models import User, UserSession

SIGNED_IN_LIFETIME = dt.timedelta(days=7)
ANONYMOUS_LIFETIME = dt.timedelta(hours=2)  # a login page's CSRF token, a flashed message


def new_secret() -> str:
    """A fresh session id for the cookie (256 random bits)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Loaded:
    """A live session: its data and, when signed in, the active account it belongs to."""
    data: dict
    account: accounts.Account | None


def load(session: Session, secret: str) -> Loaded | None:
    """The live session with this id (unexpired, unrevoked, its account active), else None.

    One statement: it runs whenever a worker has not seen the id in the last few seconds.
    """
    if not secret or len(secret) > 100:
        return None
    row = session.execute(
        select(UserSession.data, UserSession.user_id, User, accounts.towns_of_user().label("towns"),
               accounts.districts_of_user().label("districts"))
        .outerjoin(User, User.id == UserSession.user_id)
        .where(UserSession.secret_hash == secret_hash(secret), UserSession.revoked_at.is_(None),
               UserSession.expires_at > func.now())).one_or_none()
    if row is None:
        return None
    if row.user_id is None:
        return Loaded(data=row.data, account=None)
    if row.User is None or not row.User.active:
        return None
    return Loaded(data=row.data, account=accounts.account_of(row.User, tuple(row.towns), row.districts))


def save(session: Session, *, secret: str, data: dict, user_id: int | None, ip: str | None,
         user_agent: str | None, proof: str | None = None) -> None:
    """Create the session or store its new data (the user and expiry are fixed at creation:
    signing in always starts a new session). A new signed-in session takes the sign-in's
    ``proof`` (the database refuses it otherwise, ``Forbidden``); only the owner may name
    ``user_id`` instead. Expired sessions are cleared on the way."""
    signed_in = user_id is not None or proof is not None
    accounts.call_definer(
        session, "SELECT eqreg_session_save(:secret, CAST(:data AS jsonb), :ip, :user_agent, :lifetime, "
                 ":proof, :user_id)",
        secret=secret, data=json.dumps(data), ip=ip, user_agent=user_agent or "",
        lifetime=SIGNED_IN_LIFETIME if signed_in else ANONYMOUS_LIFETIME, proof=proof,
        user_id=None if proof else user_id)
    session.commit()


def end(session: Session, *, secret: str) -> None:
    """End one session at once (logout, or the old session when signing in)."""
    accounts.call_definer(session, "SELECT eqreg_session_end(:secret)", secret=secret)
    session.commit()


@dataclass(frozen=True)
class SessionInfo:
    id: int
    created_at: dt.datetime
    expires_at: dt.datetime
    ip: str | None
    user_agent: str | None


def live_sessions(session: Session, *, username: str) -> list[SessionInfo]:
    """The user's live browser sessions, newest first."""
    user_id = accounts.find_account(session, username).id
    rows = session.execute(
        select(UserSession.id, UserSession.created_at, UserSession.expires_at, UserSession.ip,
               UserSession.user_agent)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
               UserSession.expires_at > func.now())
        .order_by(UserSession.created_at.desc(), UserSession.id.desc()))
    return [SessionInfo(*row) for row in rows]


def revoke(session: Session, *, actor: str, username: str, session_id: int | None = None) -> int:
    """End one (``session_id``) or every live session of a user; returns how many ended."""
    account = accounts.find_account(session, username)  # NotFound for an unknown name
    ended = accounts.call_definer(session, "SELECT eqreg_user_revoke_sessions(:username, :session_id)",
                                  username=account.username, session_id=session_id)
    audit.record(session, actor=actor, action="session_revoke", entity="user", entity_id=username,
                 details={"session_id": session_id, "ended": ended})
    session.commit()
    return ended


