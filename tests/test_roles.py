"""The roles are one enum (``registry.roles``) and the database uses the same values: the
``users.role`` check, which roles row-level security lets see every row, and which may edit
targets (migration 0011)."""
from __future__ import annotations

import re

import psycopg.errors
import pytest
from sqlalchemy import exc, text

from conftest import GRID_TOWNS, token_for
from registry import accounts
from registry.roles import ACCOUNT_ROLES, EDITORS, SEES_EVERYTHING, Role
from registry.scope import Scope, present_secret, scope_for


def test_the_users_role_check_allows_exactly_the_account_roles(db):
    check = db.scalar(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_users_role'"))
    assert set(re.findall(r"'(\w+)'", check)) == {str(role) for role in ACCOUNT_ROLES}
    assert set(accounts.ROLES) == {str(role) for role in ACCOUNT_ROLES}


@pytest.mark.parametrize("role", sorted(ACCOUNT_ROLES))
def test_the_database_and_the_app_give_a_role_the_same_reach(db, role):
    towns = [GRID_TOWNS[0][0]] if role == Role.TOWN else []
    reach = {"cities": ["3704"]} if role == Role.VIEWER else {}
    account = accounts.create_user(db, actor="test", username=f"r_{role}", role=role, towns=towns, **reach)
    token = accounts.issue_token(db, account=account)[0]
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, token)
    assert db.scalar(text("SELECT eqreg_request_role()")) == role
    visible = db.scalar(text("SELECT eqreg_visible_towns()"))
    districts = db.scalar(text("SELECT eqreg_visible_districts()"))
    scope = scope_for(account)
    assert (visible is None and districts is None) == (role in SEES_EVERYTHING) == scope.whole_registry
    assert districts == (None if scope.district_codes is None else sorted(scope.district_codes))
    statement = text("INSERT INTO target_jurisdictions (code, name, kind) VALUES ('zz', 'x', 'zone')")
    if role in EDITORS:
        db.execute(statement)
        return
    with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
        db.execute(statement)
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)


def test_an_unknown_role_fails_closed_in_the_app(db):
    stray = accounts.Account(id=0, username="x", display_name=None, role="superuser", active=True, town_codes=())
    assert scope_for(stray) == Scope(actor="x", role=Role.ANONYMOUS, town_codes=frozenset())
