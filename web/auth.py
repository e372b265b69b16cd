"""Sign-in, the current user's scope, and the one helper that refuses (DESIGN §6).

* Every request needs a signed-in user except the few endpoints in ``PUBLIC_ENDPOINTS`` /
  ``PUBLIC_PATHS``: this is a global ``before_request``, so routes added later are protected
  without doing anything. Anonymous API calls get 401 JSON; pages redirect to the login page.
* Browsers sign in with a session cookie (HttpOnly, SameSite=Lax, Secure in production) that
  carries only the id of a server-side session (``web/sessions.py``); API
  clients with ``Authorization: Bearer <token>`` from ``POST /api/v1/auth/token``.
* Every unsafe request (POST/PUT/PATCH/DELETE) needs a CSRF token (form field ``csrf_token`` or
  header ``X-CSRFToken``) unless it is authenticated by a bearer token.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, current_app, g, has_request_context, jsonify, redirect,
                   render_template, request, url_for)
from flask import session as flask_session
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from registry import accounts, errors, permissions, refusals
from registry.scope import Scope, scope_for
from web import database, sessions
from web.errors import RETRY_SIGN_IN_SECONDS, error_response, status_for

login_manager = LoginManager()
csrf = CSRFProtect()
bp = Blueprint("auth", __name__)
api_bp = Blueprint("api_auth", __name__, url_prefix="/api/v1/auth")

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_ENDPOINTS = {"auth.login", "api_auth.issue_token", "static"}
PUBLIC_PATHS = {"/api/v1/openapi.json", "/api/v1/health", "/api/v1/health/ready"}
# Posting a password for a token carries no cookie to ride on, so it needs no CSRF token.
CSRF_EXEMPT_ENDPOINTS = {"api_auth.issue_token"}


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
    token = _bearer_token()
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
# elsewhere (another worker, the CLI) keeps working here for at most TOKEN_CACHE_SECONDS.
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


def _forget_credentials_after_account_change(response):
    # Account changes (disable, password, towns, revoked sessions) are made through /admin/.
    if request.method in UNSAFE_METHODS and request.path.startswith("/admin/"):
        forget_tokens()
        sessions.forget()
    return response


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_scope() -> Scope:
    """The scope of the user making the current request (nothing visible when signed out).

    Outside a request (CLI code, tests running an app context) it is the operator's full scope.
    """
    if not has_request_context():
        return Scope.system()
    if current_user and current_user.is_authenticated:
        return scope_for(current_user.account)
    return Scope.anonymous()


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
    scope = current_scope()
    require(permissions.can_view_project(database.session(), scope, project_id), hide=True)
    if allowed is not None:
        require(allowed(scope))
    return scope


AUDITED_STATUSES = {403, 404}


def _note_refusal(response):
    """Every 403/404 answer — from ``require``, a view's own NotFound, or an unknown id in a path —
    is a refusal: noted now, written at teardown (after the request's session let go of its
    connection), counted per (user, route, status) per 10 minutes (``registry.refusals``)."""
    if response.status_code in AUDITED_STATUSES and request.endpoint != "static":
        scope = current_scope()
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


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link bounce through our login page.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return "/"


def _client_ip() -> str:
    return request.remote_addr or "unknown"


LOGIN_ERRORS = {
    accounts.AuthenticationFailed: _l("Wrong username or password, or the account is disabled."),
    accounts.TooManyAttempts: _l("Too many failed sign-ins: please try again in 15 minutes."),
}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "")
    try:
        with database.account_session() as session:
            account = accounts.authenticate(session, username=username,
                                            password=request.form.get("password", ""), ip=_client_ip())
    except (accounts.AuthenticationFailed, accounts.TooManyAttempts) as exc:
        message = LOGIN_ERRORS[type(exc)]  # the page's language (the registry's message is Chinese)
        headers = {"Retry-After": str(RETRY_SIGN_IN_SECONDS)} if isinstance(exc, accounts.TooManyAttempts) else {}
        return render_template("login.html", error=message, username=username,
                               next=request.form.get("next", "")), status_for(exc), headers
    sessions.start_new(flask_session)  # a new session id on sign-in: no session fixation
    login_user(SignedInUser(account))
    generate_csrf()  # a fresh token for the signed-in session
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        from registry import audit
        with database.account_session() as session:
            audit.record(session, actor=current_user.username, action="logout", entity="user",
                         entity_id=current_user.username)
            session.commit()
    logout_user()
    sessions.end(flask_session)  # the session's row is revoked: a copied cookie is worth nothing now
    return redirect(url_for("auth.login"))


@api_bp.post("/token")
def issue_token():
    """``{"username", "password"}`` → ``{"token", "expires_at"}`` (the secret is shown only once)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.get("username") or not body.get("password"):
        raise errors.InvalidInput("请求体应为 JSON：{\"username\": …, \"password\": …}")
    with database.account_session() as session:
        account = accounts.authenticate(session, username=str(body["username"]),
                                        password=str(body["password"]), ip=_client_ip())
        token, expires_at = accounts.issue_token(session, account=account)
    return jsonify({"token": token, "expires_at": expires_at.isoformat()}), 201


@api_bp.delete("/token")
def revoke_token():
    """Revoke the bearer token this request is made with."""
    token = _bearer_token()
    if not token or not g.get("auth_via_token"):
        raise errors.InvalidInput("请在 Authorization: Bearer 头中提供要吊销的令牌。")
    with database.account_session() as session:
        accounts.revoke_token(session, secret=token, actor=current_user.username)
    forget_tokens()
    return "", 204


@api_bp.get("/me")
def whoami():
    """The signed-in account and its scope."""
    account = current_user.account
    return jsonify({"username": account.username, "display_name": account.display_name,
                    "role": account.role, "towns": list(account.town_codes)})


OPENAPI_PATHS = {
    "/api/v1/auth/token": {
        "post": {"summary": "用户名和密码换取 API 令牌（Authorization: Bearer …）", "security": [],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["username", "password"],
                     "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}}},
                 "responses": {"201": {"description": "令牌（只显示一次）与到期时间"},
                               "400": {"description": "请求体不是 {username, password}"},
                               "401": {"description": "用户名或密码错误"},
                               "429": {"description": "登录失败次数过多"}}},
        "delete": {"summary": "吊销当前请求所用的令牌", "responses": {"204": {"description": "已吊销"}}}},
    "/api/v1/auth/me": {"get": {"summary": "当前用户与其权限范围",
                                "responses": {"200": {"description": "用户名、角色、镇街"}}}},
}


def init_app(app: Flask) -> None:
    """Sign-in, CSRF and the global gate; registers the login and token blueprints."""
    production = bool(app.config.get("ENV_PRODUCTION") or app.config.get("ENV") == "production")
    if production:
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Flask's own default is None (the key exists), so setdefault would not do: keep an explicit choice.
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    # CSRF is checked by the gate (so bearer-token API calls can skip it), not by CSRFProtect itself.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    sessions.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    app.before_request(_guard)
    app.after_request(_note_refusal)
    app.teardown_request(_audit_refusal)
    app.after_request(_forget_credentials_after_account_change)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        return error_response(400, "csrf_failed", "表单已过期或缺少安全令牌（CSRF），请刷新页面后重试。")

    from web.api import openapi
    openapi.register_paths(OPENAPI_PATHS)
