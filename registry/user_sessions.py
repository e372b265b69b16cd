"""Server-side browser sessions (DESIGN §9): the cookie carries only a random id.

A row keeps the SHA-256 of that id, the session's data, the signed-in user and an absolute expiry.
Ending a session (logout, an administrator's revoke, a new password, disabling the account) sets
``revoked_at``; the next look-up of the id finds nothing. Services commit, like the rest of
``registry``; revokes are audited.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
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
         user_agent: str | None) -> None:
    """Create the session or store its new data (the user and expiry are fixed at creation:
    signing in always starts a new session)."""
    lifetime = SIGNED_IN_LIFETIME if user_id is not None else ANONYMOUS_LIFETIME
    statement = pg_insert(UserSession).values(
        secret_hash=secret_hash(secret), user_id=user_id, data=data, expires_at=func.now() + lifetime,
        ip=ip, user_agent=(user_agent or "")[:300] or None)
    session.execute(statement.on_conflict_do_update(
        index_elements=[UserSession.secret_hash], set_={"data": statement.excluded.data},
        where=UserSession.revoked_at.is_(None)))
    # Expired sessions are of no use to anyone; anonymous ones come with every new visitor.
    session.execute(delete(UserSession).where(UserSession.expires_at < func.now() - dt.timedelta(days=1)))
    session.commit()


def end(session: Session, *, secret: str) -> None:
    """End one session at once (logout, or the old session when signing in)."""
    session.execute(update(UserSession).where(UserSession.secret_hash == secret_hash(secret),
                                              UserSession.revoked_at.is_(None))
                    .values(revoked_at=func.now()))
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
    user_id = accounts.find_account(session, username).id
    where = [UserSession.user_id == user_id, UserSession.revoked_at.is_(None)]
    if session_id is not None:
        where.append(UserSession.id == session_id)
    ended = session.execute(update(UserSession).where(*where).values(revoked_at=func.now())).rowcount
    audit.record(session, actor=actor, action="session_revoke", entity="user", entity_id=username,
                 details={"session_id": session_id, "ended": ended})
    session.commit()
    return ended


