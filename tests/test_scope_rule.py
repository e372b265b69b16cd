"""One scope rule (issue 10 item 4): the application's clauses and the ``.sql`` files that repeat
the visibility rule with ``:scope_towns`` must show exactly what the database's own rule —
row-level security deriving the scope from the request's secret (``eqreg_visible_towns()``,
migration 0011) — shows the web role for the same account.

Each check runs the application's side as the owner (row-level security does not apply) with the
account's ``Scope``, and the database's side as ``eqreg_app`` with the account's token and the
unlimited ``:scope_towns`` (NULL), so only the database's rule limits it.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from conftest import GRID_TOWNS, insert_grid_district, insert_sample_projects, token_for
from registry import cache, figures
from registry.models import Project
from registry.roles import Role
from registry.scope import Scope, present_secret, project_clause
from registry.filters import ProjectFilters
from registry.map_view import search_features, view_features

WHOLE_GRID = "116.9,34.9,117.4,35.2"
SCOPES = [Scope(actor="t", role=Role.TOWN, town_codes=frozenset({code})) for code, _, _ in GRID_TOWNS] + [
    Scope(actor="b", role=Role.BUREAU)]


@pytest.fixture
def sample(db):
    insert_grid_district(db)
    return insert_sample_projects(db)


def _seen(db, scope: Scope) -> dict[str, object]:
    """Everything the rule decides, through the application's clause and the ``.sql`` files."""
    cache.clear()
    return {
        "projects": set(db.scalars(select(Project.id).where(project_clause(scope)))),
        "map": {f["id"] for f in view_features(db, scope, ProjectFilters.parse({"bbox": WHOLE_GRID}), zoom=18)["features"]},
        "search": {f["id"] for f in search_features(db, scope, q="370499")["features"]},
        "town_figures": {t["code"]: (t["project_count"], t["total_investment"])
                         for t in figures.town_figures(db, scope)
                         if scope.town_codes is None or t["code"] in scope.town_codes},
    }


def _as_web_role(db, scope: Scope) -> None:
    towns = sorted(scope.town_codes or ())
    token = token_for(db, scope.role, towns=towns)
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, token)


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.role + "-" + ",".join(sorted(s.town_codes or ())))
def test_the_app_and_its_sql_files_show_what_row_level_security_shows(db, sample, scope):
    by_application = _seen(db, scope)
    assert by_application["projects"]  # every scope here sees something
    _as_web_role(db, scope)
    by_database = _seen(db, Scope(actor="db", role=Role.SYSTEM))  # no application filter at all
    by_database["town_figures"] = {code: value for code, value in by_database["town_figures"].items()
                                   if scope.town_codes is None or code in scope.town_codes}
    assert by_application == by_database


def test_an_anonymous_scope_sees_nothing_in_either_wall(db, sample):
    assert not set(db.scalars(select(Project.id).where(project_clause(Scope.anonymous()))))
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, None)
    assert not set(db.scalars(select(Project.id)))
