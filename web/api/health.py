"""``GET /api/v1/health``: the process answers (no database, no sign-in) — a liveness probe for load
balancers and container health checks, and the trivial reference endpoint of ``bench/api_load.py``.

``GET /api/v1/health/ready``: the database answers too (readiness; 503 with ``Retry-After`` when
it does not, through ``web.errors``).
"""
from __future__ import annotations

from flask import current_app, jsonify
from sqlalchemy import text

from web.api import bp


@bp.get("/health")
def health():
    return jsonify({"status": "ok"})


@bp.get("/health/ready")
def ready():
    # A bare connection: no request session, no scope, no sign-in.
    with current_app.extensions["eqreg.engine"].connect() as connection:
        connection.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": "ok"})
