"""The gate every request passes, and the one helper that refuses (DESIGN §6).

* Every request needs a signed-in user except the few endpoints in ``PUBLIC_ENDPOINTS`` /
  ``PUBLIC_PATHS``: this is a global ``before_request``, so routes added later are protected
  without doing anything. Anonymous API calls get 401 JSON; pages redirect to the login page.
* Every unsafe request (POST/PUT/PATCH/DELETE) needs a CSRF token (form field ``csrf_token`` or
  header ``X-CSRFToken``) unless it is authenticated by a bearer token.
* Every 403/404 answer is a refusal, audited once per (user, route, status) per 10 minutes.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from registry import errors, permissions, refusals
from registry.scope import Scope
from web import database, identity, sessions

csrf = CSRFProtect()

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_ENDPOINTS = {"auth.login", "api_auth.issue_token", "static"}
PUBLIC_PATHS = {"/api/v1/openapi.json", "/api/v1/health", "/api/v1/health/ready"}
# Posting a password for a token carries no cookie to ride on, so it needs no CSRF token.
CSRF_EXEMPT_ENDPOINTS = {"api_auth.issue_token"}
AUDITED_STATUSES = {403, 404}


def require(allowed: bool, *, hide: bool = False) -> None:
    """Refuse the request unless ``allowed``: 403, or 404 with ``hide=True`` (objects out of scope,
    whose existence must not leak). Every refusal is audited (``_note_refusal``)."""
    if allowed:
        return
    if hide:
        raise errors.NotFound("不存在或无权查看。")
    raise errors.Forbidden("没有权限执行此操作。")


def require_project(project_id: int, allowed: Callable[[Scope], bool] | None = None) -> Scope:
    """Refuse unless the project is visible to the current user (404 otherwise, so its existence
    does not leak) and, when given, ``allowed(scope)`` holds (403). Returns the scope."""
    scope = identity.current_scope()
    require(permissions.can_view_project(database.session(), scope, project_id), hide=True)
    if allowed is not None:
        require(allowed(scope))
    return scope


def _guard():
    """Global gate: sign-in for everything but the allowlist, then CSRF on unsafe methods."""
    endpoint = request.endpoint or ""
    public = endpoint in PUBLIC_ENDPOINTS or endpoint.endswith(".static") or request.path in PUBLIC_PATHS
    if public and request.method not in UNSAFE_METHODS:
        return None  # nothing to check: no sign-in look-up (a token sent along costs nothing)
    # Load the user now, before any request session holds a connection (see account_session).
    signed_in = current_user.is_authenticated
    if not public and not signed_in:
        if request.path.startswith("/api/"):
            raise errors.Unauthenticated("请先登录（或提供有效的 API 令牌）。")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if (request.method in UNSAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True)
            and not g.get("auth_via_token") and endpoint not in CSRF_EXEMPT_ENDPOINTS):
        csrf.protect()
    return None


def _note_refusal(response):
    """Every 403/404 answer — from ``require``, a view's own NotFound, or an unknown id in a path —
    is a refusal: noted now, written at teardown (after the request's session let go of its
    connection), counted per (user, route, status) per 10 minutes (``registry.refusals``)."""
    if response.status_code in AUDITED_STATUSES and request.endpoint != "static":
        scope = identity.current_scope()
        rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
        g.eqreg_refusal = dict(actor=scope.actor, role=scope.role, route=f"{request.method} {rule}",
                               status=response.status_code, path=request.full_path.rstrip("?"))
    return response


def _audit_refusal(exc: BaseException | None) -> None:
    refusal = g.pop("eqreg_refusal", None)
    if refusal is None:
        return
    database.close_sessions()
    with database.account_session() as session:
        refusals.record(session, **refusal)


def _forget_credentials_after_account_change(response):
    # Account changes (disable, password, towns, revoked sessions) are made through /admin/.
    if request.method in UNSAFE_METHODS and request.path.startswith("/admin/"):
        identity.forget_tokens()
        sessions.forget()
    return response


def init_app(app: Flask) -> None:
    # CSRF is checked by the gate (so bearer-token API calls can skip it), not by CSRFProtect itself.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_guard)
    app.after_request(_note_refusal)
    app.teardown_request(_audit_refusal)
    app.after_request(_forget_credentials_after_account_change)
