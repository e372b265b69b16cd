"""One table from exception to HTTP status; one JSON error shape for the API, HTML for browsers.

The database out of reach (down, restarting, every pooled connection busy) is a 503 with
``Retry-After``, never a 500: the page is rendered without touching the database (no user menu).
"""
from __future__ import annotations

from flask import Flask, g, jsonify, make_response, render_template, request
from psycopg.errors import TransactionRollback
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from registry import accounts, errors

STATUS = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.ImportRejected: 422,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.StaleVersion: 412,
    errors.Conflict: 409,
    accounts.AuthenticationFailed: 401,
    accounts.TooManyAttempts: 429,
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, message: str, details=None, *, database_down: bool = False):
    if wants_json():
        return jsonify({"error": {"code": code, "message": message, "details": details}}), status
    return render_template("error.html", status=status, message=message, database_down=database_down), status


def database_unavailable(exc: BaseException) -> str | None:
    """The Chinese message when ``exc`` means the database cannot answer now, else ``None``."""
    if isinstance(exc, PoolTimeout):
        return "服务器繁忙（数据库连接已用满），请稍后重试。"
    if isinstance(exc, OperationalError) and isinstance(exc.orig, TransactionRollback):
        return "数据库繁忙（事务冲突），请稍后重试。"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "数据库暂时无法访问，请稍后重试。"
    return None


def status_for(exc: errors.RegistryError) -> int:
    """The HTTP status of a registry exception (400 for anything not in ``STATUS``)."""
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)


# What a page says for werkzeug's own refusals (an unknown address, a wrong method …).
HTTP_MESSAGES = {
    400: "请求无效，请检查后重试。",
    401: "请先登录。",
    403: "没有权限执行此操作。",
    404: "页面不存在，请检查网址。",
    405: "不支持该请求方式。",
    413: "上传的内容太大。",
    429: "请求过于频繁，请稍后再试。",
}

RETRY_SIGN_IN_SECONDS = int(accounts.FAILURE_WINDOW.total_seconds())


def init_app(app: Flask) -> None:
    @app.errorhandler(errors.RegistryError)
    def registry_error(exc: errors.RegistryError):
        response = make_response(*error_response(status_for(exc), exc.code, exc.message, exc.details))
        if response.status_code == 401 and request.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = 'Bearer realm="eqreg"'
        if isinstance(exc, accounts.TooManyAttempts):
            response.headers["Retry-After"] = str(RETRY_SIGN_IN_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if message == type(exc).description:  # werkzeug's English default: say it in Chinese
            message = HTTP_MESSAGES.get(exc.code, message)
        return error_response(exc.code or 500, exc.name.lower().replace(" ", "_"), message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if message := database_unavailable(exc):
            app.logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
            # Render as nobody: Flask-Login's template context would look the user up again.
            g._login_user = app.login_manager.anonymous_user()
            body, status = error_response(503, "database_unavailable", message, database_down=True)
            response = make_response(body, status)
            response.headers["Retry-After"] = str(app.config.get("DB_RETRY_AFTER", 5))
            return response
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "服务器内部错误，请联系管理员。")
