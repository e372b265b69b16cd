"""Sign-in rate limits that cannot be raced, that do not lock everyone out, and the proxy count."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from registry import accounts
from conftest import TEST_PASSWORD


def _token_request(app, username, password, ip="10.1.0.1", headers=None):
    return app.test_client().post("/api/v1/auth/token", json={"username": username, "password": password},
                                  environ_base={"REMOTE_ADDR": ip}, headers=headers or {})


def _all_at_once(app, passwords, username="bo"):
    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        return list(pool.map(lambda pw: _token_request(app, username, pw).status_code, passwords))


def test_parallel_wrong_passwords_are_counted_one_after_another(app, make_user):
    make_user("bureau", username="bo")
    statuses = _all_at_once(app, ["wrong-password"] * 16)
    assert statuses.count(401) == accounts.MAX_FAILURES_PER_USER_IP
    assert statuses.count(429) == 16 - accounts.MAX_FAILURES_PER_USER_IP


def test_the_right_password_among_parallel_guesses_is_checked_only_within_the_limit(app, make_user, engine):
    make_user("bureau", username="bo")
    statuses = _all_at_once(app, ["wrong-password"] * 15 + [TEST_PASSWORD])
    with engine.connect() as conn:
        checked = conn.execute(text("SELECT succeeded FROM login_attempts WHERE username = 'bo' ORDER BY id")).scalars().all()
    # Every password checked left one attempt, in the order the advisory locks let them through;
    # everything else was refused unchecked.
    assert statuses.count(401) + statuses.count(201) == len(checked)
    assert statuses.count(429) == 16 - len(checked)
    if True in checked:
        # The right password got in only from within the first five checks; its success reset the
        # counter, so at most five more wrong ones were checked after it.
        position = checked.index(True)
        assert position < accounts.MAX_FAILURES_PER_USER_IP
        assert checked.count(True) == 1 and len(checked) - position - 1 <= accounts.MAX_FAILURES_PER_USER_IP
    else:
        assert checked == [False] * accounts.MAX_FAILURES_PER_USER_IP


def test_spraying_usernames_from_one_address_does_not_lock_out_its_known_users(app, make_user):
    make_user("admin", username="root")
    assert _token_request(app, "root", TEST_PASSWORD, ip="10.1.0.9").status_code == 201
    for i in range(accounts.MAX_FAILURES_PER_IP):
        assert _token_request(app, f"guess{i}", "wrong-password", ip="10.1.0.9").status_code == 401
    # The address is now blocked for names never signed in from it …
    assert _token_request(app, "guess-more", "wrong-password", ip="10.1.0.9").status_code == 429
    # … but not for the admin, who signed in from it before, nor from any other address.
    assert _token_request(app, "root", TEST_PASSWORD, ip="10.1.0.9").status_code == 201
    assert _token_request(app, "root", TEST_PASSWORD, ip="10.1.0.10").status_code == 201


def test_one_username_guessed_from_many_addresses_is_limited(app, make_user):
    make_user("bureau", username="bo")
    for i in range(accounts.MAX_FAILURES_PER_USER):
        assert _token_request(app, "bo", "wrong-password", ip=f"10.2.0.{i}").status_code == 401
    assert _token_request(app, "bo", TEST_PASSWORD, ip="10.2.1.1").status_code == 429


def test_a_success_resets_the_username_counters(app, make_user):
    make_user("bureau", username="bo")
    for _ in range(accounts.MAX_FAILURES_PER_USER_IP - 1):
        assert _token_request(app, "bo", "wrong-password").status_code == 401
    assert _token_request(app, "bo", TEST_PASSWORD).status_code == 201
    for _ in range(accounts.MAX_FAILURES_PER_USER_IP - 1):
        assert _token_request(app, "bo", "wrong-password").status_code == 401
    assert _token_request(app, "bo", TEST_PASSWORD).status_code == 201


def test_forwarded_addresses_are_ignored_without_a_proxy_count(app, make_user):
    make_user("bureau", username="bo")
    for i in range(accounts.MAX_FAILURES_PER_USER_IP):
        # A client inventing a new X-Forwarded-For each time must not escape the limit.
        _token_request(app, "bo", "wrong-password", headers={"X-Forwarded-For": f"192.0.2.{i}"})
    assert _token_request(app, "bo", TEST_PASSWORD, headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 429


def test_with_one_trusted_proxy_the_forwarded_address_is_counted(committed, make_user):
    from web.app import create_app
    app = create_app({"DATABASE_URL": committed, "TESTING": True, "PROXY_COUNT": 1})
    try:
        make_user("bureau", username="bo")
        proxy = "10.9.9.9"  # every request arrives from the proxy
        for _ in range(accounts.MAX_FAILURES_PER_USER_IP):
            _token_request(app, "bo", "wrong-password", ip=proxy, headers={"X-Forwarded-For": "198.51.100.1"})
        blocked = _token_request(app, "bo", TEST_PASSWORD, ip=proxy, headers={"X-Forwarded-For": "198.51.100.1"})
        assert blocked.status_code == 429
        # Another user behind the same proxy is a different address, and not blocked.
        other = _token_request(app, "bo", TEST_PASSWORD, ip=proxy, headers={"X-Forwarded-For": "198.51.100.2"})
        assert other.status_code == 201
    finally:
        app.extensions["eqreg.engine"].dispose()
