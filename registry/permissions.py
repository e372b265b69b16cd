"""One predicate per action (DESIGN §6). Views call these and hand the answer to
``web.guard.require``; they never test roles themselves.

Reading is governed by the one scoping rule in ``registry.scope``: an object out of a user's scope
is treated as missing (404), not forbidden, so its existence does not leak.
"""
from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from registry.models import Project
from registry.roles import EDITORS, SIGNED_IN, USER_ADMINS, Role
from registry.scope import Scope, project_clause

REPORTERS = EDITORS | {Role.TOWN}


def can_view_project(session: Session, scope: Scope, project_id: int) -> bool:
    """The project exists (not deleted) and has a share in the scope (any project when unlimited)."""
    if scope.role not in SIGNED_IN:
        return False
    return bool(session.scalar(select(exists().where(
        Project.id == project_id, Project.deleted_at.is_(None), project_clause(scope)))))


def can_create_project(scope: Scope) -> bool:
    """Register new projects: bureau and admin."""
    return scope.role in EDITORS


def can_edit_project(scope: Scope) -> bool:
    """Edit or delete any project's data: bureau and admin."""
    return scope.role in EDITORS


def can_report_progress(scope: Scope) -> bool:
    """The role part of filing progress: bureau and admin, and town users (whose scope already
    limits them to their towns' projects). Pair it with visibility of the project."""
    return scope.role in REPORTERS


def can_file_progress(session: Session, scope: Scope, project_id: int) -> bool:
    """File a progress update: bureau and admin on any project; town users on their towns' projects."""
    return can_report_progress(scope) and can_view_project(session, scope, project_id)


def can_view_reports(scope: Scope) -> bool:
    """See the monthly reporting lists (本月未上报): anyone signed in, within their scope."""
    return scope.role in SIGNED_IN


def can_import(scope: Scope) -> bool:
    """Upload spreadsheets of projects: bureau and admin."""
    return scope.role in EDITORS


def can_export(scope: Scope) -> bool:
    """Export GeoJSON/CSV/XLSX/GPKG. Town users may too: the export is limited to their scope."""
    return scope.role in SIGNED_IN


def can_admin_users(scope: Scope) -> bool:
    """Create, disable and edit accounts: admin."""
    return scope.role in USER_ADMINS


def can_view_rollup(scope: Scope) -> bool:
    """See a city's or province's roll-up (汇总): anyone signed in whose scope is whole districts
    (viewers, bureaus, planners, admin). Town users see their towns' share only, never a district's
    whole (``registry.rollup``)."""
    return scope.role in SIGNED_IN and not scope.limited
