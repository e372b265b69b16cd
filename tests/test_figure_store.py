"""Per-town figures shared by the worker processes (migration 0022, registry.figure_store): what one
process computed is what another reads, at the same change stamp only, and each scope reads and
stores only the towns it sees, under its own reach."""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import accounts, cache, figure_store, figures
from registry.roles import Role
from registry.scope import Scope, present_secret

TOWNS = ("370499001", "370499002", "370499003")


def own_reach(secret: str) -> str:
    """The reach of a credential that shares its figures with no one (migration 0022)."""
    return "secret:" + hashlib.sha256(("figures:" + secret).encode()).hexdigest()


ROWS = text("SELECT reach, town_code FROM town_figure_cache ORDER BY 1, 2")


@pytest.fixture
def account_secret(web_data, engine):
    """Factory: ``(role, reach) → an API token`` of a new committed account."""
    made = []

    def make(role: Role, **reach) -> str:
        with Session(engine) as session:
            account = accounts.create_user(session, actor="test", username=f"fig{len(made)}", role=role, **reach)
            token = accounts.issue_token(session, account=account)[0]
            session.commit()
        made.append(token)
        return token
    return make


@contextmanager
def as_web_role(engine, secret: str):
    """A session as the web role with ``secret`` presented, its stamp remembered as the app does."""
    with Session(engine) as session:
        session.execute(text("SET LOCAL ROLE eqreg_app"))
        present_secret(session, secret)
        yield session
        session.rollback()


def computed(session, scope) -> list[dict]:
    cache.clear()
    return figures._town_figures(session, scope, None, False)


def owner_rows(engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(ROWS)]


def test_figures_one_process_stored_are_what_another_reads(engine, account_secret):
    secret = account_secret(Role.PLANNER)
    with as_web_role(engine, secret) as session:
        cache.clear()
        first = figures.town_figures(session, Scope(actor="p", role=Role.PLANNER), share=engine)
        assert [t["code"] for t in first] == list(TOWNS) and sum(t["project_count"] for t in first) > 0
    assert owner_rows(engine) == [("", code) for code in TOWNS]
    with engine.begin() as connection:  # as if the stored figures said otherwise: then they are what is read
        connection.execute(text("UPDATE town_figure_cache SET figures = "
                                "json_build_object('code', town_code, 'project_count', 99)"))
    cache.clear()  # another process: nothing of its own
    with as_web_role(engine, secret) as session:
        assert figures.town_figures(session, Scope(actor="p", role=Role.PLANNER)) == [
            {"code": code, "project_count": 99} for code in TOWNS]
        assert figures.town_figures(session, Scope(actor="p", role=Role.PLANNER), with_geometry=True)[0][
            "project_count"] == first[0]["project_count"]  # with boundaries: always computed


def test_read_figures_are_the_computed_ones_for_every_scope(engine, account_secret):
    expected_rows = []
    for role, reach, scope, shared in [
            (Role.PLANNER, {}, Scope(actor="p", role=Role.PLANNER), False),
            # a town user reads its own rows only, never the whole registry's
            (Role.TOWN, {"towns": ["370499003"]}, Scope(actor="t", role=Role.TOWN, town_codes=frozenset({"370499003"})),
             False),
            (Role.PLANNER, {"districts": ["370499"]},
             Scope(actor="d", role=Role.PLANNER, district_codes=frozenset({"370499"})), False)]:
        secret = account_secret(role, **reach)
        with as_web_role(engine, secret) as session:
            expected = computed(session, scope)
            stamp = cache.stamp(session)
            assert figure_store.read(session, scope, None, stamp) == (expected if shared else None)
            assert figure_store.store(session, engine, stamp, expected) == (0 if shared else len(expected))
            assert figure_store.store(session, engine, stamp, expected) == 0  # there already
            assert figure_store.read(session, scope, None, stamp) == expected
            assert json.dumps(figure_store.read(session, scope, None, stamp)) == json.dumps(expected)  # key order too
            assert figure_store.read(session, scope, "370401", stamp) == []
        shared_by = {"": "", "districts": "w:370499"}
        expected_rows += [(shared_by.get(next(iter(reach), ""), own_reach(secret)), t["code"]) for t in expected]
    assert owner_rows(engine) == sorted(expected_rows)


def test_a_town_user_stores_and_reads_only_its_towns(engine, account_secret):
    planner = account_secret(Role.PLANNER)
    town = account_secret(Role.TOWN, towns=["370499001"])
    whole = Scope(actor="p", role=Role.PLANNER)
    with as_web_role(engine, town) as session:
        stamp = cache.stamp(session)
        # What a faulty app could try to store: every town, counted with what the town user sees
        # (a pipeline of its town's that crosses into the others) — wrong for the other towns.
        everything = computed(session, whole)
        assert [t["code"] for t in everything] == list(TOWNS)
        assert figure_store.store(session, engine, stamp, everything) == 1  # the database keeps its own town only
    assert owner_rows(engine) == [(own_reach(town), "370499001")]
    with as_web_role(engine, planner) as session:
        # … under the town user's own reach: nothing it stores is read by anyone else
        assert figure_store.read(session, whole, None, stamp) is None
        assert figure_store.store(session, engine, stamp, computed(session, whole)) == 3
    with as_web_role(engine, town) as session:
        seen = session.execute(text("SELECT town_code FROM town_figure_cache ORDER BY 1")).scalars().all()
        assert seen == ["370499001"]  # the other towns' rows are there, not for it
    district = account_secret(Role.PLANNER, districts=["370499"])
    with as_web_role(engine, district) as session:  # another reach: reads none of them
        assert session.execute(text("SELECT count(*) FROM town_figure_cache")).scalar_one() == 0


def test_figures_of_a_past_stamp_are_not_kept_and_a_change_clears_the_old_ones(engine, account_secret):
    secret = account_secret(Role.PLANNER)
    scope = Scope(actor="p", role=Role.PLANNER)
    with as_web_role(engine, secret) as session:
        cache.clear()
        before = figures.town_figures(session, scope, share=engine)
        old = cache.stamp(session)
    with engine.begin() as connection:  # a change, as another worker or the CLI would make
        connection.execute(text("UPDATE projects SET total_investment = total_investment + 1000 "
                                "WHERE id = (SELECT min(project_id) FROM project_towns WHERE town_code = :t)"),
                           {"t": TOWNS[0]})
    with as_web_role(engine, secret) as session:
        assert figure_store.store(session, engine, old, before) == 0  # describes the past
        cache.clear()
        after = figures.town_figures(session, scope, share=engine)
        new = cache.stamp(session)
    assert new != old
    assert after[0]["total_investment"] > before[0]["total_investment"]  # not the stored figures of the old stamp
    with engine.connect() as connection:
        stamps = connection.execute(text("SELECT DISTINCT epoch, stamp FROM town_figure_cache")).all()
    assert [tuple(s) for s in stamps] == [new]


def test_the_map_page_shares_its_figures(client_for, engine, web_data):
    planner = client_for("planner")
    assert planner.get("/map").status_code == 200
    assert owner_rows(engine) == [("", code) for code in TOWNS]
    town = client_for("town", towns=["370499002"])
    assert town.get("/towns/370499002").status_code == 200  # stores its town's row, for itself alone
    rows = owner_rows(engine)
    assert rows[:3] == [("", code) for code in TOWNS]
    assert len(rows) == 4 and rows[3][0].startswith("secret:") and rows[3][1] == "370499002"
