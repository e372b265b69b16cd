"""``eqreg users add|list|disable|enable|passwd|towns|jurisdictions|sessions|revoke-sessions``: accounts from the command line.

Runs as the operator (the database owner, full scope); every change is audited with the actor
``cli:<OS user>``.
"""
from __future__ import annotations

import getpass
import sys

import click

from registry import accounts, user_sessions
from registry import db as registry_db

group = click.Group("users", help="用户：添加、列出、停用、改密码")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")


@group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(list(accounts.ROLES)), help="角色")
@click.option("--town", "towns", multiple=True, metavar="CODE", help="镇街代码（9 位，town 角色必填，可重复）")
@click.option("--district", "districts", multiple=True, metavar="CODE",
              help="区县代码（6 位，可重复）：发改局、规划人员只管这些区县（不指定：全部区县）；只读用户可读")
@click.option("--city", "cities", multiple=True, metavar="CODE", help="市代码（4 位，如 3704，可重复；viewer 角色）")
@click.option("--province", "provinces", multiple=True, metavar="CODE", help="省代码（2 位，如 37，可重复；viewer 角色）")
@click.option("--name", "display_name", help="显示的姓名")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（一行）")
def add(username: str, role: str, towns: tuple[str, ...], districts: tuple[str, ...], cities: tuple[str, ...],
        provinces: tuple[str, ...], display_name: str | None, password_stdin: bool) -> None:
    """Add a user (asks for the password unless --password-stdin)."""
    # checked before the password is asked for
    accounts.normalise_jurisdictions(role, districts=districts, cities=cities, provinces=provinces)
    password = _read_password(password_stdin)
    with registry_db.session_scope() as session:
        account = accounts.create_user(session, actor=_actor(), username=username, role=role,
                                       password=password, towns=towns, display_name=display_name,
                                       districts=districts, cities=cities, provinces=provinces)
    click.echo(f"已添加用户 {account.username}（{account.role_label}{_reach(account)}）。")


def _reach(account) -> str:
    if account.town_codes:
        return f"，镇街 {', '.join(account.town_codes)}"
    return f"，{account.jurisdiction_text}" if account.jurisdictions else ""


@group.command("list")
def list_users() -> None:
    """List users: name, role, towns, active, last sign-in."""
    with registry_db.session_scope() as session:
        rows = accounts.list_accounts(session)
    for a in rows:
        last = a.last_login_at.strftime("%Y-%m-%d %H:%M") if a.last_login_at else "-"
        reach = ",".join(a.town_codes) or ",".join(f"{level}:{code}" for level, code in a.jurisdictions)
        click.echo("\t".join([a.username, a.role, reach or "-",
                              "active" if a.active else "disabled", last]))


@group.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable a user (their API tokens are revoked)."""
    with registry_db.session_scope() as session:
        accounts.set_active(session, actor=_actor(), username=username, active=False)
    click.echo(f"已停用用户 {username}。")


@group.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Re-enable a disabled user."""
    with registry_db.session_scope() as session:
        accounts.set_active(session, actor=_actor(), username=username, active=True)
    click.echo(f"已启用用户 {username}。")


@group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（一行）")
def passwd(username: str, password_stdin: bool) -> None:
    """Set a user's password (their sessions and API tokens stop working)."""
    password = _read_password(password_stdin)
    with registry_db.session_scope() as session:
        accounts.set_password(session, actor=_actor(), username=username, password=password)
    click.echo(f"已更新用户 {username} 的密码。")


@group.command("towns")
@click.argument("username")
@click.option("--town", "towns", multiple=True, required=True, metavar="CODE", help="镇街代码（可重复）")
def towns(username: str, towns: tuple[str, ...]) -> None:
    """Replace a town user's towns."""
    with registry_db.session_scope() as session:
        account = accounts.set_towns(session, actor=_actor(), username=username, towns=towns)
    click.echo(f"用户 {username} 的镇街：{', '.join(account.town_codes)}。")


@group.command("jurisdictions")
@click.argument("username")
@click.option("--district", "districts", multiple=True, metavar="CODE", help="区县代码（6 位，可重复）")
@click.option("--city", "cities", multiple=True, metavar="CODE", help="市代码（4 位，可重复；viewer）")
@click.option("--province", "provinces", multiple=True, metavar="CODE", help="省代码（2 位，可重复；viewer）")
def jurisdictions(username: str, districts: tuple[str, ...], cities: tuple[str, ...],
                  provinces: tuple[str, ...]) -> None:
    """Replace the districts, cities or provinces of a bureau, planner or viewer account (none:
    a bureau or planner sees every district again)."""
    with registry_db.session_scope() as session:
        account = accounts.set_jurisdictions(session, actor=_actor(), username=username, districts=districts,
                                             cities=cities, provinces=provinces)
    click.echo(f"用户 {username} 的范围：{account.jurisdiction_text or '全部区县'}。")


@group.command("sessions")
@click.argument("username")
def sessions(username: str) -> None:
    """List a user's live browser sessions: id, signed in, expires, address, browser."""
    with registry_db.session_scope() as session:
        rows = user_sessions.live_sessions(session, username=username)
    for s in rows:
        click.echo("\t".join([str(s.id), s.created_at.strftime("%Y-%m-%d %H:%M"),
                              s.expires_at.strftime("%Y-%m-%d %H:%M"), s.ip or "-", s.user_agent or "-"]))


@group.command("revoke-sessions")
@click.argument("username")
@click.option("--id", "session_id", type=int, help="只结束这一个会话（见 eqreg users sessions）")
def revoke_sessions(username: str, session_id: int | None) -> None:
    """End a user's browser sessions (all, or one with --id); other workers within 5 seconds."""
    with registry_db.session_scope() as session:
        ended = user_sessions.revoke(session, actor=_actor(), username=username, session_id=session_id)
    click.echo(f"已结束用户 {username} 的 {ended} 个会话。")
