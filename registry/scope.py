"""The one scoping rule (DESIGN §6): town users see the projects with any share in their towns,
figures for those towns only, and money only for their share; everyone else sees everything.

Every query behind projects, figures, maps, tiles, exports and history goes through a ``Scope``.
The database enforces the same rule with row-level security (see the accounts migration); the
clauses here are the application-level wall.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, exists, select, text, true
from sqlalchemy.orm import Session

from registry.models import Project, ProjectTown, Town


@dataclass(frozen=True)
class Scope:
    actor: str
    role: str  # admin | bureau | town | planner | system
    town_codes: frozenset[str] | None = None  # None: the whole registry

    @classmethod
    def system(cls, actor: str = "system") -> "Scope":
        """Full access, for the CLI and maintenance jobs run by the operator."""
        return cls(actor=actor, role="system")

    @property
    def limited(self) -> bool:
        return self.town_codes is not None

    @classmethod
    def anonymous(cls) -> "Scope":
        """Nobody signed in: no towns, so nothing is visible."""
        return cls(actor="anonymous", role="anonymous", town_codes=frozenset())

    def sql_params(self) -> dict:
        """Bound parameters for ``.sql`` files: ``:scope_towns`` is NULL or a text[] of codes."""
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

    ``town`` users are limited to their towns (none assigned: nothing visible); admin, bureau and
    planner see the whole registry.
    """
    if user.role == "town":
        return Scope(actor=user.username, role="town", town_codes=frozenset(user.town_codes))
    return Scope(actor=user.username, role=user.role)


_SET_CONFIG = "set_config('eqreg.role', :role, true), set_config('eqreg.towns', :towns, true)"
_SET_SCOPE = text("SELECT " + _SET_CONFIG)


def _params(scope: Scope) -> dict:
    return {"role": scope.role, "towns": ",".join(sorted(scope.town_codes or ()))}


def apply_to_connection(connection: Connection, scope: Scope, *, also: str | None = None):
    """Like ``apply`` on a Core connection (used from the session's ``after_begin`` event).

    ``also`` (``"<columns> FROM <table>"``, a one-row query) is read in the same round trip; its
    row is returned after the two settings.
    """
    if also is None:
        return connection.execute(_SET_SCOPE, _params(scope)).one()
    return connection.execute(_combined(also), _params(scope)).one()


@lru_cache(maxsize=8)
def _combined(also: str):
    return text(f"SELECT {_SET_CONFIG}, {also}")


def apply(session: Session, scope: Scope) -> None:
    """Tell PostgreSQL the scope for the current transaction (read by the RLS policies)."""
    session.execute(_SET_SCOPE, _params(scope))
