"""The web role writes no account table itself (migration 0017, docs/security.md).

What a stacked statement injected into the web role (``eqreg_app``, with a live bureau or town
session) could try: write ``users``, ``user_towns``, ``user_jurisdictions``, ``api_tokens`` or
``user_sessions`` directly, call the admin functions, or mint a session or token without the
password. Each is refused by PostgreSQL; the app's own paths (sign-in with its proof, an admin's
request) still work.
"""
from __future__ import annotations

import datetime as dt

import psycopg.errors
import pytest
from sqlalchemy import exc, text

from conftest import token_for
from registry import accounts, user_sessions
from registry.errors import Forbidden
from registry.scope import present_secret

PASSWORD = "right-password"

DIRECT_WRITES = [
    "INSERT INTO user_sessions (secret_hash, user_id, expires_at) "
    "VALUES (repeat('a', 64), (SELECT id FROM users WHERE username = 'victim'), now() + interval '1 day')",
    "UPDATE user_sessions SET user_id = (SELECT id FROM users WHERE username = 'victim')",
    "UPDATE users SET role = 'admin'",
    "UPDATE users SET password_hash = 'x' WHERE username = 'victim'",
    "INSERT INTO users (username, role) VALUES ('mallory', 'admin')",
    "DELETE FROM users WHERE username = 'victim'",
    "INSERT INTO api_tokens (user_id, token_hash, expires_at) "
    "VALUES ((SELECT id FROM users WHERE username = 'victim'), repeat('b', 64), now() + interval '1 day')",
    "UPDATE api_tokens SET revoked_at = NULL",
    "INSERT INTO user_towns (user_id, town_code) SELECT id, '370499002' FROM users",
    "DELETE FROM user_towns",
    "INSERT INTO user_jurisdictions (user_id, level, code) SELECT id, 'province', '37' FROM users",
    "DELETE FROM user_jurisdictions",
    "SELECT * FROM sign_in_proofs",
    "SELECT eqreg_take_proof('x')",
    "SELECT eqreg_revoke_credentials(1)",
]

ADMIN_CALLS = [
    "SELECT eqreg_user_create('mallory', 'admin', NULL, NULL, '{}', '{}', '{}')",
    "SELECT eqreg_user_set_active('victim', false)",
    "SELECT eqreg_user_set_password('victim', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA')",
    "SELECT eqreg_user_set_towns('victim', '{370499002}')",
    "SELECT eqreg_user_set_jurisdictions('victim', '{province}', '{37}')",
    "SELECT eqreg_user_revoke_sessions('victim', NULL)",
]


def _as_app(db, secret: str | None) -> None:
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, secret)


def _refused(db, statement: str, **params) -> None:
    with pytest.raises(exc.DBAPIError) as raised, db.begin_nested():
        db.execute(text(statement), params)
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege), raised.value.orig


@pytest.fixture
def victim(db):
    """An account with a password and a live session, made as the owner."""
    account = accounts.create_user(db, actor="test", role="planner", username="victim", password=PASSWORD)
    user_sessions.save(db, secret="victim-session", data={}, user_id=account.id, ip=None, user_agent=None)
    return account


@pytest.mark.parametrize("role,reach", [("bureau", {}), ("town", {"towns": ["370499001"]}),
                                        ("viewer", {"provinces": ["37"]})])
@pytest.mark.parametrize("statement", DIRECT_WRITES)
def test_the_web_role_cannot_write_account_tables_directly(db, victim, role, reach, statement):
    _as_app(db, token_for(db, role, **reach))
    _refused(db, statement)


@pytest.mark.parametrize("role,reach", [("bureau", {}), ("planner", {}), ("town", {"towns": ["370499001"]}),
                                        ("anonymous", None)])
@pytest.mark.parametrize("statement", ADMIN_CALLS)
def test_the_admin_functions_refuse_anyone_but_an_admin(db, victim, role, reach, statement):
    _as_app(db, None if reach is None else token_for(db, role, **reach))
    _refused(db, statement)


def test_an_admins_request_may_change_accounts_through_the_functions(db, victim):
    _as_app(db, token_for(db, "admin"))
    db.execute(text("SELECT eqreg_user_set_towns('victim', '{}')"))
    db.execute(text("SELECT eqreg_user_set_jurisdictions('victim', '{district}', '{370499}')"))
    assert db.scalar(text("SELECT eqreg_user_revoke_sessions('victim', NULL)")) == 1
    db.execute(text("SELECT eqreg_user_set_active('victim', false)"))
    assert db.scalar(text("SELECT active FROM users WHERE username = 'victim'")) is False
    assert db.scalar(text("SELECT eqreg_account_districts(id, role) FROM users WHERE username = 'victim'")) == ["370499"]


