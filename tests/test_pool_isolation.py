"""Two towns' users interleaved over a pool of two connections: no row of one town reaches the other.

The request's secret is handed to PostgreSQL per transaction (``set_config('eqreg.session', …,
true)``) on pooled connections that are reused between users, and the database derives the scope
from it (migration 0011); a scope left behind on a connection would show up here as a leaked
project, and settings an injection could make (``eqreg.role``, even at session level) change nothing.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import GRID_TOWNS, sign_in
from web import database

ROUNDS = 40
TOWN_A, TOWN_B = GRID_TOWNS[0][0], GRID_TOWNS[2][0]


@pytest.fixture
def pooled_app(committed, web_data):
    from web.app import create_app
    app = create_app({"DATABASE_URL": committed, "TESTING": True, "DB_POOL_SIZE": 2, "DB_MAX_OVERFLOW": 0})

    # The database wall alone: raw SQL through the request session, no application filter at all.
    @app.get("/api/v1/_probe/projects")
    def probe():
        rows = database.session().execute(text("SELECT code FROM projects")).scalars().all()
        role = database.session().execute(text("SELECT current_user")).scalar_one()
        return jsonify({"codes": rows, "db_role": role})

    # What a SQL injection could run: claim a wider role, for this and every later transaction.
    @app.get("/api/v1/_probe/injected")
    def injected():
        session = database.session()
        session.execute(text("SELECT set_config('eqreg.role', 'admin', false), "
                             "set_config('eqreg.towns', :all, false), set_config('eqreg.role', 'system', true)"),
                        {"all": ",".join(code for code, _, _ in GRID_TOWNS)})
        return jsonify({"codes": session.execute(text("SELECT code FROM projects")).scalars().all()})

    yield app
    app.extensions["eqreg.engine"].dispose()


def _expected(engine, town: str, *, live_only: bool = False) -> set[str]:
    """Projects with a share in ``town`` (the list API also leaves out deleted ones)."""
    with Session(engine) as session:
        return set(session.scalars(text(
            "SELECT p.code FROM projects p JOIN project_towns s ON s.project_id = p.id "
            "WHERE s.town_code = :t AND (p.deleted_at IS NULL OR NOT :live)"), {"t": town, "live": live_only}))


@pytest.fixture
def town_accounts(make_user):
    return {TOWN_A: make_user("town", towns=[TOWN_A], username="town_a"),
            TOWN_B: make_user("town", towns=[TOWN_B], username="town_b")}


@pytest.fixture
def town_clients(pooled_app, town_accounts):
    return {town: sign_in(pooled_app, account) for town, account in town_accounts.items()}


def _probe(client) -> set[str]:
    response = client.get("/api/v1/_probe/projects")
    assert response.status_code == 200
    assert response.get_json()["db_role"] == "eqreg_app"
    return set(response.get_json()["codes"])


def _listed(client) -> set[str]:
    response = client.get("/api/v1/projects?per_page=100")
    assert response.status_code == 200
    return {item["code"] for item in response.get_json()["items"]}


def test_interleaved_requests_never_see_the_other_towns_projects(town_clients, engine):
    expected = {town: _expected(engine, town) for town in town_clients}
    listed = {town: _expected(engine, town, live_only=True) for town in town_clients}
    assert expected[TOWN_A] - expected[TOWN_B] and expected[TOWN_B] - expected[TOWN_A]
    probes, lists = {town: [] for town in town_clients}, {town: [] for town in town_clients}
    for i in range(ROUNDS):
        for town, client in (town_clients.items() if i % 2 else reversed(town_clients.items())):
            probes[town].append(_probe(client))
            lists[town].append(_listed(client))
    for town in town_clients:
        assert all(result == expected[town] for result in probes[town]), town
        assert all(result == listed[town] for result in lists[town]), town


def test_concurrent_requests_never_see_the_other_towns_projects(town_accounts, engine, pooled_app):
    expected = {town: _expected(engine, town) for town in town_accounts}

    def run(job: int):
        town = (TOWN_A, TOWN_B)[job % 2]
        if job % 7 == 0:  # anonymous requests share the pool too and must see nothing
            return "anonymous", pooled_app.test_client().get("/api/v1/_probe/projects").status_code
        return town, _probe(sign_in(pooled_app, town_accounts[town]))  # one client per thread

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(ROUNDS * 2)))
    assert sum(1 for who, _ in results if who != "anonymous") > ROUNDS
    for who, result in results:
        assert result == (401 if who == "anonymous" else expected[who]), who


def test_claiming_a_role_on_the_connection_widens_nothing_now_or_later(town_clients, engine):
    expected = {town: _expected(engine, town) for town in town_clients}
    for i in range(6):
        town = (TOWN_A, TOWN_B)[i % 2]
        response = town_clients[town].get("/api/v1/_probe/injected")
        assert set(response.get_json()["codes"]) == expected[town]
        other = (TOWN_B, TOWN_A)[i % 2]
        assert _probe(town_clients[other]) == expected[other]  # on a connection the other left behind
