"""Who is asking: the signed-in account of a request, its scope, and the secret it came with.

* Browsers carry a session cookie (``web/sessions.py``), API clients ``Authorization: Bearer
  <token>``; Flask-Login's loaders turn either into a ``SignedInUser``.
* ``current_scope()`` is the application's wall (``registry.scope``); ``request_secret()`` is what
  the database derives its own wall from (migration 0011) — given to ``web.database`` as its
  scope provider, so the database layer never imports this module.
"""
from __future__ import annotations

import hashlib
import threading
import time

from flask import Flask, g, has_request_context, request
from flask import session as flask_session
from flask_login import LoginManager, UserMixin, current_user

from registry import accounts
from registry.scope import Scope, scope_for
from web import database, sessions

login_manager = LoginManager()


class SignedInUser(UserMixin):
    """Flask-Login's view of an ``accounts.Account``."""

    def __init__(self, account: accounts.Account):
        self.account = account

    def get_id(self) -> str:
        return str(self.account.id)

    def __getattr__(self, name):
        return getattr(self.account, name)


@login_manager.user_loader
def _load_user(user_id: str) -> SignedInUser | None:
    # The account was read with the server-side session (web/sessions.py), in the same statement
    # or from the same few-seconds cache: no database work here.
    account = getattr(flask_session, "account", None)
    if account is None or not account.active or user_id != str(account.id):
        return None
    return SignedInUser(account)


@login_manager.request_loader
def _load_user_from_token(req) -> SignedInUser | None:
    token = bearer_token()
    if not token:
        return None
    account = _account_for_token(token)
    if account is None:
        return None
    g.auth_via_token = True
    return SignedInUser(account)


# Token → account, remembered for a few seconds so a busy API client is not looked up on every
# request. Staleness bound (docs/security.md): a token revoked through this process stops at once;
# a token revoked, expired or whose account was disabled, re-passworded or re-assigned towns
# elsewhere (another worker, the CLI) keeps working here for at most TOKEN_CACHE_SECONDS — in the
# application; the database's row-level security looks the token up in every statement.
TOKEN_CACHE_SECONDS = 5.0
_TOKEN_CACHE_SIZE = 1024
_token_cache: dict[str, tuple[float, accounts.Account]] = {}
_token_cache_lock = threading.Lock()


def _account_for_token(token: str) -> accounts.Account | None:
    key = hashlib.sha256(token.encode()).hexdigest()  # no secrets kept in memory
    now = time.monotonic()
    with _token_cache_lock:
        hit = _token_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    with database.account_session() as session:
        account = accounts.account_for_token(session, token)
    with _token_cache_lock:
        if account is None:
            _token_cache.pop(key, None)
        else:
            if len(_token_cache) >= _TOKEN_CACHE_SIZE:
                _token_cache.clear()
            _token_cache[key] = (now + TOKEN_CACHE_SECONDS, account)
    return account


def forget_tokens() -> None:
    """Drop every remembered token (after a revoke or an account change in this process)."""
    with _token_cache_lock:
        _token_cache.clear()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_scope() -> Scope:
    """The scope of the user making the current request.

    Signed out, and outside a request altogether, it is the anonymous scope (nothing visible):
    code run by the operator (CLI, jobs) passes ``Scope.system()`` itself.
    """
    if has_request_context() and current_user and current_user.is_authenticated:
        return scope_for(current_user.account)
    return Scope.anonymous()


def request_secret() -> str | None:
    """The secret the request is authenticated with — its API token, or its browser session's
    id — from which PostgreSQL derives the scope (``registry.scope.present_secret``). None
    outside a request or without a session: the database then shows nothing."""
    if not has_request_context():
        return None
    if g.get("auth_via_token"):
        return bearer_token()
    return getattr(flask_session, "secret", None)


def init_app(app: Flask) -> None:
    """Server-side sessions and Flask-Login's loaders."""
    sessions.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