def test_the_registry_reports_a_refused_admin_change_as_forbidden(db, victim):
    _as_app(db, token_for(db, "bureau"))
    with pytest.raises(Forbidden):
        accounts.set_active(db, actor="bureau", username="victim", active=False)


def _candidate(db, username: str, password: str) -> str:
    from registry import passwords
    row = db.execute(text("SELECT settings, hash_chars FROM eqreg_password_settings(:u)"), {"u": username}).one()
    return passwords.derive(row.settings, row.hash_chars, password)


def test_no_session_or_token_without_the_password_just_checked(db, victim):
    attacker = token_for(db, "bureau")
    wrong = _candidate(db, "victim", "wrong-password")
    right = _candidate(db, "victim", PASSWORD)
    _as_app(db, attacker)
    week = dt.timedelta(days=7)
    # Naming the account, or a proof nobody made, is refused.
    _refused(db, "SELECT eqreg_session_save('s1', '{}', NULL, '', :week, NULL, :uid)", week=week, uid=victim.id)
    _refused(db, "SELECT eqreg_session_save('s2', '{}', NULL, '', :week, :proof, NULL)", week=week, proof="p" * 43)
    _refused(db, "SELECT eqreg_token_issue('eqr_t1', :week, NULL, :uid)", week=week, uid=victim.id)
    _refused(db, "SELECT eqreg_token_issue('eqr_t2', :week, :proof, NULL)", week=week, proof="p" * 43)
    # A wrong password leaves no proof behind.
    assert db.scalar(text("SELECT eqreg_sign_in('victim', :c, :proof, NULL)"), {"c": wrong, "proof": "q" * 43}) is False
    _refused(db, "SELECT eqreg_token_issue('eqr_t3', :week, :proof, NULL)", week=week, proof="q" * 43)
    # The right one does: one session, for the account whose password it was, once.
    assert db.scalar(text("SELECT eqreg_sign_in('victim', :c, :proof, NULL)"), {"c": right, "proof": "r" * 43}) is True
    db.execute(text("SELECT eqreg_session_save('s3', '{}', NULL, '', :week, :proof, :other)"),
               {"week": week, "proof": "r" * 43, "other": 1})
    assert db.scalar(text("SELECT user_id FROM user_sessions WHERE secret_hash = encode(sha256('s3'), 'hex')")) \
        == victim.id
    _refused(db, "SELECT eqreg_token_issue('eqr_t4', :week, :proof, NULL)", week=week, proof="r" * 43)


def test_logout_and_token_revoke_end_only_the_credential_presented(db, victim):
    token = token_for(db, "bureau", username="b1")
    other = token_for(db, "bureau", username="b2")
    _as_app(db, token)
    db.execute(text("SELECT eqreg_session_end('not-the-victims')"))
    assert db.scalar(text("SELECT eqreg_token_revoke('eqr_unknown')")) is False
    assert db.scalar(text("SELECT eqreg_token_revoke(:t)"), {"t": token}) is True
    db.execute(text("RESET ROLE"))
    live = db.scalars(text("SELECT u.username FROM api_tokens t JOIN users u ON u.id = t.user_id "
                           "WHERE t.revoked_at IS NULL")).all()
    assert live == ["b2"] and other
    assert db.scalar(text("SELECT revoked_at FROM user_sessions WHERE secret_hash = encode(sha256('victim-session'), "
                          "'hex')")) is None


def test_signing_in_as_the_web_role_still_makes_a_session_and_a_token(db, victim):
    _as_app(db, None)
    proof = accounts.new_proof()
    account = accounts.authenticate(db, username="victim", password=PASSWORD, ip="10.0.0.9", proof=proof)
    assert account.id == victim.id and account.last_login_at is not None
    secret, _ = accounts.issue_token(db, account=account, proof=proof)
    assert accounts.account_for_token(db, secret).username == "victim"
    proof = accounts.new_proof()
    accounts.authenticate(db, username="victim", password=PASSWORD, ip="10.0.0.9", proof=proof)
    user_sessions.save(db, secret="fresh", data={"_user_id": str(victim.id)}, user_id=victim.id, ip=None,
                       user_agent="ua", proof=proof)
    assert user_sessions.load(db, "fresh").account.username == "victim"
    user_sessions.end(db, secret="fresh")
    assert user_sessions.load(db, "fresh") is None


