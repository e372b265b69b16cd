"""Managing accounts: ``eqreg users …``, the admin page, and the production start-up check."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry import accounts
from registry.models import AuditEntry
from web.cli import main


def _account(engine, username):
    with Session(engine) as session:
        return accounts.find_account(session, username)


def test_cli_adds_a_town_user_with_a_password_from_stdin(committed, engine):
    result = CliRunner().invoke(main, ["users", "add", "taozhuang", "--role", "town", "--town", "370403104",
                                       "--password-stdin"], input="long-enough-pw\n")
    assert result.exit_code == 0, result.output
    account = _account(engine, "taozhuang")
    assert (account.role, account.town_codes) == ("town", ("370403104",))
    with Session(engine) as session:
        assert accounts.authenticate(session, username="taozhuang", password="long-enough-pw", ip="cli").id == account.id
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "user_create")).startswith("cli")


def test_cli_refuses_a_town_user_without_town_in_chinese(committed):
    result = CliRunner().invoke(main, ["users", "add", "t", "--role", "town", "--password-stdin"],
                                input="long-enough-pw\n")
    assert result.exit_code == 1
    assert "镇街" in result.output


def test_cli_rejects_an_unknown_role_as_usage_error(committed):
    assert CliRunner().invoke(main, ["users", "add", "x", "--role", "mayor"]).exit_code == 2


def test_cli_lists_disables_and_changes_passwords(committed, engine):
    runner = CliRunner()
    runner.invoke(main, ["users", "add", "pat", "--role", "planner", "--password-stdin"], input="first-password\n")
    assert "pat\tplanner\t-\tactive" in runner.invoke(main, ["users", "list"]).output
    assert runner.invoke(main, ["users", "passwd", "pat", "--password-stdin"], input="second-password\n").exit_code == 0
    with Session(engine) as session:
        assert accounts.authenticate(session, username="pat", password="second-password", ip="cli")
    assert runner.invoke(main, ["users", "disable", "pat"]).exit_code == 0
    assert "pat\tplanner\t-\tdisabled" in runner.invoke(main, ["users", "list"]).output
    assert runner.invoke(main, ["users", "disable", "nobody"]).exit_code == 1


def test_admin_page_adds_a_user_and_sets_towns(client_for, engine):
    admin = client_for("admin")
    page = admin.post("/admin/users", data={"username": "xue", "role": "town", "towns": "370403104, 370403105",
                                            "password": "long-enough-pw"}, follow_redirects=True)
    assert page.status_code == 200 and "已添加用户 xue" in page.get_data(as_text=True)
    assert _account(engine, "xue").town_codes == ("370403104", "370403105")
    admin.post("/admin/users/xue/towns", data={"towns": "370403106"})
    assert _account(engine, "xue").town_codes == ("370403106",)
    admin.post("/admin/users/xue/active", data={"active": "0"})
    assert _account(engine, "xue").active is False


def test_admin_page_shows_service_refusals_in_chinese(client_for, engine):
    admin = client_for("admin")
    page = admin.post("/admin/users", data={"username": "bad", "role": "town", "password": "long-enough-pw"},
                      follow_redirects=True)
    assert "至少需要一个镇街代码" in page.get_data(as_text=True)
    with pytest.raises(accounts.NotFound):
        _account(engine, "bad")


def test_production_mode_refuses_a_superuser_connection(committed):
    from web.app import create_app
    with pytest.raises(RuntimeError, match="超级用户"):
        create_app({"DATABASE_URL": committed, "ENV_PRODUCTION": True, "SECRET_KEY": "k" * 32})


def test_production_mode_starts_with_a_dedicated_login_role(committed, engine, make_user):
    from sqlalchemy.engine import make_url
    from web.app import create_app
    role = f"eqreg_web_{make_url(committed).database}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'web-pass' IN ROLE eqreg_app"))
    try:
        url = make_url(committed).set(username=role, password="web-pass").render_as_string(hide_password=False)
        app = create_app({"DATABASE_URL": url, "ENV_PRODUCTION": True, "SECRET_KEY": "k" * 32})
        assert app.config["SESSION_COOKIE_SECURE"] is True
        make_user("planner", username="pat")
        response = app.test_client().post("/api/v1/auth/token", json={"username": "pat", "password": "correct horse battery"})
        assert response.status_code == 201
        app.extensions["eqreg.engine"].dispose()
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_pages_show_the_user_menu_with_sign_out(client_for):
    admin_page = client_for("admin", username="root").get("/admin/users").get_data(as_text=True)
    assert "root" in admin_page and "退出登录" in admin_page and 'href="/admin/users"' in admin_page
    planner_page = client_for("planner").get("/").get_data(as_text=True)
    assert "退出登录" in planner_page and 'href="/admin/users"' not in planner_page


def test_db_upgrade_creates_the_web_login_role_in_eqreg_app(committed, monkeypatch):
    import psycopg
    from click.testing import CliRunner

    from web.cli import main

    monkeypatch.setenv("EQREG_WEB_PASSWORD", "s3cret-web")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with psycopg.connect(committed) as conn:
        row = conn.execute("""SELECT r.rolcanlogin, r.rolsuper, r.rolbypassrls,
                                     pg_has_role('eqreg_web', 'eqreg_app', 'MEMBER')
                              FROM pg_roles r WHERE r.rolname = 'eqreg_web'""").fetchone()
    assert row == (True, False, False, True)


def test_admin_picks_towns_from_a_searchable_list(client_for, engine, web_data):
    import re
    admin = client_for("admin")
    page = admin.get("/admin/users").get_data(as_text=True)
    picker = re.search(r'<select name="towns" multiple[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="(\d{9})">([^<]+)</option>', picker) == [
        ("370499001", "甲街道（370499001）"), ("370499002", "乙镇（370499002）"), ("370499003", "丙镇（370499003）")]
    assert 'class="town-filter"' in page and "js/town-picker.js" in page
    admin.post("/admin/users", data={"username": "two", "role": "town", "towns": ["370499001", "370499003"],
                                     "password": "long-enough-pw"})
    assert _account(engine, "two").town_codes == ("370499001", "370499003")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert '<option value="370499003" selected>丙镇（370499003）</option>' in page  # the user's towns shown chosen
