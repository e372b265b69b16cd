"""One table from exception to HTTP status; one JSON error shape for the API, HTML for browsers."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
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


def error_response(status: int, code: str, message: str, details=None):
    if wants_json():
        return jsonify({"error": {"code": code, "message": message, "details": details}}), status
    return render_template("error.html", status=status, message=message), status


def status_for(exc: errors.RegistryError) -> int:
    """The HTTP status of a registry exception (400 for anything not in ``STATUS``)."""
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)


def init_app(app: Flask) -> None:
    @app.errorhandler(errors.RegistryError)
    def registry_error(exc: errors.RegistryError):
        status = status_for(exc)
        response, status = error_response(status, exc.code, exc.message, exc.details)
        if status == 401 and request.path.startswith("/api/"):
            response.headers["WWW-Authenticate"] = 'Bearer realm="eqreg"'
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.name.lower().replace(" ", "_"),
                              exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "服务器内部错误，请联系管理员。")
