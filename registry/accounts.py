"""Accounts: users, their towns or districts, passwords (argon2id), sign-in with rate limiting, API tokens.

Services follow the house rule: ``do_x(session, *, ...)``, they commit, and every change (and
every sign-in, failed sign-in and refusal) is written to the audit trail.

The web role writes no account table itself (migration 0017): every write here is a call of a
definer function that checks its own authority — an admin's request secret (or the owner, for the
CLI) for account changes, a password just checked (``eqreg_sign_in`` and its proof) for a new
session or token. The checks and messages stay here; the database refuses what they would let
through by mistake (``Forbidden``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Iterable

import psycopg.errors
from sqlalchemy import and_, delete, func, insert, literal_column, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from geo.admin_codes import LEVEL_DIGITS, is_level_code, level_code, town_code
from registry import audit, passwords
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound, RegistryError
from registry.models import ApiToken, LoginAttempt, User, UserJurisdiction, UserTown
from registry.roles import Role

# The labels of ACCOUNT_ROLES, keyed by their plain values (forms, the CLI's choices).
ROLES = {Role.ADMIN.value: "管理员", Role.BUREAU.value: "发改局", Role.TOWN.value: "镇街", Role.PLANNER.value: "规划人员",
         Role.VIEWER.value: "只读（市、省）"}
# Jurisdiction levels an account may be given (migration 0012), with their labels.
LEVELS = {"district": "区县", "city": "市", "province": "省"}
# Which levels each role takes: bureau and planner districts (none: every district, DESIGN §9),
# a viewer any (at least one); town users take towns instead, admin nothing.
_ROLE_LEVELS = {Role.BUREAU.value: ("district",), Role.PLANNER.value: ("district",),
                Role.VIEWER.value: ("district", "city", "province")}
MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
FAILURE_WINDOW = dt.timedelta(minutes=15)
MAX_FAILURES_PER_USER_IP = 5  # one username from one address; then 429 until the window has passed
MAX_FAILURES_PER_USER = 20  # one username from any addresses (distributed guessing)
MAX_FAILURES_PER_IP = 50  # one address, any usernames (spraying); known users of the address exempt
KNOWN_ADDRESS_PERIOD = dt.timedelta(days=30)
TOKEN_LIFETIME = dt.timedelta(days=30)
TOKEN_PREFIX = "eqr_"
_USERNAME = re.compile(r"^[^\s/\\:]{1,64}$")


class AuthenticationFailed(RegistryError):
    """Wrong username or password, or the account is disabled (deliberately not told apart)."""
    code = "authentication_failed"


class TooManyAttempts(RegistryError):
    code = "too_many_attempts"


@dataclass(frozen=True)
class Account:
    """What the rest of the app knows of a user: no ORM object crosses a session boundary."""
    id: int
    username: str
    display_name: str | None
    role: str
    active: bool
    town_codes: tuple[str, ...]
    last_login_at: dt.datetime | None = None
    # The districts the account is limited to (None: not limited by district), and the
    # (level, code) pairs it was given (filled where accounts are listed or changed).
    district_codes: tuple[str, ...] | None = None
    jurisdictions: tuple[tuple[str, str], ...] = ()

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    def codes_at(self, level: str) -> list[str]:
        """The codes given at one level (``district``, ``city``, ``province``)."""
        return [code for given, code in self.jurisdictions if given == level]

    @property
    def jurisdiction_text(self) -> str:
        """``区县 370403、市 3704`` (empty when none was given)."""
        return "、".join(f"{LEVELS.get(level, level)} {code}" for level, code in self.jurisdictions)


hash_password = passwords.hash_password


def normalise_town_code(code: str) -> str:
    """A 9-digit town code; 12-digit land-survey codes (``370403104000``) are cut to 9
    (``geo.admin_codes.town_code``); anything else raises ``InvalidInput``."""
    code = town_code(code)
    if not re.fullmatch(r"\d{9}", code):
        raise InvalidInput(f"镇街代码应为 9 位数字：{code!r}")
    return code


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def call_definer(session: Session, statement: str, **params):
    """Run one account-writing definer function (migration 0017); its refusal is ``Forbidden``."""
    try:
        return session.scalar(text(statement), params)
    except DBAPIError as exc:
        if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            session.rollback()
            raise Forbidden(exc.orig.diag.message_primary or "无权修改账号。") from exc
        raise


def new_proof() -> str:
    """A one-time secret for ``authenticate(proof=…)``: the database keeps it for one minute, for
    the one session (``registry.user_sessions.save``) or token (``issue_token``) of that sign-in."""
    return secrets.token_urlsafe(32)


def _pairs(given: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    given = list(given)
    return {"levels": [level for level, _ in given], "codes": [code for _, code in given]}


def towns_of_user():
    """A correlated subquery: the sorted town codes of ``User`` (text[], empty when none)."""
    return (select(func.coalesce(func.array_agg(aggregate_order_by(UserTown.town_code, UserTown.town_code)),
                                 literal_column("'{}'::text[]")))
            .where(UserTown.user_id == User.id).scalar_subquery())


def districts_of_user():
    """The districts ``User`` is limited to (text[]; NULL: not limited), by the database's own rule
    (``eqreg_account_districts``, migration 0012), which the request's scope also uses."""
    return func.eqreg_account_districts(User.id, User.role)


