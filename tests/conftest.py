"""Shared fixtures: a real PostGIS database migrated to head, one rolled-back transaction per test.

The test database is ``$EQREG_TEST_DB`` (default ``eqreg_test``) on the server of ``DATABASE_URL``,
or on the embedded cluster when that is unset. It is dropped and migrated afresh per session.
"""
from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from registry import db as registry_db
from registry import embedded, schema

FIXTURES = Path(__file__).parent / "fixtures"

# 测试区 (fictional, code 370499): three 0.1° × 0.1° towns side by side, west to east.
GRID_DISTRICT = "370499"
GRID_TOWNS = [("370499001", "甲街道", 117.0), ("370499002", "乙镇", 117.1), ("370499003", "丙镇", 117.2)]


@pytest.fixture(scope="session")
def database_url() -> str:
    base = os.environ.get("DATABASE_URL") or embedded.start()
    url = make_url(base).set(database=os.environ.get("EQREG_TEST_DB", "eqreg_test"))
    test_url = url.render_as_string(hide_password=False)
    admin = make_url(base).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}"')
    embedded.ensure_database(test_url)
    schema.upgrade(test_url)
    return test_url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = registry_db.make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine):
    """A session inside a transaction that is rolled back after the test; commits are savepoints."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint",
                          expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture
def committed(engine, database_url, monkeypatch):
    """For code that opens its own connections (CLI, web server): real commits, wiped afterwards."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    yield database_url
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE password_checks, project_towns, projects, import_batches, towns, districts, audit_log, "
                          "users, user_towns, user_jurisdictions, api_tokens, sign_in_proofs, login_attempts, user_sessions, refusal_counts, town_notices, "
                          "target_jurisdictions, map_cells, map_cell_state, map_cell_projects, map_cell_dirty, town_figure_cache RESTART IDENTITY CASCADE"))


def insert_grid_district(session: Session) -> None:
    """Add 测试区 and its three square towns (EPSG:4326) to the session's transaction."""
    session.execute(text("INSERT INTO districts (code, name) VALUES (:code, '测试区')"),
                    {"code": GRID_DISTRICT})
    for code, name, west in GRID_TOWNS:
        session.execute(text("""
            INSERT INTO towns (district_code, code, name, geom, area_km2)
            SELECT :district, :code, :name, g, ST_Area(g::geography) / 1e6
            FROM ST_Multi(ST_MakeEnvelope(:west, 35.0, :east, 35.1, 4326)) g"""),
            {"district": GRID_DISTRICT, "code": code, "name": name, "west": west, "east": west + 0.1})
    session.execute(text("""UPDATE districts SET geom = (SELECT ST_Multi(ST_Union(geom)) FROM towns
                            WHERE district_code = :d) WHERE code = :d"""), {"d": GRID_DISTRICT})


# Two more districts for district-scoped accounts (issue 14): 邻区 in the same city as 测试区
# (3704) and 远区 in another city (3715); each has two square towns north of 测试区 and two
# projects (a point in its first town, a line across both).
OTHER_DISTRICTS = {"370498": ("邻区", 35.2), "371599": ("远区", 35.4)}


def insert_other_districts(session: Session) -> dict[str, int]:
    """Add OTHER_DISTRICTS with their towns and projects, matched; returns project code → id."""
    from registry.matching import match_projects
    ids = {}
    for district, (name, south) in OTHER_DISTRICTS.items():
        session.execute(text("INSERT INTO districts (code, name) VALUES (:code, :name)"),
                        {"code": district, "name": name})
        for n, west in ((1, 117.0), (2, 117.1)):
            session.execute(text("""
                INSERT INTO towns (district_code, code, name, geom, area_km2)
                SELECT :district, :code, :name, g, ST_Area(g::geography) / 1e6
                FROM ST_Multi(ST_MakeEnvelope(:west, :south, :east, :north, 4326)) g"""),
                {"district": district, "code": f"{district}00{n}", "name": f"{name}{n}镇", "west": west,
                 "east": west + 0.1, "south": south, "north": south + 0.1})
        session.execute(text("""UPDATE districts SET geom = (SELECT ST_Multi(ST_Union(geom)) FROM towns
                                WHERE district_code = :d) WHERE code = :d"""), {"d": district})
        middle = south + 0.05
        for n, project_name, wkt in (
                (1, f"{name}工厂改造", f"POINT(117.05 {middle})"),
                (2, f"{name}供水管网", f"LINESTRING(117.05 {middle}, 117.15 {middle})")):
            code = f"2024-{district}-01-01-30000{n}"
            ids[code] = session.execute(text("""
                INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment,
                                      completed_investment, stage)
                VALUES (:d, :code, :name, 'municipal', '测试单位', ST_GeomFromText(:wkt, 4326), 100 * :n, 10, 'construction')
                RETURNING id"""), {"d": district, "code": code, "name": project_name, "wkt": wkt, "n": n}).scalar_one()
    match_projects(session, project_ids=list(ids.values()))
    return ids


