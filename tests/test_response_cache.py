"""The API's response cache (web/api/response_cache.py): whole JSON answers per change stamp and
scope, ETag/304 for repeat clients, no request session on a hit, never another scope's answer,
and sign-in still checked (a revoked credential is not served from the cache after its bound)."""
from __future__ import annotations

import threading
import time
import types

import pytest
from sqlalchemy import text

from conftest import SAMPLE_PROJECTS
from registry import cache
from web import database, identity, sessions
from web.api import response_cache

CACHED = ["/api/v1/projects?per_page=5", "/api/v1/towns", "/api/v1/stats?group_by=stage",
          "/api/v1/targets"]
OWN, OTHER = "370499001", "370499003"
LIVE_CODE = next(p[0] for p in SAMPLE_PROJECTS if not p[9])


@pytest.fixture(autouse=True)
def empty_cache():
    response_cache.clear()
    yield
    response_cache.clear()


def _later(seconds: float):
    """A stand-in for the ``time`` module whose clock is ``seconds`` ahead."""
    return types.SimpleNamespace(monotonic=lambda: time.monotonic() + seconds)


@pytest.mark.parametrize("path", CACHED)
def test_each_scope_gets_its_own_answer_from_the_cache(path, client_for, web_data):
    clients = {"town": client_for("town", towns=[OWN]), "other": client_for("town", towns=[OTHER]),
               "bureau": client_for("bureau")}
    first = {name: c.get(path) for name, c in clients.items()}
    assert all(r.status_code == 200 for r in first.values())
    for name in ("other", "town", "bureau", "other"):  # now every scope's answer is cached
        again = clients[name].get(path)
        assert again.get_data() == first[name].get_data() and again.headers["ETag"] == first[name].headers["ETag"]
    response_cache.clear()
    for name, c in clients.items():  # and each is what that scope gets uncached
        assert c.get(path).get_data() == first[name].get_data()


def test_accounts_limited_to_districts_and_viewers_are_served_from_the_cache(client_for, web_data):
    """The database's scope (with the account's districts) agrees with the app's, so these
    accounts' answers are kept like everyone's, each under its own key."""
    for client in (client_for("bureau", districts=["370499"]), client_for("viewer", cities=["3704"])):
        first = client.get("/api/v1/projects?per_page=5")
        assert first.status_code == 200 and "ETag" in first.headers
        assert client.get("/api/v1/projects?per_page=5", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_two_accounts_of_one_role_limited_to_different_districts_never_share_an_answer(client_for, web_data,
                                                                                        engine):
    from sqlalchemy.orm import Session
    from conftest import insert_other_districts
    with Session(engine) as session:
        insert_other_districts(session)
        session.commit()
    near, far = client_for("viewer", cities=["3704"]), client_for("viewer", cities=["3715"])
    for _ in range(2):  # the second round is served from the cache
        assert {p["code"][5:11] for p in near.get("/api/v1/projects?per_page=50").get_json()["items"]} == {
            "370498", "370499"}
        assert {p["code"][5:11] for p in far.get("/api/v1/projects?per_page=50").get_json()["items"]} == {"371599"}


def test_town_officials_see_only_their_towns_through_the_cache(client_for, web_data):
    bureau = client_for("bureau").get("/api/v1/towns").get_json()
    assert {t["code"] for t in bureau["items"]} >= {OWN, OTHER}
    for town in (OWN, OTHER, OWN):
        seen = client_for("town", towns=[town]).get("/api/v1/towns").get_json()
        assert [t["code"] for t in seen["items"]] == [town]


@pytest.mark.parametrize("path", CACHED)
def test_a_repeat_client_with_the_etag_gets_304_without_a_body(path, client, web_data):
    first = client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag and "private" in first.headers["Cache-Control"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_a_cache_hit_opens_no_request_session(client, web_data, monkeypatch):
    for path in CACHED:
        client.get(path)

    def no_session():
        raise AssertionError("a cache hit must not open the request's database session")
    monkeypatch.setattr(database, "session", no_session)
    for path in CACHED:
        assert client.get(path).status_code == 200


def test_the_etag_changes_after_a_committed_write(client, web_data, engine):
    first = client.get("/api/v1/towns")
    with engine.begin() as conn:  # another connection, as another worker or the CLI would
        conn.execute(text("UPDATE projects SET total_investment = total_investment + 1000 WHERE code = :c"),
                     {"c": LIVE_CODE})
    after = client.get("/api/v1/towns", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != first.headers["ETag"]
    assert after.get_json() != first.get_json()


def test_targets_districts_and_their_entries_move_the_change_stamp(committed, engine):
    stamp = text("SELECT stamp FROM registry_changes")
    for table in ("districts", "target_jurisdictions", "targets", "target_entries"):
        with engine.connect() as conn:
            before = conn.scalar(stamp)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET updated_at = updated_at WHERE false")
                         if table in ("targets", "target_jurisdictions") else
                         text(f"DELETE FROM {table} WHERE false"))
        with engine.connect() as conn:
            assert conn.scalar(stamp) == before + 1, table


def test_a_revoked_browser_session_is_not_served_from_the_cache_after_the_bound(client, web_data, engine,
                                                                                 monkeypatch):
    assert client.get("/api/v1/towns").status_code == 200  # cached, and the session remembered
    with engine.begin() as conn:  # revoked elsewhere (another worker, an administrator)
        conn.execute(text("UPDATE user_sessions SET revoked_at = now()"))
    monkeypatch.setattr(sessions, "time", _later(sessions.CACHE_SECONDS + 1))
    assert client.get("/api/v1/towns").status_code == 401


def test_a_revoked_token_is_not_served_from_the_cache_after_the_bound(app, make_user, web_data, engine,
                                                                      monkeypatch):
    make_user("bureau", username="api_user")
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "api_user",
                                                 "password": "correct horse battery"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/projects?per_page=5", headers=headers).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = now()"))
    monkeypatch.setattr(identity, "time", _later(identity.TOKEN_CACHE_SECONDS + 1))
    assert api.get("/api/v1/projects?per_page=5", headers=headers).status_code == 401


