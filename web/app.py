"""The Flask app factory. Nothing happens at import time."""
from __future__ import annotations

import os
from typing import Mapping

from flask import Flask

DEFAULTS = {
    "SECRET_KEY": None,  # set EQREG_SECRET_KEY in production; a random one is made otherwise
    "DATABASE_URL": None,  # libpq form; None = DATABASE_URL from the environment or embedded
    "BASEMAPS": ["none", "osm", "tianditu", "amap"],
    "TIANDITU_KEY": None,
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
        app.config["SECRET_KEY"] = os.urandom(32).hex()

    from web import auth, database, errors, i18n
    database.init_app(app)
    errors.init_app(app)
    auth.init_app(app)  # sign-in gate, CSRF, login and token routes
    i18n.init_app(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """Each blueprint module exposes ``bp``; modules are added here as they are written."""
    import importlib
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)


BLUEPRINTS: list[str] = ["web.api", "web.pages", "web.maps.views", "web.maps.api", "web.admin",
                         "web.editing", "web.import_pages", "web.export_pages"]
