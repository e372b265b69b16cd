"""The one scoping rule (DESIGN §6): town users see the projects with any share in their towns,
figures for those towns only, and money only for their share; admin, bureau and planner see
everything; anyone else nothing (``scope_for`` fails closed).

Every query behind projects, figures, maps, tiles, exports and history goes through a ``Scope``.
The database enforces the same rule with row-level security, deriving the scope from the
request's secret (migration 0011, ``present_secret``); the clauses here are the application-level
wall.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, exists, select, text, true
from sqlalchemy.orm import Session

from registry.models import Project, ProjectTown, Town
from registry.roles import ACCOUNT_ROLES, SEES_EVERYTHING, Role


@dataclass(frozen=True)
class Scope:
    actor: str
    role: Role
    town_codes: frozenset[str] | None = None  # None: the whole registry

    @classmethod
    def system(cls, actor: str = "system") -> "Scope":
        """Full access, for the CLI and maintenance jobs run by the operator (as the tables' owner)."""
        return cls(actor=actor, role=Role.SYSTEM)

    @property
    def limited(self) -> bool:
        return self.town_codes is not None

    @classmethod
    def anonymous(cls) -> "Scope":
        """Nobody signed in: no towns, so nothing is visible."""
        return cls(actor="anonymous", role=Role.ANONYMOUS, town_codes=frozenset())

    def sql_params(self) -> dict:
        """Bound parameters for ``.sql`` files: ``:scope_towns`` is NULL or a text[] of codes.

        The files repeat ``project_clause`` in SQL; ``tests/test_scope_rule.py`` checks each of
        them against the database's own rule (``eqreg_visible_towns()``, migration 0011).
        """
        return {"scope_towns": None if self.town_codes is None else sorted(self.town_codes)}


def project_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause on ``Project``: visible projects (any share in the scope's towns)."""
    if not scope.limited:
        return true()
    return exists(select(ProjectTown.project_id).where(
        ProjectTown.project_id == Project.id, ProjectTown.town_code.in_(scope.town_codes)))


def share_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause on ``ProjectTown``: the shares whose money the scope may count."""
    return true() if not scope.limited else ProjectTown.town_code.in_(scope.town_codes)


def town_clause(scope: Scope) -> ColumnElement[bool]:
    """WHERE clause on ``Town``: the towns whose figures the scope may see."""
    return true() if not scope.limited else Town.code.in_(scope.town_codes)


def scope_for(user) -> Scope:
    """The scope of a signed-in account (anything with ``username``, ``role``, ``town_codes``).

    Admin, bureau and planner see the whole registry; a town user its towns (none assigned:
    nothing visible); any other role nothing at all (fail closed).
    """
    role = Role(user.role) if user.role in ACCOUNT_ROLES else Role.ANONYMOUS
    if role in SEES_EVERYTHING:
        return Scope(actor=user.username, role=role)
    towns = frozenset(user.town_codes) if role == Role.TOWN else frozenset()
    return Scope(actor=user.username, role=role, town_codes=towns)


# The database derives the scope itself from the request's secret (migration 0011): the app only
# says which secret the request came with. Transaction-local, so it never outlives the
# transaction on a pooled connection.
_SET_SECRET = "set_config('eqreg.session', coalesce(:secret, ''), true)"


# What the database made of the secret, as ``Scope.database_key`` writes it. CASE evaluates its
# condition first, so the scope is derived after the secret was set, in the same statement.
_DATABASE_SCOPE = (f"CASE WHEN {_SET_SECRET} IS NULL THEN NULL ELSE "
                   "(SELECT s.role || '|' || coalesce(array_to_string(s.towns, ','), '*') "
                   "FROM eqreg_request_scope() s) END")


def present_secret(connection: Connection | Session, secret: str | None, *, also: str | None = None):
    """Hand PostgreSQL the request's session id or API token for the current transaction.

    Row-level security then shows what that session's account may see (nothing for no secret,
    or for an unknown, expired or revoked one). The row returned starts with that scope as the
    database sees it (``database_key``); ``also`` (``"<columns> FROM <table>"``, a one-row query)
    is read in the same round trip, its columns follow.
    """
    return connection.execute(_statement(also), {"secret": secret}).one()


def database_key(scope: Scope) -> str:
    """``scope`` written as ``present_secret`` reports the database's: ``role|towns`` (``*``: all)."""
    towns = "*" if scope.town_codes is None else ",".join(sorted(scope.town_codes))
    return f"{scope.role}|{towns}"


@lru_cache(maxsize=8)
def _statement(also: str | None):
    return text(f"SELECT {_DATABASE_SCOPE}" + (f", {also}" if also else ""))
