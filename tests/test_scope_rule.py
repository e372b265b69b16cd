"""One scope rule (issue 10 item 4): the application's clauses and the ``.sql`` files that repeat
the visibility rule with ``:scope_towns`` must show exactly what the database's own rule —
row-level security deriving the scope from the request's secret (``eqreg_visible_towns()``,
migration 0011) — shows the web role for the same account.

Each check runs the application's side as the owner (row-level security does not apply) with the
account's ``Scope``, and the database's side as ``eqreg_app`` with the account's token and the
unlimited ``:scope_towns`` (NULL), so only the database's rule limits it.

Accounts limited to districts (issue 14) are checked the same way over three districts: 测试区 and
邻区 in one city (3704), 远区 in another (3715).
"""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from conftest import GRID_TOWNS, insert_grid_district, insert_other_districts, insert_sample_projects
from registry import accounts, cache, figures
from registry.models import Project
from registry.roles import Role
from registry.scope import Scope, present_secret, project_clause, scope_for
from registry.filters import ProjectFilters
from registry.map_view import search_features, view_features
from registry.rollup import Jurisdiction, rollup

WHOLE_GRID = "116.9,34.9,117.4,35.6"
# (role, the account's towns or jurisdictions)
ACCOUNTS = [(Role.TOWN, {"towns": [code]}) for code, _, _ in GRID_TOWNS] + [
    (Role.TOWN, {"towns": ["370498002"]}),
    (Role.BUREAU, {}),
    (Role.BUREAU, {"districts": ["370499"]}),
    (Role.BUREAU, {"districts": ["370498"]}),
    (Role.PLANNER, {"districts": ["370498", "371599"]}),
    (Role.VIEWER, {"cities": ["3704"]}),
    (Role.VIEWER, {"provinces": ["37"]}),
    (Role.VIEWER, {"districts": ["371599"]}),
]


@pytest.fixture
def sample(db):
    insert_grid_district(db)
    ids = insert_sample_projects(db)
    return {**ids, **insert_other_districts(db)}


def _seen(db, scope: Scope) -> dict[str, object]:
    """Everything the rule decides, through the application's clause and the ``.sql`` files."""
    cache.clear()
    return {
        "projects": set(db.scalars(select(Project.id).where(project_clause(scope)))),
        "map": {f["id"] for f in view_features(db, scope, ProjectFilters.parse({"bbox": WHOLE_GRID}), zoom=18)["features"]},
        "search": {f["id"] for f in search_features(db, scope, q="-37")["features"]},
        "town_figures": {t["code"]: (t["project_count"], t["total_investment"])
                         for t in figures.town_figures(db, scope)},
        # roll-ups are refused to town officials (tests/test_rollup.py)
        "rollup": None if scope.limited else {
            d["code"]: (d["project_count"], d["total_investment"])
            for d in rollup(db, scope, Jurisdiction("province", "37"))["districts"]},
    }


def _towns_of(figures_by_town: dict, scope: Scope) -> dict:
    """The towns table has no row-level security: keep the towns the scope's figures cover."""
    return {code: value for code, value in figures_by_town.items()
            if (scope.town_codes is None or code in scope.town_codes)
            and (scope.district_codes is None or code[:6] in scope.district_codes)}


@pytest.mark.parametrize("role, reach", ACCOUNTS, ids=lambda v: str(v) if isinstance(v, str) else
                         ",".join(f"{k}={'+'.join(c)}" for k, c in v.items()) or "all")
def test_the_app_and_its_sql_files_show_what_row_level_security_shows(db, sample, role, reach):
    account = accounts.create_user(db, actor="test", username=f"rule_{role}", role=role, **reach)
    scope = scope_for(accounts.find_account(db, account.username))
    by_application = _seen(db, scope)
    assert by_application["projects"]  # every scope here sees something
    assert by_application["search"] and by_application["map"]
    if scope.whole_registry:
        assert by_application["projects"] == set(sample.values())
    token = accounts.issue_token(db, account=account)[0]
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, token)
    by_database = _seen(db, Scope(actor="db", role=Role.SYSTEM))  # no application filter at all
    by_database["town_figures"] = _towns_of(by_database["town_figures"], scope)
    by_application["town_figures"] = _towns_of(by_application["town_figures"], scope)
    # the districts table has no row-level security: keep the districts the scope's roll-up lists
    by_database["rollup"] = None if scope.limited else {
        code: value for code, value in by_database["rollup"].items()
        if scope.district_codes is None or code in scope.district_codes}
    assert by_application == by_database


def test_a_city_viewer_sees_the_districts_of_its_city_and_no_other(db, sample):
    account = accounts.create_user(db, actor="test", username="city", role=Role.VIEWER, cities=["3704"])
    scope = scope_for(accounts.find_account(db, "city"))
    assert scope.district_codes == {"370498", "370499"}
    seen = set(db.scalars(select(Project.district_code).where(project_clause(scope))))
    assert seen == {"370498", "370499"}


def test_an_anonymous_scope_sees_nothing_in_either_wall(db, sample):
    assert not set(db.scalars(select(Project.id).where(project_clause(Scope.anonymous()))))
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, None)
    assert not set(db.scalars(select(Project.id)))
