"""The Flask app factory. Nothing happens at import time."""
from __future__ import annotations

import os
from typing import Mapping

from flask import Flask

DEFAULTS = {
    "SECRET_KEY": None,  # EQREG_SECRET_KEY; unset outside production = one key kept in var/secret_key
    "DATABASE_URL": None,  # libpq form; None = DATABASE_URL from the environment or embedded
    # EQREG_BASEMAPS: online basemaps to offer besides the local one, e.g. '["tianditu", "osm"]'
    # (JSON); none by default — an intranet has no internet (the loaded MBTiles is always offered)
    "BASEMAPS": [],
    "TIANDITU_KEY": None,
    "MAP_MAX_FEATURES": None,  # EQREG_MAP_MAX_FEATURES: features per map view before grid clusters
}


def create_app(config: Mapping | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("EQREG")
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if config:
        app.config.update(config)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _shared_secret_key(app)

    from web import auth, database, errors, i18n
    database.init_app(app)
    errors.init_app(app)
    auth.init_app(app)  # sign-in gate, CSRF, login and token routes
    i18n.init_app(app)
    _register_blueprints(app)
    return app


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


BLUEPRINTS: list[str] = ["web.api", "web.pages", "web.maps.views", "web.maps.api", "web.maps.tiles", "web.admin",
                         "web.editing", "web.import_pages", "web.export_pages", "web.api.targets",
                         "web.targets_pages", "web.progress_pages"]
