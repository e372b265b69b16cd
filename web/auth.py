"""Signing in and out: the login page, ``/logout`` and the API token routes (DESIGN §6).

The rest of sign-in lives beside it: who is asking in ``web/identity.py`` (sessions, tokens, the
scope), the gate and the refusal helper in ``web/guard.py``. ``current_scope``, ``require`` and
``require_project`` are re-exported here for the views that call ``auth.…`` (to be renamed to
``identity.…`` / ``guard.…`` once the parallel work on the views has landed).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, generate_csrf

from registry import accounts, errors
from web import database, guard, identity, sessions
from web.errors import RETRY_SIGN_IN_SECONDS, error_response, status_for
from web.guard import require, require_project  # noqa: F401  (re-exported for the views)
from web.identity import SignedInUser, current_scope  # noqa: F401  (current_scope re-exported)

bp = Blueprint("auth", __name__)
api_bp = Blueprint("api_auth", __name__, url_prefix="/api/v1/auth")


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
    proof = accounts.new_proof()  # the one session this sign-in may start (web/sessions.py)
    try:
        with database.account_session() as session:
            account = accounts.authenticate(session, username=username, password=request.form.get("password", ""),
                                            ip=_client_ip(), proof=proof)
    except (accounts.AuthenticationFailed, accounts.TooManyAttempts) as exc:
        message = LOGIN_ERRORS[type(exc)]  # the page's language (the registry's message is Chinese)
        headers = {"Retry-After": str(RETRY_SIGN_IN_SECONDS)} if isinstance(exc, accounts.TooManyAttempts) else {}
        return render_template("login.html", error=message, username=username,
                               next=request.form.get("next", "")), status_for(exc), headers
    sessions.start_new(flask_session, proof=proof)  # a new session id on sign-in: no session fixation
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
    proof = accounts.new_proof()  # the database makes the token only for the password it just checked
    with database.account_session() as session:
        account = accounts.authenticate(session, username=str(body["username"]),
                                        password=str(body["password"]), ip=_client_ip(), proof=proof)
        token, expires_at = accounts.issue_token(session, account=account, proof=proof)
    return jsonify({"token": token, "expires_at": expires_at.isoformat()}), 201


@api_bp.delete("/token")
def revoke_token():
    """Revoke the bearer token this request is made with."""
    token = identity.bearer_token()
    if not token or not g.get("auth_via_token"):
        raise errors.InvalidInput("请在 Authorization: Bearer 头中提供要吊销的令牌。")
    with database.account_session() as session:
        accounts.revoke_token(session, secret=token, actor=current_user.username)
    identity.forget_tokens()
    return "", 204


@api_bp.get("/me")
def whoami():
    """The signed-in account and its scope."""
    account = current_user.account
    return jsonify({"username": account.username, "display_name": account.display_name,
                    "role": account.role, "towns": list(account.town_codes),
                    "districts": None if account.district_codes is None else list(account.district_codes)})


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
                                "responses": {"200": {"description": "用户名、角色、镇街、区县（null：不限区县）"}}}},
}


def init_app(app: Flask) -> None:
    """Sign-in, CSRF and the global gate; registers the login and token blueprints."""
    production = bool(app.config.get("ENV_PRODUCTION") or app.config.get("ENV") == "production")
    if production:
        app.config["SESSION_COOKIE_SECURE"] = True
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Flask's own default is None (the key exists), so setdefault would not do: keep an explicit choice.
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    identity.init_app(app)
    guard.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        return error_response(400, "csrf_failed", "表单已过期或缺少安全令牌（CSRF），请刷新页面后重试。")
