"""Accounts: argon2 passwords, sign-in and its rate limit, API tokens, CSRF, the sign-in gate."""
from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import select, text, update

from registry import accounts
from registry.models import ApiToken, AuditEntry, User
from conftest import TEST_PASSWORD


def _audit_actions(session, username: str) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == username)
                                .order_by(AuditEntry.id)))


def test_passwords_are_stored_as_argon2id_hashes(db):
    accounts.create_user(db, actor="test", username="alice", role="bureau", password="s3cret-pass")
    stored = db.scalar(select(User.password_hash).where(User.username == "alice"))
    assert stored.startswith("$argon2id$")
    assert "s3cret-pass" not in stored


def test_right_password_signs_in_and_is_audited(db):
    accounts.create_user(db, actor="test", username="alice", role="planner", password="s3cret-pass")
    account = accounts.authenticate(db, username="alice", password="s3cret-pass", ip="10.0.0.1")
    assert (account.username, account.role) == ("alice", "planner")
    assert db.scalar(select(User.last_login_at).where(User.username == "alice")) is not None
    assert _audit_actions(db, "alice") == ["user_create", "login"]


def test_wrong_password_fails_and_is_audited(db):
    accounts.create_user(db, actor="test", username="alice", role="bureau", password="s3cret-pass")
    with pytest.raises(accounts.AuthenticationFailed):
        accounts.authenticate(db, username="alice", password="S3cret-pass", ip="10.0.0.1")
    assert _audit_actions(db, "alice")[-1] == "login_failed"


def test_unknown_user_fails_like_a_wrong_password(db):
    with pytest.raises(accounts.AuthenticationFailed) as exc:
        accounts.authenticate(db, username="nobody", password="whatever-pass", ip="10.0.0.1")
    assert "用户名或密码错误" in exc.value.message


def test_disabled_user_cannot_sign_in(db):
    accounts.create_user(db, actor="test", username="alice", role="bureau", password="s3cret-pass")
    accounts.set_active(db, actor="admin", username="alice", active=False)
    with pytest.raises(accounts.AuthenticationFailed):
        accounts.authenticate(db, username="alice", password="s3cret-pass", ip="10.0.0.1")


def test_town_user_needs_a_nine_digit_town(db):
    with pytest.raises(accounts.InvalidInput):
        accounts.create_user(db, actor="test", username="t", role="town", password="s3cret-pass")
    with pytest.raises(accounts.InvalidInput):
        accounts.create_user(db, actor="test", username="t", role="town", password="s3cret-pass", towns=["3704"])
    account = accounts.create_user(db, actor="test", username="t", role="town", password="s3cret-pass",
                                   towns=["370403104000"])
    assert account.town_codes == ("370403104",)


def test_short_password_is_refused(db):
    with pytest.raises(accounts.InvalidInput, match="至少"):
        accounts.create_user(db, actor="test", username="bob", role="bureau", password="short")