@pytest.mark.parametrize("path", CACHED)
def test_an_answer_made_while_the_database_disagrees_on_the_scope_is_kept_for_nobody(
        path, app, make_user, web_data, engine):
    """The app remembers a sign-in for a few seconds, the database checks the secret afresh: a
    token revoked elsewhere still passes the app's check but sees nothing in the database. That
    answer must not be cached for every other bureau user (nor its figures, nor an ETag)."""
    api = app.test_client()
    tokens = []
    for name in ("bureau_a", "bureau_b"):
        make_user("bureau", username=name)
        tokens.append(api.post("/api/v1/auth/token", json={"username": name, "password": "correct horse battery"})
                      .get_json()["token"])
    first, second = ({"Authorization": f"Bearer {t}"} for t in tokens)
    full = api.get(path, headers=first)
    assert full.status_code == 200
    response_cache.clear()
    cache.clear()
    with engine.begin() as conn:  # revoked by another worker: this one still remembers the token
        conn.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = encode(sha256(:t), 'hex')"),
                     {"t": tokens[0].encode()})
    stale = api.get(path, headers=first)
    assert stale.status_code == 200 and "ETag" not in stale.headers
    if path != "/api/v1/targets":  # (no targets loaded: the same empty answer either way)
        assert stale.get_data() != full.get_data()
    assert api.get(path, headers=second).get_data() == full.get_data()


def test_a_repeated_parameter_in_another_order_is_another_answer(client, web_data):
    """The views read the first of a repeated parameter: its order is part of the question."""
    medical_first, agriculture_first = ("/api/v1/projects?domain=medical&domain=agriculture",
                                        "/api/v1/projects?domain=agriculture&domain=medical")
    expected = client.get(agriculture_first).get_data()
    response_cache.clear()
    assert client.get(medical_first).get_data() != expected  # (the data tells the two apart)
    assert client.get(agriculture_first).get_data() == expected


def test_bad_input_is_refused_every_time(client, web_data):
    for _ in range(2):
        assert client.get("/api/v1/projects?per_page=0").status_code == 400
        assert client.get("/api/v1/targets?as_of=2025-02-30").status_code == 400


def test_requests_share_a_stamp_read_only_if_it_was_sent_after_they_came():
    """A read in flight when requests come may predate a write they must see: they wait for it,
    then share the next one (one read for all of them)."""
    reads = response_cache._SharedReads()
    first_sent, release = threading.Event(), threading.Event()
    calls = []

    def read_once():
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            first_sent.set()
            release.wait(30)
        return (7, len(calls))

    results = {}

    def request(name):
        results[name] = reads.read(read_once)
    early = threading.Thread(target=request, args=("early",))
    early.start()
    first_sent.wait(30)
    late = [threading.Thread(target=request, args=(name,)) for name in ("late1", "late2")]
    for thread in late:
        thread.start()
    give_up = time.monotonic() + 60  # (only so that a broken test fails instead of hanging)
    while len(reads._changed._waiters) < 2:  # both late requests wait on the read in flight
        assert time.monotonic() < give_up, "the late requests never waited"
        time.sleep(0.001)
    release.set()
    for thread in (early, *late):
        thread.join(30)
    assert results == {"early": (7, 1), "late1": (7, 2), "late2": (7, 2)} and calls == [1, 2]


def test_concurrent_requests_for_one_uncached_answer_render_it_once(client_for, web_data, monkeypatch):
    from registry import figures
    real, calls, release = figures.town_figures, [], threading.Event()

    def slow_figures(*args, **kwargs):
        calls.append(1)
        release.wait(30)
        return real(*args, **kwargs)
    monkeypatch.setattr(figures, "town_figures", slow_figures)
    clients = [client_for("bureau") for _ in range(3)]  # three registrars: one scope, one answer
    answers = []
    threads = [threading.Thread(target=lambda c=c: answers.append(c.get("/api/v1/towns"))) for c in clients]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + 60  # (only so that a broken cache fails instead of hanging)
    while sum(len(e._cond._waiters) for e in list(response_cache._running.values())) < 2:
        assert time.monotonic() < give_up, "the other requests never waited for the first"
        time.sleep(0.001)  # two of them wait for the first
    release.set()
    for thread in threads:
        thread.join(30)
    assert calls == [1] and [a.status_code for a in answers] == [200] * 3
    assert len({a.get_data() for a in answers}) == 1
