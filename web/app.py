"""The Flask app factory. Nothing happens at import time."""
from __future__ import annotations

import os
from typing import Mapping

from flask import Flask

DEFAULTS = {
    "SECRET_KEY": None,  # EQREG_SECRET_KEY; unset outside production = one key kept in var/secret_key
    "DATABASE_URL": None,  # libpq form; None = DATABASE_URL from the environment or embedded
    # DATABASE_REPLICA_URLS: streaming standbys for reads, comma-separated (web/replicas.py)
    "DATABASE_REPLICA_URLS": None,
    # EQREG_DB_TRANSACTION_POOLING=true behind PgBouncer in transaction mode (web/database.py)
    "DB_TRANSACTION_POOLING": False,
    # EQREG_BASEMAPS: online basemaps to offer besides the local one, e.g. '["tianditu", "osm"]'
    # (JSON); none by default — an intranet has no internet (the loaded MBTiles is always offered)
    "BASEMAPS": [],
    "TIANDITU_KEY": None,
    "MAP_MAX_FEATURES": None,  # EQREG_MAP_MAX_FEATURES: features per map view before grid clusters
    # EQREG_MAP_TILES_ABOVE: from how many projects in the registry (the planner's estimate) the
    # maps draw vector tiles instead of asking for the features of each view; 0 = always
    "MAP_TILES_ABOVE": 20000,
    "MAP_TILE_MAX_FEATURES": None,  # EQREG_MAP_TILE_MAX_FEATURES: projects per tile before grid clusters
    "MAP_TILE_CACHE": True,  # EQREG_MAP_TILE_CACHE=false: build every tile (benchmarks)
    # EQREG_PROXY_COUNT: how many reverse proxies in front of the app append to X-Forwarded-For
    # (and -Proto). 0 = none: the headers are ignored, since anyone could send them.
    "PROXY_COUNT": 0,
}


def create_app(config: Mapping | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("EQREG")
    for name in ("DATABASE_URL", "DATABASE_REPLICA_URLS"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    if config:
        app.config.update(config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _shared_secret_key(app)

    _trust_proxies(app)
    from web import auth, database, errors, i18n, identity, input_bounds, security_headers, uploads
    input_bounds.register_converters(app)
    database.init_app(app, request_secret=identity.request_secret, request_scope=identity.current_scope)
    errors.init_app(app)
    auth.init_app(app)  # sign-in gate, CSRF, login and token routes
    input_bounds.init_app(app)  # after the gate: anonymous requests get 401 first
    i18n.init_app(app)
    security_headers.init_app(app)  # CSP with a per-response nonce, frame and sniffing headers
    uploads.init_app(app)  # the upload directory is private to this OS user, or the app does not start
    _register_blueprints(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Take the client's address from the last ``PROXY_COUNT`` X-Forwarded-For entries.

    Sign-in rate limits count per address: behind a proxy without this every user shares the
    proxy's address; with a count larger than the real number of proxies a client could choose
    its own address.
    """
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count < 0:
        raise ValueError("EQREG_PROXY_COUNT must be 0 or more")
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def _shared_secret_key(app: Flask) -> str:
    """One key for every worker and restart; production must configure its own."""
    from registry.secret import SecretKeyMissing, stored_secret_key
    if app.config.get("ENV_PRODUCTION") or app.config.get("ENV") == "production":
        raise SecretKeyMissing("生产环境必须设置 EQREG_SECRET_KEY（所有进程使用同一个长随机值）")
    return stored_secret_key()


def _register_blueprints(app: Flask) -> None:
    """Each blueprint module exposes ``bp``; modules are added here as they are written."""
    import importlib
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)


BLUEPRINTS: list[str] = ["web.api", "web.pages", "web.maps.views", "web.maps.api", "web.maps.tiles",
                         "web.maps.vector_tiles", "web.admin",
                         "web.editing", "web.import_pages", "web.export_pages", "web.api.targets",
                         "web.targets_pages", "web.progress_pages", "web.rollup_pages"]
