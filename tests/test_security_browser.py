"""The Content-Security-Policy in Chromium: the pages that run scripts work under it unchanged,
and a script without the response's nonce is blocked."""
from __future__ import annotations

import pytest

from sqlalchemy import text

import served
from conftest import SERVED_PASSWORD

PAGES = ["/map", "/projects/{id}", "/projects/{id}/edit", "/"]


@pytest.fixture
def editor(browser, served_app):
    """The bureau's account on ``eqreg serve --workers 3`` (conftest's served_app)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    served.sign_in(context, served_app.base, "registrar", SERVED_PASSWORD)
    watched = served.Watched(context, served_app.base)
    violations: list[str] = []
    watched.page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    watched.violations = violations
    yield watched
    context.close()


def test_security_headers_are_on_every_response(client, web_data):
    for path in ("/", "/login", "/api/v1/projects", "/static/css/app.css", "/nowhere"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"], headers["Referrer-Policy"]) == \
            ("DENY", "nosniff", "same-origin")


def test_each_response_has_its_own_nonce_on_every_inline_script(client, web_data):
    import re
    pages = [client.get("/map").get_data(as_text=True), client.get("/map").get_data(as_text=True)]
    nonces = []
    for html in pages:
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", html)
        assert inline and all("nonce=" in attrs for attrs in inline)
        nonces.append(set(re.findall(r'nonce="([^"]+)"', html)))
    assert len(nonces[0]) == 1 and nonces[0] != nonces[1]


def test_pages_run_under_the_policy_without_violations(editor, served_database):
    from registry import db as registry_db
    engine = registry_db.make_engine(served_database)
    with engine.connect() as conn:
        project_id = conn.execute(text("SELECT id FROM projects WHERE code = '2024-370499-01-01-100001'")).scalar_one()
    engine.dispose()
    for template in PAGES:
        path = template.format(id=project_id)
        if path == "/map":
            editor.open_map(path)
            assert editor.count("svg path.leaflet-interactive") == 6  # the map is drawn
        else:
            editor.page.goto(editor.base + path)
            editor.page.wait_for_load_state("networkidle")
    assert editor.page.evaluate("typeof Chart") == "function"  # the dashboard's script ran
    assert editor.violations == [], editor.violations
    editor.assert_stayed_local()


def test_a_script_without_the_nonce_is_blocked(editor):
    editor.page.goto(editor.base + "/")
    editor.page.wait_for_load_state("networkidle")
    # What an injected <script> would do: the browser refuses to run it.
    editor.page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.injected = true'; document.body.appendChild(s); }""")
    assert editor.page.evaluate("window.injected === undefined")
    assert any("Content Security Policy" in v for v in editor.violations)
    editor.errors.clear()