def account_of(user: User, towns: tuple[str, ...], districts=None,
               jurisdictions: tuple[tuple[str, str], ...] = ()) -> Account:
    """The ``Account`` of a user row read together with its towns (``towns_of_user``) and
    districts (``districts_of_user``)."""
    return Account(id=user.id, username=user.username, display_name=user.display_name, role=user.role,
                   active=user.active, town_codes=towns,
                   last_login_at=user.last_login_at,
                   district_codes=None if districts is None else tuple(districts),
                   jurisdictions=jurisdictions)


def _account(session: Session, user: User) -> Account:
    towns = tuple(session.scalars(select(UserTown.town_code).where(UserTown.user_id == user.id)
                                  .order_by(UserTown.town_code)))
    districts = session.scalar(select(func.eqreg_account_districts(user.id, user.role)))
    given = tuple((j.level, j.code) for j in session.scalars(
        select(UserJurisdiction).where(UserJurisdiction.user_id == user.id)
        .order_by(UserJurisdiction.level.desc(), UserJurisdiction.code)))
    return account_of(user, towns, districts, given)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        raise NotFound(f"没有用户 {username!r}。")
    return user


def get_account(session: Session, user_id: int) -> Account | None:
    """The account with this id, or None."""
    user = session.get(User, user_id)
    return None if user is None else _account(session, user)


def find_account(session: Session, username: str) -> Account:
    """The account with this username (raises NotFound)."""
    return _account(session, _user(session, username))


def list_accounts(session: Session) -> list[Account]:
    """Every account, by username."""
    return [_account(session, u) for u in session.scalars(select(User).order_by(User.username))]


