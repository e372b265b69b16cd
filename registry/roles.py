"""The roles, once (DESIGN §6): accounts hold one of ``ACCOUNT_ROLES``; ``system`` is the operator
(CLI, maintenance) and ``anonymous`` nobody signed in — scopes, never accounts.

The database uses the same values: the ``users.role`` check (migration 0002) and the row-level
security of migration 0011 (``eqreg_request_scope``: which roles see every row; the target write
policies: which may edit). ``tests/test_roles.py`` checks that the two agree.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    BUREAU = "bureau"
    PLANNER = "planner"
    TOWN = "town"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


ACCOUNT_ROLES = frozenset({Role.ADMIN, Role.BUREAU, Role.PLANNER, Role.TOWN})
# Not limited to towns: the whole registry (every other role sees only its towns, or nothing).
SEES_EVERYTHING = frozenset({Role.ADMIN, Role.BUREAU, Role.PLANNER, Role.SYSTEM})
# Change projects, imports and targets.
EDITORS = frozenset({Role.ADMIN, Role.BUREAU, Role.SYSTEM})
SIGNED_IN = ACCOUNT_ROLES | {Role.SYSTEM}
USER_ADMINS = frozenset({Role.ADMIN, Role.SYSTEM})