def token_for(session: Session, role: str, towns=(), username: str | None = None, **reach) -> str:
    """A new account's live API token (made in ``session``): the kind of secret from which the
    database derives a request's scope (``registry.scope.present_secret``, migration 0011)."""
    import secrets as random
    from registry import accounts
    # Made as the owner, as the CLI would (the web role makes no account, migration 0017), even
    # when the transaction already runs as the web role: that role is taken up again afterwards.
    role_now = session.execute(text("SELECT current_setting('role')")).scalar_one()
    if role_now != "none":
        session.execute(text("RESET ROLE"))
    account = accounts.create_user(session, actor="test", role=role, towns=towns,
                                   username=username or f"{role}_{random.token_hex(4)}", **reach)
    secret = accounts.issue_token(session, account=account)[0]
    if role_now != "none":
        session.execute(text("SELECT set_config('role', :role, true)"), {"role": role_now})
    return secret


def present_scope(session: Session, scope) -> None:
    """Hand the transaction, as a request would, the secret of a new account with ``scope``'s role
    and towns: row-level security then derives that scope (migration 0011)."""
    from registry.scope import present_secret
    present_secret(session, token_for(session, scope.role, towns=sorted(scope.town_codes or ())))


@pytest.fixture
def grid_district(db) -> str:
    insert_grid_district(db)
    return GRID_DISTRICT


# --- Web app fixtures and a small project sample on 测试区 (added for figures/API/pages tests) ---

# (code, name, domain, category, stage, wkt, total, completed, planned_start, deleted)
SAMPLE_PROJECTS = [
    ("2024-370499-01-01-100001", "乙镇智能工厂改造", "industry", "智能化改造", "construction",
     "POINT(117.15 35.05)", 1000, 400, "2025-03-01", False),
    ("2024-370499-01-01-100002", "东西燃气管网更新", "municipal", "燃气管网", "construction",
     "LINESTRING(117.05 35.05, 117.25 35.05)", 800, 200, None, False),
    ("2023-370499-01-01-100003", "医院影像楼设备更新", "medical", "医学影像", "completed",
     "POLYGON((117.07 35.02, 117.11 35.02, 117.11 35.04, 117.07 35.04, 117.07 35.02))", 500, 500, None, False),
    ("2024-370499-01-01-100004", "丙镇粮食烘干中心", "agriculture", "粮食烘干", "reserve",
     "POINT(117.25 35.05)", 300, None, "2026-01-01", False),
    ("2024-370499-01-01-100005", "甲街道供热管网", "municipal", "供热管网", "approval",
     "LINESTRING(117.01 35.08, 117.04 35.08)", 200, 0, None, False),
    ("2024-370499-01-01-100006", "已删除的项目", "industry", None, "reserve",
     "POINT(117.05 35.05)", 9999, None, None, True),
]


def insert_sample_projects(session: Session) -> dict[str, int]:
    """Insert SAMPLE_PROJECTS into 测试区 and match them to towns; returns code → id."""
    from registry.matching import match_projects
    ids = {}
    for code, name, domain, category, stage, wkt, total, completed, planned, deleted in SAMPLE_PROJECTS:
        ids[code] = session.execute(text("""
            INSERT INTO projects (district_code, code, name, domain_code, category, owner, geom,
                                  total_investment, completed_investment, stage, planned_start,
                                  deleted_at, length_km)
            VALUES (:d, :code, :name, :domain, :category, '测试单位', ST_GeomFromText(:wkt, 4326),
                    :total, :completed, :stage, CAST(:planned AS date),
                    CASE WHEN :deleted THEN now() END,
                    CASE WHEN ST_Dimension(ST_GeomFromText(:wkt, 4326)) = 1
                         THEN ST_Length(ST_GeomFromText(:wkt, 4326)::geography) / 1000 END)
            RETURNING id"""), {"d": GRID_DISTRICT, "code": code, "name": name, "domain": domain,
                                "category": category, "wkt": wkt, "total": total, "completed": completed,
                                "stage": stage, "planned": planned, "deleted": deleted}).scalar_one()
    match_projects(session, project_ids=list(ids.values()))
    return ids


