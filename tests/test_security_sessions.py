"""Server-side browser sessions: the cookie is only a random id; logout and revocation end it."""
from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from registry import user_sessions
from registry.models import AuditEntry, UserSession
from web import sessions
from web.cli import main
from conftest import TEST_PASSWORD, sign_in


def _login(client, username, password=TEST_PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return token


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _client_with_cookie(app, value):
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def test_the_cookie_carries_only_a_random_id_whose_hash_is_stored(app, make_user, engine):
    make_user("planner", username="pat")
    client = app.test_client()
    _login(client, "pat")
    cookie = _cookie(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 256 random bits, no data, no signature
    with engine.connect() as conn:
        dump = conn.execute(text("SELECT string_agg(s::text, ' ') FROM user_sessions s")).scalar_one()
        hashes = conn.scalars(select(UserSession.secret_hash).where(UserSession.user_id.is_not(None))).all()
    assert cookie not in dump
    assert hashes == [user_sessions.secret_hash(cookie)]


def test_signing_in_starts_a_new_session_and_ends_the_anonymous_one(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    client.get("/login")
    anonymous = _cookie(client)
    _login(client, "pat")
    assert _cookie(client) != anonymous
    assert _client_with_cookie(app, anonymous).get("/api/v1/auth/me").status_code == 401


def test_a_copied_cookie_stops_working_after_logout(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    token = _login(client, "pat")
    copy = _client_with_cookie(app, _cookie(client))
    assert copy.get("/api/v1/auth/me").status_code == 200
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 302
    assert copy.get("/api/v1/auth/me").status_code == 401
    page = copy.get("/projects")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")


def test_a_cached_session_costs_no_database_work(app, make_user):
    client = sign_in(app, make_user("bureau", username="bo"))
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 200  # now remembered
    statements = []
    engine = app.extensions["eqreg.engine"]
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get("/api/v1/auth/me").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


def test_a_session_revoked_elsewhere_stops_once_the_cache_bound_has_passed(app, make_user, engine, monkeypatch):
    client = sign_in(app, make_user("bureau", username="bo"))
    assert client.get("/api/v1/auth/me").status_code == 200
    with Session(engine) as session:  # another worker, or the CLI
        user_sessions.revoke(session, actor="admin", username="bo")
    later = sessions.time.monotonic() + sessions.CACHE_SECONDS + 0.1
    monkeypatch.setattr(sessions.time, "monotonic", lambda: later)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_an_admin_lists_and_revokes_a_users_sessions(app, make_user, engine):
    victim = make_user("town", towns=["370499001"], username="tao")
    browser = sign_in(app, victim)
    assert browser.get("/api/v1/auth/me").status_code == 200
    admin = sign_in(app, make_user("admin", username="root"))
    page = admin.get("/admin/users/tao/sessions")
    assert page.status_code == 200
    session_id = re.search(r'name="session_id" value="(\d+)"', page.get_data(as_text=True)).group(1)
    # a malformed id is refused, not read as "every session"
    assert admin.post("/admin/users/tao/sessions/revoke", data={"session_id": "1e9"}).status_code == 400
    assert browser.get("/api/v1/auth/me").status_code == 200
    assert admin.post("/admin/users/tao/sessions/revoke", data={"session_id": session_id}).status_code == 302
    assert browser.get("/api/v1/auth/me").status_code == 401  # same worker: at once
    assert "没有有效的登录会话" in admin.get("/admin/users/tao/sessions").get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.scalar(select(AuditEntry.actor).where(AuditEntry.action == "session_revoke")) == "root"


def test_cli_lists_and_revokes_sessions(app, make_user):
    browser = sign_in(app, make_user("planner", username="pat"))
    runner = CliRunner()
    listed = runner.invoke(main, ["users", "sessions", "pat"])
    assert listed.exit_code == 0 and len(listed.output.strip().splitlines()) == 1
    revoked = runner.invoke(main, ["users", "revoke-sessions", "pat"])
    assert revoked.exit_code == 0 and "1 个会话" in revoked.output
    sessions.forget()  # past the cache bound of this (other) process
    assert browser.get("/api/v1/auth/me").status_code == 401
    assert runner.invoke(main, ["users", "sessions", "pat"]).output == ""
