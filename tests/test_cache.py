"""The change stamp and the figures cache (registry.cache, migration 0005): a committed write is
seen by the very next read, a transaction's own writes bypass the cache, scopes never share."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import SAMPLE_PROJECTS, insert_grid_district, insert_sample_projects
from registry import cache, figures
from registry.scope import Scope

STAMP = text("SELECT stamp FROM registry_changes")
LIVE_CODE = next(p[0] for p in SAMPLE_PROJECTS if not p[9])


def _town_totals(response) -> dict[str, tuple[int, float]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {t["code"]: (t["project_count"], t["total_investment"]) for t in response.get_json()["items"]}


def test_the_stamp_moves_once_per_committed_write_and_not_before(committed, engine):
    with engine.connect() as conn:
        before = conn.scalar(STAMP)
    with engine.connect() as writer, engine.connect() as reader:
        with writer.begin():
            insert_grid_district(Session(bind=writer))
            writer.execute(text("UPDATE towns SET name = name"))
            assert writer.scalar(text("SELECT EXISTS (SELECT 1 FROM registry_change_requests)"))
            assert reader.scalar(STAMP) == before  # not visible before the commit
            reader.rollback()
        assert reader.scalar(STAMP) == before + 1  # two statements, one transaction: one step
        reader.rollback()
        with writer.begin():
            writer.execute(text("SELECT count(*) FROM projects"))  # reads do not move it
        assert reader.scalar(STAMP) == before + 1
        assert not reader.scalar(text("SELECT EXISTS (SELECT 1 FROM registry_change_requests)"))


def test_a_committed_write_is_seen_by_the_next_api_read(client, web_data, engine):
    first = _town_totals(client.get("/api/v1/towns"))
    assert _town_totals(client.get("/api/v1/towns")) == first  # served from the cache
    listed = client.get("/api/v1/projects?per_page=5").get_json()["total"]
    with engine.begin() as conn:  # another connection, as another worker or the CLI would
        conn.execute(text("UPDATE projects SET total_investment = total_investment + 1000 WHERE code = :c"),
                     {"c": LIVE_CODE})
    after = _town_totals(client.get("/api/v1/towns"))
    changed = {code for code in first if after[code][1] != first[code][1]}
    assert changed and all(after[c][1] > first[c][1] for c in changed)
    with engine.begin() as conn:
        conn.execute(text("UPDATE projects SET deleted_at = now() WHERE code = :c"), {"c": LIVE_CODE})
    assert client.get("/api/v1/projects?per_page=5").get_json()["total"] == listed - 1
    assert sum(n for n, _ in _town_totals(client.get("/api/v1/towns")).values()) < sum(
        n for n, _ in after.values())
    stats = client.get("/api/v1/stats?group_by=stage").get_json()
    assert stats["totals"]["project_count"] == listed - 1


def test_town_users_never_get_each_others_cached_figures(client_for, web_data):
    own, other = "370499001", "370499003"
    everyone = _town_totals(client_for("bureau").get("/api/v1/towns"))
    for town in (own, other, own):
        seen = _town_totals(client_for("town", towns=[town]).get("/api/v1/towns"))
        assert seen == {town: everyone[town]}
    bureau_total = client_for("planner").get("/api/v1/projects?per_page=1").get_json()["total"]
    town_total = client_for("town", towns=[own]).get("/api/v1/projects?per_page=1").get_json()["total"]
    assert 0 < town_total < bureau_total


def test_a_transaction_with_its_own_writes_bypasses_the_cache(db, grid_district):
    cache.clear()
    assert all(t["project_count"] == 0 for t in figures.town_figures(db, Scope.system()))
    assert cache.stamp(db) is None  # the district's towns were written in this transaction
    ids = insert_sample_projects(db)
    counted = {t["code"]: t["project_count"] for t in figures.town_figures(db, Scope.system())}
    assert sum(counted.values()) >= len([p for p in SAMPLE_PROJECTS if not p[9]]) and ids


def test_cached_values_are_copies(committed, web_data, engine):
    with Session(engine) as session:
        first = figures.town_figures(session, Scope.system())
        first[0]["name"] = "改掉"
        first[0]["by_stage"].clear()
        again = figures.town_figures(session, Scope.system())
    assert again[0]["name"] != "改掉" and again[0]["by_stage"]


def test_health_needs_no_sign_in_and_no_database(anonymous_client, app):
    app.extensions["eqreg.engine"].dispose()
    response = anonymous_client.get("/api/v1/health", headers={"Authorization": "Bearer eqr_nonsense"})
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    pool = app.extensions["eqreg.engine"].pool
    assert pool.checkedout() == 0 and pool.checkedin() == 0  # no connection was ever opened
    assert "/api/v1/health" in anonymous_client.get("/api/v1/openapi.json").get_json()["paths"]


def test_a_remembered_token_stops_at_once_when_revoked_or_disabled_here(app, make_user, client_for):
    from web import identity
    user = make_user("bureau", username="api_user")
    api = app.test_client()

    def token():
        return {"Authorization": "Bearer " + api.post("/api/v1/auth/token", json={
            "username": "api_user", "password": "correct horse battery"}).get_json()["token"]}
    first = token()
    assert api.get("/api/v1/auth/me", headers=first).status_code == 200  # now remembered
    assert api.delete("/api/v1/auth/token", headers=first).status_code == 204
    assert api.get("/api/v1/auth/me", headers=first).status_code == 401
    second = token()
    assert api.get("/api/v1/auth/me", headers=second).status_code == 200
    admin = client_for("admin")
    assert admin.post(f"/admin/users/{user.username}/active", data={"active": "0"}).status_code < 400
    assert api.get("/api/v1/auth/me", headers=second).status_code == 401
    assert identity.TOKEN_CACHE_SECONDS <= 10  # the documented staleness bound elsewhere