@pytest.fixture
def web_data(committed, engine) -> dict[str, int]:
    """测试区 with SAMPLE_PROJECTS, committed so the app's own connections see them."""
    with Session(engine) as session:
        insert_grid_district(session)
        ids = insert_sample_projects(session)
        session.commit()
    return ids


@pytest.fixture
def app(committed):
    from web.app import create_app
    app = create_app({"DATABASE_URL": committed, "TESTING": True})
    yield app
    app.extensions["eqreg.engine"].dispose()


# --- Accounts: users per role and signed-in clients (a browser-like client sends the CSRF token) ---

TEST_PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(committed, engine):
    """Factory: ``make_user(role, towns=(), username=None, districts=…, cities=…, provinces=…)`` →
    a committed ``accounts.Account``."""
    from registry import accounts
    made = []

    def make(role: str, towns=(), username: str | None = None, password: str = TEST_PASSWORD, **reach):
        with Session(engine) as session:
            account = accounts.create_user(session, actor="test", role=role, towns=towns,
                                           username=username or f"{role}{len(made) + 1}", password=password,
                                           **reach)
        made.append(account)
        return account
    return make


class BrowserClient(FlaskClient):
    """A test client that, like a page of the app, sends its session's CSRF token on writes."""
    csrf_token: str | None = None

    def open(self, *args, **kwargs):
        if self.csrf_token and kwargs.get("method", "GET").upper() in {"POST", "PUT", "PATCH", "DELETE"}:
            headers = Headers(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token)
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


_owner_engines: dict[str, object] = {}


def sign_in(app, account) -> BrowserClient:
    """A client whose session is signed in as ``account`` (no password round-trip needed).

    The session row is made as the owner, as the CLI could: the web role makes a signed-in
    session only with the proof of a password just checked (migration 0017)."""
    from itsdangerous import URLSafeTimedSerializer
    from registry import user_sessions
    app.test_client_class = BrowserClient
    client = app.test_client()
    raw = os.urandom(20).hex()
    url = app.config.get("DATABASE_URL") or registry_db.database_url()
    # No pool: no connection of the owner's stays behind among the app's (tests count those).
    owner = _owner_engines.get(url) or _owner_engines.setdefault(url, registry_db.make_engine(url, poolclass=NullPool))
    secret = user_sessions.new_secret()
    with Session(owner) as session:
        user_sessions.save(session, secret=secret, data={"_user_id": str(account.id), "_fresh": True,
                                                         "csrf_token": raw},
                           user_id=account.id, ip=None, user_agent=None)
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], secret)
    key = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    client.csrf_token = URLSafeTimedSerializer(key, salt="wtf-csrf-token").dumps(raw)
    return client


@pytest.fixture
def client_for(app, make_user):
    """Factory: ``client_for("town", towns=["370499001"])`` → a client signed in with that role."""
    def make(role: str, towns=(), username: str | None = None, **reach) -> BrowserClient:
        return sign_in(app, make_user(role, towns=towns, username=username, **reach))
    return make


@pytest.fixture
def anonymous_client(app):
    return app.test_client()


@pytest.fixture
def client(client_for):
    """Signed in as a bureau registrar (reads and edits the whole registry)."""
    return client_for("bureau")



# --- The app as users run it (eqreg serve, several workers) over a database made per test module ---

SERVED_PASSWORD = "served page password"
# username → (role, towns); 乙镇 is the town official's jurisdiction
SERVED_ACCOUNTS = {"admin_user": ("admin", ()), "registrar": ("bureau", ()), "map_viewer": ("planner", ()),
                   "yizhen": ("town", ("370499002",))}


@pytest.fixture(scope="module")
def served_database(database_url, request):
    """A database for this test module (dropped after) with 测试区, SAMPLE_PROJECTS and one
    account per role in SERVED_ACCOUNTS, all committed."""
    import served
    from registry import accounts
    name = f"{make_url(database_url).database}_{request.module.__name__.rsplit('.', 1)[-1]}"[:63]
    with served.module_database(database_url, name) as url:
        engine = registry_db.make_engine(url)
        with Session(engine) as session:
            insert_grid_district(session)
            insert_sample_projects(session)
            session.commit()
            for username, (role, towns) in SERVED_ACCOUNTS.items():
                accounts.create_user(session, actor="test", username=username, role=role, towns=towns,
                                     password=SERVED_PASSWORD)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def served_app(served_database):
    """``eqreg serve --workers 3`` over the module's database; ``.base`` is its URL."""
    import served
    with served.Served(served_database, workers=3) as app:
        yield app


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's) through Playwright, one per test module."""
    import served
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = served.launch_chromium(playwright)
        yield chromium
        chromium.close()