def _login(client, username, password, ip="10.0.0.7"):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def test_login_page_signs_in_and_out(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    response = _login(client, "pat", TEST_PASSWORD)
    assert response.status_code == 302
    assert client.get("/api/v1/auth/me").get_json()["username"] == "pat"
    login_page = client.get("/login?next=/")  # already signed in: sent on
    assert login_page.status_code == 302
    with client.session_transaction() as session:
        raw = session["csrf_token"]
    from itsdangerous import URLSafeTimedSerializer
    token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/v1/auth/me").status_code == 401


def test_a_failed_sign_in_is_explained_in_the_pages_language(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    assert "用户名或密码错误" in _login(client, "pat", "wrong-password").get_data(as_text=True)
    client.get("/login?lang=en")
    english = _login(client, "pat", "wrong-password").get_data(as_text=True)
    assert "Wrong username or password" in english and "用户名或密码错误" not in english


def test_login_is_rate_limited_per_username_and_ip(app, make_user):
    make_user("bureau", username="bo")
    client = app.test_client()
    for _ in range(accounts.MAX_FAILURES_PER_USER_IP):
        assert _login(client, "bo", "wrong-password").status_code == 401
    blocked = _login(client, "bo", TEST_PASSWORD)
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "900"
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    # Another address is not blocked by someone else's failures.
    assert _login(app.test_client(), "bo", TEST_PASSWORD, ip="10.0.0.8").status_code == 302


def test_token_api_is_rate_limited_too(app, make_user):
    make_user("bureau", username="bo")
    client = app.test_client()
    for _ in range(accounts.MAX_FAILURES_PER_USER_IP):
        assert client.post("/api/v1/auth/token", json={"username": "bo", "password": "nope-nope"}).status_code == 401
    response = client.post("/api/v1/auth/token", json={"username": "bo", "password": TEST_PASSWORD})
    assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    assert response.get_json()["error"]["code"] == "too_many_attempts"


def test_token_is_shown_once_and_only_its_hash_is_stored(app, make_user, engine):
    make_user("planner", username="pat")
    client = app.test_client()
    response = client.post("/api/v1/auth/token", json={"username": "pat", "password": TEST_PASSWORD})
    assert response.status_code == 201
    token = response.get_json()["token"]
    assert dt.datetime.fromisoformat(response.get_json()["expires_at"]) > dt.datetime.now(dt.timezone.utc)
    with engine.connect() as conn:
        stored = conn.scalars(select(ApiToken.token_hash)).all()
        dump = conn.execute(text("SELECT string_agg(t::text, ' ') FROM api_tokens t")).scalar_one()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in dump
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.get_json()["role"] == "planner"


def test_expired_token_is_refused(app, make_user, engine):
    make_user("planner", username="pat")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "pat", "password": TEST_PASSWORD}).get_json()["token"]
    with engine.begin() as conn:
        conn.execute(update(ApiToken).values(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_revoked_token_is_refused(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "pat", "password": TEST_PASSWORD}).get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.delete("/api/v1/auth/token", headers=bearer).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 401


def test_disabling_a_user_revokes_tokens_and_sessions(app, make_user, engine):
    account = make_user("planner", username="pat")
    from conftest import sign_in
    browser = sign_in(app, account)
    token = app.test_client().post("/api/v1/auth/token",
                                   json={"username": "pat", "password": TEST_PASSWORD}).get_json()["token"]
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        accounts.set_active(session, actor="admin", username="pat", active=False)
    assert app.test_client().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_password_change_ends_existing_sessions(app, make_user, engine):
    from sqlalchemy.orm import Session
    from conftest import sign_in
    browser = sign_in(app, make_user("bureau", username="bo"))
    assert browser.get("/api/v1/auth/me").status_code == 200
    with Session(engine) as session:
        accounts.set_password(session, actor="bo", username="bo", password="another-password")
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_form_post_without_csrf_token_is_refused(app, make_user):
    make_user("planner", username="pat")
    client = app.test_client()
    response = client.post("/login", data={"username": "pat", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/api/v1/auth/me").status_code == 401  # not signed in


def test_signed_in_write_without_csrf_token_is_refused(app, make_user):
    from conftest import sign_in
    client = sign_in(app, make_user("admin", username="root"))
    client.csrf_token = None  # behave like a forged cross-site form
    response = client.post("/admin/users", data={"username": "mallory", "role": "admin",
                                                 "password": "mallory-pass"})
    assert response.status_code == 400
    assert "mallory" not in client.get("/admin/users").get_data(as_text=True)


def test_anonymous_api_call_gets_401_json_and_pages_redirect_to_login(app):
    client = app.test_client()
    api = client.get("/api/v1/projects")
    assert api.status_code == 401
    assert api.get_json()["error"]["code"] == "unauthorized"
    page = client.get("/admin/users")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")


def test_session_cookie_is_httponly_and_samesite(app, make_user):
    make_user("planner", username="pat")
    response = _login(app.test_client(), "pat", TEST_PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_refusals_are_audited(app, web_data, client_for, engine):
    from conftest import SAMPLE_PROJECTS
    outside = web_data[next(p[0] for p in SAMPLE_PROJECTS if p[1] == "乙镇智能工厂改造")]
    town = client_for("town", towns=["370499003"], username="bing")
    assert town.get(f"/projects/{outside}/edit").status_code == 404
    planner = client_for("planner", username="pat")
    assert planner.get(f"/projects/{outside}/edit").status_code == 403
    with engine.connect() as conn:
        refused = conn.execute(text("SELECT actor, details->>'status' FROM audit_log WHERE action = 'refused' "
                                    "ORDER BY id")).all()
    assert [tuple(r) for r in refused] == [("bing", "404"), ("pat", "403")]
