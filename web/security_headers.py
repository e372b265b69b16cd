"""Security headers on every response, and the per-response CSP nonce (DESIGN §9).

``script-src 'self' 'nonce-…'``: scripts come from our static files, or are inline with this
response's nonce — templates write ``<script nonce="{{ csp_nonce() }}">``, and Folium's rendered
map gets it through ``with_nonce`` (its inline scripts are generated per page). No
``'unsafe-inline'`` for scripts, so markup injected into a page cannot run. Styles may be inline
(Leaflet and Folium set them); images may come from any basemap tile server.
"""
from __future__ import annotations

import re
import secrets

from flask import Flask, g

_SCRIPT_TAG = re.compile(r"<script\b(?![^>]*\bnonce=)", re.IGNORECASE)

POLICY = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data: blob: https: http:; font-src 'self' data:; connect-src 'self'; "
          "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def csp_nonce() -> str:
    """This response's nonce (made on first use)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def with_nonce(html: str) -> str:
    """Give every ``<script>`` tag of generated HTML (Folium's map) this response's nonce.

    Only for HTML the app generates itself: never for anything holding user-written markup.
    """
    return _SCRIPT_TAG.sub(f'<script nonce="{csp_nonce()}"', html)


def _add_headers(response):
    response.headers["Content-Security-Policy"] = POLICY.format(nonce=csp_nonce())
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