def _check_refused(db, statement: str, **params) -> None:
    with pytest.raises(exc.IntegrityError) as raised, db.begin_nested():
        db.execute(text(statement), params)
    assert isinstance(raised.value.orig, psycopg.errors.CheckViolation), raised.value.orig


def test_a_sign_in_cannot_store_a_weak_hash_of_its_own_password(db, victim):
    """Migration 0021: whoever knows the password still cannot swap its hash for a cheap one."""
    from argon2.low_level import Type, hash_secret

    from registry import passwords
    _as_app(db, None)
    right = _candidate(db, "victim", PASSWORD)
    cheap = hash_secret(PASSWORD.encode(), b"saltsaltsalt", time_cost=1, memory_cost=8, parallelism=1,
                        hash_len=32, type=Type.ID).decode()
    costly = "$argon2id$v=19$m=999999999,t=9999,p=999$c2FsdHNhbHRzYWx0$" + "A" * 5000  # each guess: minutes
    zero_lanes = "$argon2id$v=19$m=65536,t=3,p=0$c2FsdHNhbHRzYWx0c2FsdA$" + "A" * 43
    for weak in (cheap, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", costly, zero_lanes):
        _check_refused(db, "SELECT eqreg_sign_in('victim', :c, NULL, :h)", c=right, h=weak)
    # The app's own rehash (the library's defaults) is stored, and the password still works.
    strong = passwords.hash_password(PASSWORD)
    assert db.scalar(text("SELECT eqreg_sign_in('victim', :c, NULL, :h)"), {"c": right, "h": strong}) is True
    assert passwords.sign_in(db, username="victim", password=PASSWORD) is True


@pytest.mark.parametrize("function,cap", [("token", accounts.TOKEN_LIFETIME),
                                          ("session", user_sessions.SIGNED_IN_LIFETIME)])
def test_no_credential_outlives_the_apps_lifetime(db, victim, function, cap):
    """Migration 0021: a caller with a fresh proof can make its own token or session, but not one
    that lives longer than the app would have made it."""
    calls = {"token": "SELECT eqreg_token_issue(:secret, :lifetime, :proof, NULL)",
             "session": "SELECT eqreg_session_save(:secret, '{}', NULL, '', :lifetime, :proof, NULL)"}
    _as_app(db, None)
    right = _candidate(db, "victim", PASSWORD)
    for n, lifetime in enumerate((cap + dt.timedelta(seconds=1), dt.timedelta(days=3650))):
        db.scalar(text("SELECT eqreg_sign_in('victim', :c, :proof, NULL)"), {"c": right, "proof": f"{n}" * 43})
        _check_refused(db, calls[function], secret=f"eqr_long{n}", lifetime=lifetime, proof=f"{n}" * 43)
    db.scalar(text("SELECT eqreg_sign_in('victim', :c, :proof, NULL)"), {"c": right, "proof": "k" * 43})
    db.execute(text(calls[function]), {"secret": "eqr_capped", "lifetime": cap, "proof": "k" * 43})


def test_an_account_with_an_old_weak_hash_still_signs_in_and_is_rehashed(db):
    """Migration 0021 checks new hashes only: an account stored before it keeps signing in."""
    from argon2.low_level import Type, hash_secret

    from registry import passwords
    accounts.create_user(db, actor="test", role="planner", username="elder", password=PASSWORD)
    old = hash_secret(PASSWORD.encode(), b"saltsaltsalt", time_cost=1, memory_cost=8, parallelism=1,
                      hash_len=32, type=Type.ID).decode()
    db.execute(text("ALTER TABLE users DISABLE TRIGGER users_password_hash_strong"))  # as stored before 0021
    db.execute(text("UPDATE users SET password_hash = :h WHERE username = 'elder'"), {"h": old})
    db.execute(text("ALTER TABLE users ENABLE TRIGGER users_password_hash_strong"))
    db.execute(text("UPDATE users SET active = true, last_login_at = now() WHERE username = 'elder'"))
    _as_app(db, None)
    right = _candidate(db, "elder", PASSWORD)
    assert db.scalar(text("SELECT eqreg_sign_in('elder', :c, NULL, NULL)"), {"c": right}) is True
    assert passwords.sign_in(db, username="elder", password=PASSWORD) is True  # rehashed on the way
    db.execute(text("RESET ROLE"))
    assert db.scalar(text("SELECT password_hash FROM users WHERE username = 'elder'")).startswith(
        "$argon2id$v=19$m=65536,t=3")
