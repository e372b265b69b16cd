"""``GET /api/v1/health``: the process answers (no database, no sign-in) — for load balancers,
container health checks, and the trivial reference endpoint of ``bench/api_load.py``."""
from __future__ import annotations

from flask import jsonify

from web.api import bp


@bp.get("/health")
def health():
    return jsonify({"status": "ok"})
