"""The JSON API under ``/api/v1`` (DESIGN §5). Thin views: parse → registry function → JSON.

Every view takes the request's session from ``web.database.session()`` and the user's scope from
``web.identity.current_scope()``; errors are registry exceptions, rendered by ``web.errors``.
"""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from web.api import editing, health, openapi, progress, projects, rollup, towns  # noqa: E402,F401  (routes register on bp)
from web import auth  # noqa: E402  (the sign-in routes live in web/auth.py; the document lists them too)

openapi.register_paths(auth.OPENAPI_PATHS)