def normalise_jurisdictions(role: str, *, districts: Iterable[str] = (), cities: Iterable[str] = (),
                            provinces: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Sorted (level, code) pairs checked against the role (raises ``InvalidInput``).

    Districts are 6 digits; a city 4 digits (``370400`` is taken as ``3704``), a province 2
    (``370000`` as ``37``). Bureau and planner accounts take districts only (none: every
    district); a viewer any level, at least one; other roles none.
    """
    pairs = set()
    for level, codes in (("district", districts), ("city", cities), ("province", provinces)):
        for raw in codes:
            code = level_code(raw, level)
            if not is_level_code(code, level):
                raise InvalidInput(f"{LEVELS[level]}代码应为 {LEVEL_DIGITS[level]} 位数字：{raw!r}")
            pairs.add((level, code))
    allowed = _ROLE_LEVELS.get(role, ())
    if any(level not in allowed for level, _ in pairs):
        raise InvalidInput("发改局、规划人员只能指定区县（--district）；只读用户可指定区县、市或省；"
                           "其他角色不指定。")
    if role == Role.VIEWER.value and not pairs:
        raise InvalidInput("只读用户至少需要一个区县、市或省（--district、--city 或 --province）。")
    return sorted(pairs)


def create_user(session: Session, *, actor: str, username: str, role: str, password: str | None = None,
                towns: Iterable[str] = (), display_name: str | None = None, districts: Iterable[str] = (),
                cities: Iterable[str] = (), provinces: Iterable[str] = ()) -> Account:
    """Add an account. ``town`` users need at least one town; other roles take none. Bureau and
    planner accounts may be limited to districts; a viewer needs a district, city or province."""
    username = (username or "").strip()
    if not _USERNAME.fullmatch(username):
        raise InvalidInput("用户名须为 1–64 个字符，不含空格、斜杠或冒号。")
    if role not in ROLES:
        raise InvalidInput(f"未知角色 {role!r}：应为 {', '.join(ROLES)} 之一。")
    codes = sorted({normalise_town_code(c) for c in towns})
    if role == "town" and not codes:
        raise InvalidInput("镇街用户至少需要一个镇街代码（--town）。")
    if role != "town" and codes:
        raise InvalidInput("只有镇街用户（town）需要指定镇街。")
    given = normalise_jurisdictions(role, districts=districts, cities=cities, provinces=provinces)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户 {username} 已存在。")
    display_name = (display_name or "").strip() or None
    user_id = call_definer(
        session, "SELECT eqreg_user_create(:username, :role, :display_name, :password_hash, "
                 "CAST(:towns AS text[]), CAST(:levels AS text[]), CAST(:codes AS text[]))",
        username=username, role=role, display_name=display_name,
        password_hash=hash_password(password) if password else None, towns=codes, **_pairs(given))
    audit.record(session, actor=actor, action="user_create", entity="user", entity_id=username,
                 after={"role": role, "towns": codes, "display_name": display_name,
                        **({"jurisdictions": [list(p) for p in given]} if given else {})})
    session.commit()
    return _account(session, session.get(User, user_id))


def set_active(session: Session, *, actor: str, username: str, active: bool) -> Account:
    """Disable (also ending every token and browser session) or re-enable an account."""
    user = _user(session, username)
    if actor == user.username and not active:
        raise InvalidInput("不能停用自己的账号。")
    before = user.active
    call_definer(session, "SELECT eqreg_user_set_active(:username, :active)",  # disabling ends its credentials
                 username=user.username, active=active)
    audit.record(session, actor=actor, action="user_enable" if active else "user_disable",
                 entity="user", entity_id=user.username, before={"active": before}, after={"active": active})
    session.commit()
    session.refresh(user)
    return _account(session, user)


def set_password(session: Session, *, actor: str, username: str, password: str) -> None:
    """Set a new password; earlier sessions and tokens of this user stop working."""
    user = _user(session, username)
    call_definer(session, "SELECT eqreg_user_set_password(:username, :password_hash)",  # ends its credentials
                 username=user.username, password_hash=hash_password(password))
    audit.record(session, actor=actor, action="user_password", entity="user", entity_id=user.username)
    session.commit()


def set_towns(session: Session, *, actor: str, username: str, towns: Iterable[str]) -> Account:
    """Replace a town user's towns."""
    user = _user(session, username)
    codes = sorted({normalise_town_code(c) for c in towns})
    if user.role != "town":
        raise InvalidInput("只有镇街用户（town）可以指定镇街。")
    if not codes:
        raise InvalidInput("镇街用户至少需要一个镇街代码。")
    before = _account(session, user).town_codes
    call_definer(session, "SELECT eqreg_user_set_towns(:username, CAST(:towns AS text[]))",
                 username=user.username, towns=codes)
    audit.record(session, actor=actor, action="user_towns", entity="user", entity_id=user.username,
                 before={"towns": list(before)}, after={"towns": codes})
    session.commit()
    return _account(session, user)


def set_jurisdictions(session: Session, *, actor: str, username: str, districts: Iterable[str] = (),
                      cities: Iterable[str] = (), provinces: Iterable[str] = ()) -> Account:
    """Replace the districts, cities or provinces of a bureau, planner or viewer account (none, for
    bureau and planner: every district again)."""
    user = _user(session, username)
    if user.role not in _ROLE_LEVELS:
        raise InvalidInput("只有发改局、规划人员和只读用户可以指定区县、市或省。")
    given = normalise_jurisdictions(user.role, districts=districts, cities=cities, provinces=provinces)
    before = _account(session, user).jurisdictions
    call_definer(session, "SELECT eqreg_user_set_jurisdictions(:username, CAST(:levels AS text[]), "
                          "CAST(:codes AS text[]))", username=user.username, **_pairs(given))
    audit.record(session, actor=actor, action="user_jurisdictions", entity="user", entity_id=user.username,
                 before={"jurisdictions": [list(p) for p in before]},
                 after={"jurisdictions": [list(p) for p in given]})
    session.commit()
    return _account(session, user)


# The three counters of a sign-in attempt, read under the advisory locks of its username and
# address (see ``authenticate``). A success resets the counters of that username.
_ATTEMPT_COUNTS = text("""
    WITH recent AS (
      SELECT username, ip, succeeded, at FROM login_attempts
      WHERE at >= :since AND (username = :username OR ip = :ip)),
    last_success AS (
      SELECT max(at) FILTER (WHERE ip = :ip) AS from_here, max(at) AS anywhere
      FROM login_attempts WHERE username = :username AND succeeded AND at >= :since)
    SELECT
      count(*) FILTER (WHERE r.username = :username AND r.ip = :ip AND NOT r.succeeded
                       AND r.at > coalesce(s.from_here, :since)) AS user_here,
      count(*) FILTER (WHERE r.username = :username AND NOT r.succeeded
                       AND r.at > coalesce(s.anywhere, :since)) AS user_anywhere,
      count(*) FILTER (WHERE r.ip = :ip AND NOT r.succeeded) AS address,
      EXISTS (SELECT 1 FROM login_attempts k WHERE k.username = :username AND k.ip = :ip
              AND k.succeeded AND k.at >= :known_since) AS known_here
    FROM recent r, last_success s""")
# Two-key advisory locks: the class number keeps them apart from any other lock in the database.
_LOCK_CLASS_USERNAME, _LOCK_CLASS_ADDRESS = 7301, 7302
_LOCK = text("SELECT pg_advisory_xact_lock(:cls, hashtext(:key))")


def _too_many_failures(counts) -> bool:
    if counts.user_here >= MAX_FAILURES_PER_USER_IP or counts.user_anywhere >= MAX_FAILURES_PER_USER:
        return True
    # An address full of failures (one attacker, or everyone behind one proxy) still lets in the
    # people who signed in from it before, so spraying random usernames locks out nobody known.
    return counts.address >= MAX_FAILURES_PER_IP and not counts.known_here


def _record_attempt(session: Session, *, username: str, ip: str) -> int:
    """Count this attempt's failures and record it as failed, atomically; returns its id.

    Attempts of one username (and of one address) queue on transaction-level advisory locks, so
    parallel guesses are counted one after another: the 6th of 16 parallel wrong passwords sees
    the five before it. The attempt is committed as a failure *before* the password is checked
    and turned into a success afterwards, so a guess in flight counts against the ones behind it.
    """
    session.execute(_LOCK, {"cls": _LOCK_CLASS_USERNAME, "key": username})
    session.execute(_LOCK, {"cls": _LOCK_CLASS_ADDRESS, "key": ip})
    now = _now()
    counts = session.execute(_ATTEMPT_COUNTS, {"username": username, "ip": ip, "since": now - FAILURE_WINDOW,
                                               "known_since": now - KNOWN_ADDRESS_PERIOD}).one()
    if _too_many_failures(counts):
        audit.record(session, actor="anonymous", action="login_blocked", entity="user", entity_id=username,
                     details={"ip": ip})
        session.commit()
        raise TooManyAttempts("登录失败次数过多，请 15 分钟后再试。")
    attempt_id = session.scalar(insert(LoginAttempt).values(username=username, ip=ip, succeeded=False)
                                .returning(LoginAttempt.id))
    # Failures matter for one window; successes for KNOWN_ADDRESS_PERIOD (the exemption above).
    session.execute(delete(LoginAttempt).where(or_(
        and_(LoginAttempt.at < now - dt.timedelta(days=1), LoginAttempt.succeeded.is_(False)),
        LoginAttempt.at < now - KNOWN_ADDRESS_PERIOD)))
    session.commit()  # releases the locks: the password check (slow on purpose) runs outside them
    return attempt_id


def authenticate(session: Session, *, username: str, password: str, ip: str, proof: str | None = None) -> Account:
    """Check a password, with rate limiting; every outcome is audited. With ``proof``
    (``new_proof()``) the database lets that secret start one session or token for this account
    within a minute: nothing else can (migration 0017).

    Raises ``TooManyAttempts`` after 5 failures for one username from one address, or 20 for one
    username from anywhere, within 15 minutes (a success resets both), or after 50 failures from
    one address for any usernames — except for a username that signed in from that address in the
    last 30 days. Raises ``AuthenticationFailed`` for a wrong password, an unknown user or a
    disabled account (one message for all, so accounts cannot be probed).
    """
    username = (username or "").strip()[:64]
    ip = ip or "unknown"
    attempt_id = _record_attempt(session, username=username, ip=ip)
    user = session.scalar(select(User).where(User.username == username)) if username else None
    # The web role reads no hash (migration 0011): the database compares what the password derives,
    # and on success notes the sign-in (and a rehash) and keeps the proof (0017).
    ok = passwords.sign_in(session, username=username, password=password or "", proof=proof)
    if not ok or user is None:
        reason = "unknown_user" if user is None else ("disabled" if not user.active else "bad_password")
        audit.record(session, actor="anonymous", action="login_failed", entity="user", entity_id=username,
                     details={"ip": ip, "reason": reason})
        session.commit()
        raise AuthenticationFailed("用户名或密码错误，或账号已停用。")
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True))
    audit.record(session, actor=user.username, action="login", entity="user", entity_id=user.username,
                 details={"ip": ip})
    session.commit()
    session.refresh(user)
    return _account(session, user)


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(session: Session, *, account: Account, proof: str | None = None,
                lifetime: dt.timedelta = TOKEN_LIFETIME) -> tuple[str, dt.datetime]:
    """A new API token for ``account``: returns the secret (shown once) and its expiry.

    The web role needs the ``proof`` its ``authenticate`` was given (the database makes the token
    for the account whose password that checked); the owner (CLI, tests) may name the account.
    """
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = call_definer(session, "SELECT eqreg_token_issue(:secret, :lifetime, :proof, :user_id)",
                              secret=secret, lifetime=lifetime, proof=proof,
                              user_id=None if proof else account.id)
    audit.record(session, actor=account.username, action="token_issue", entity="user",
                 entity_id=account.username, details={"expires_at": expires_at.isoformat()})
    session.commit()
    return secret, expires_at


def account_for_token(session: Session, secret: str) -> Account | None:
    """The active account a valid (unexpired, unrevoked) token belongs to, else None.

    One statement (user, token check and towns together): it runs on every API request.
    """
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(User, towns_of_user().label("towns"), districts_of_user().label("districts"))
        .join(ApiToken, ApiToken.user_id == User.id).where(
            ApiToken.token_hash == _token_hash(secret), ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > func.now(), User.active.is_(True))).one_or_none()
    return None if row is None else account_of(row.User, tuple(row.towns), row.districts)


def revoke_token(session: Session, *, secret: str, actor: str) -> bool:
    """Revoke one token; True when it existed and was still live."""
    done = call_definer(session, "SELECT eqreg_token_revoke(:secret)", secret=secret or "")
    if done:
        audit.record(session, actor=actor, action="token_revoke", entity="user", entity_id=actor)
    session.commit()
    return bool(done)
