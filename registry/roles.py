"""The roles, once (DESIGN §6): accounts hold one of ``ACCOUNT_ROLES``; ``system`` is the operator
(CLI, maintenance) and ``anonymous`` nobody signed in — scopes, never accounts.

The database uses the same values: the ``users.role`` check (migration 0002) and the row-level
security of migrations 0011 and 0012 (``eqreg_request_scope``: which roles see every row; the target write
policies: which may edit). ``tests/test_roles.py`` checks that the two agree.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    BUREAU = "bureau"
    PLANNER = "planner"
    TOWN = "town"
    VIEWER = "viewer"  # reads the districts of its cities or provinces; writes nothing (0012)
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


ACCOUNT_ROLES = frozenset({Role.ADMIN, Role.BUREAU, Role.PLANNER, Role.TOWN, Role.VIEWER})
# Not limited to towns: the whole registry (every other role sees only its towns, or nothing).
# Bureau and planner accounts may be limited to districts instead (``Scope.district_codes``).
SEES_EVERYTHING = frozenset({Role.ADMIN, Role.BUREAU, Role.PLANNER, Role.SYSTEM})
# Limited to the districts of their jurisdictions (migration 0012); bureau/planner only when given any.
DISTRICT_LIMITED = frozenset({Role.BUREAU, Role.PLANNER, Role.VIEWER})
# Change projects, imports and targets.
EDITORS = frozenset({Role.ADMIN, Role.BUREAU, Role.SYSTEM})
SIGNED_IN = ACCOUNT_ROLES | {Role.SYSTEM}
USER_ADMINS = frozenset({Role.ADMIN, Role.SYSTEM})
