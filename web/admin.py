"""``/admin/users``: the administrator's page for accounts (list, add, disable/enable, towns,
districts/cities/provinces, password, browser sessions). Admin only; every change goes through ``registry.accounts`` and is audited there."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from registry import accounts, browse, permissions, user_sessions
from registry.errors import RegistryError
from registry.scope import Scope
from web import auth, database

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only():
    auth.require(permissions.can_admin_users(auth.current_scope()))


def _towns_field(values: list[str]) -> list[str]:
    """Town codes from the town picker (one value per chosen town), or typed, comma-separated."""
    return [code for value in values for code in re.split(r"[\s,，;；、]+", value or "") if code]


def _jurisdiction_fields(form) -> dict[str, list[str]]:
    """Districts, cities and provinces typed into the form (comma- or space-separated)."""
    return {"districts": _towns_field(form.getlist("districts")), "cities": _towns_field(form.getlist("cities")),
            "provinces": _towns_field(form.getlist("provinces"))}


@bp.get("/users")
def users():
    session = database.session()
    groups = browse.town_groups(session, Scope.system())  # any town may be assigned
    return render_template("admin_users.html", users=accounts.list_accounts(session), roles=accounts.ROLES,
                           town_groups=groups, town_names={c: n for _d, _n, towns in groups for c, n in towns})


@bp.post("/users")
def add_user():
    form = request.form
    _run(accounts.create_user, username=form.get("username", ""), role=form.get("role", ""),
         password=form.get("password") or None, towns=_towns_field(form.getlist("towns")),
         display_name=form.get("display_name"), done=_l("User %(username)s added."), **_jurisdiction_fields(form))
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/active")
def set_active(username: str):
    active = request.form.get("active") == "1"
    _run(accounts.set_active, username=username, active=active,
         done=_l("User %(username)s enabled.") if active else _l("User %(username)s disabled."))
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/towns")
def set_towns(username: str):
    _run(accounts.set_towns, username=username, towns=_towns_field(request.form.getlist("towns")),
         done=_l("Towns of user %(username)s updated."))
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/jurisdictions")
def set_jurisdictions(username: str):
    """Replace the districts (bureau, planner) or districts, cities and provinces (viewer) of an account."""
    _run(accounts.set_jurisdictions, username=username, done=_l("Jurisdictions of user %(username)s updated."),
         **_jurisdiction_fields(request.form))
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/password")
def set_password(username: str):
    _run(accounts.set_password, username=username, password=request.form.get("password", ""),
         done=_l("Password of user %(username)s reset."))
    return redirect(url_for("admin.users"))


@bp.get("/users/<username>/sessions")
def sessions(username: str):
    try:
        live = user_sessions.live_sessions(database.session(), username=username)
    except RegistryError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.users"))
    return render_template("admin_user_sessions.html", username=username, sessions=live)


@bp.post("/users/<username>/sessions/revoke")
def revoke_sessions(username: str):
    """End one session (form field ``session_id``) or, without it, every session of the user."""
    raw = request.form.get("session_id", "")
    if raw and not (raw.isdigit() and len(raw) < 19):  # a bad id must not end every session
        abort(400, description=_l("Invalid session number."))
    _run(user_sessions.revoke, username=username, session_id=int(raw) if raw else None,
         done=_l("Sessions of user %(username)s ended."))
    return redirect(url_for("admin.sessions", username=username))


def _run(service, *, done, **kwargs) -> None:
    """Call an accounts service; its Chinese message (success or refusal) is shown on the page."""
    try:
        service(database.session(), actor=auth.current_scope().actor, **kwargs)
    except RegistryError as exc:
        database.session().rollback()
        flash(exc.message, "error")
    else:
        flash(str(done) % {"username": kwargs.get("username", "")}, "ok")
