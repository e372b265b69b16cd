"""Input bounds checked once for every request, so bad input is a clear 4xx, never a 500.

* Integers in paths (``<int:project_id>``) fit PostgreSQL's bigint; a larger one matches no
  route (404), instead of overflowing in the database.
* No NUL byte anywhere in the path, query, form fields or JSON body: PostgreSQL text cannot hold
  one (``?q=%00`` used to fail half-way through a streamed GeoJSON body).
* 405 answers say which methods the route allows (``Allow``), as HTTP requires.
"""
from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import IntegerConverter

from registry.errors import InvalidInput

BIGINT_MAX = 2**63 - 1
NUL_MESSAGE = "请求中含有不允许的空字符（NUL，\\0）。"


class BigintConverter(IntegerConverter):
    """``<int:…>`` limited to PostgreSQL's bigint: larger numbers are no route (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", BIGINT_MAX)
        super().__init__(map, *args, **kwargs)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_bytes() -> None:
    if "\x00" in request.path or any(_has_nul(k) or _has_nul(v) for k, v in request.args.items(multi=True)):
        raise InvalidInput(NUL_MESSAGE, {"where": "query"})
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.is_json:
        if _has_nul(request.get_json(silent=True)):
            raise InvalidInput(NUL_MESSAGE, {"where": "body"})
    elif any(_has_nul(k) or _has_nul(v) for k, v in request.form.items(multi=True)):
        raise InvalidInput(NUL_MESSAGE, {"where": "form"})


def register_converters(app: Flask) -> None:
    """Before any route is added (the converter is bound when a rule is)."""
    app.url_map.converters["int"] = BigintConverter


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_bytes)

    @app.errorhandler(MethodNotAllowed)
    def method_not_allowed(exc: MethodNotAllowed):
        from flask import make_response

        from web.errors import error_response
        allowed = sorted(exc.valid_methods or [])
        # pages render a template (a str), the API a JSON response: make both a response first
        response = make_response(*error_response(405, "method_not_allowed", "此地址不支持该请求方法。",
                                                 {"allowed": allowed}))
        response.headers["Allow"] = ", ".join(allowed)
        return response
