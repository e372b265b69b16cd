"""Every refusal audited once, without flooding: per (user, route, status) per 10 minutes, counted."""
from __future__ import annotations

from sqlalchemy import text

from conftest import SAMPLE_PROJECTS

OUT_OF_TOWN = "乙镇智能工厂改造"  # a project in 乙镇 only


def _audited(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT actor, entity_id, details->>'status' FROM audit_log WHERE action = 'refused' ORDER BY id"))]


def _counts(engine):
    with engine.connect() as conn:
        return {(r.actor, r.route, r.status): r.count for r in conn.execute(text(
            "SELECT actor, route, status, count FROM refusal_counts"))}


def test_probing_other_projects_is_audited_once_per_route_with_a_count(client_for, web_data, engine):
    town = client_for("town", towns=["370499003"], username="bing")
    outside = web_data[next(p[0] for p in SAMPLE_PROJECTS if p[1] == OUT_OF_TOWN)]
    probes = [outside] + list(range(900_000, 900_019))  # one hidden project, nineteen missing ids
    for project_id in probes:
        for suffix in ("", "/history", "/progress"):
            assert town.get(f"/api/v1/projects/{project_id}{suffix}").status_code == 404
    routes = {"GET /api/v1/projects/<int:project_id>", "GET /api/v1/projects/<int:project_id>/history",
              "GET /api/v1/projects/<int:project_id>/progress"}
    assert sorted(_audited(engine)) == sorted(("bing", route, "404") for route in routes)
    assert _counts(engine) == {("bing", route, 404): len(probes) for route in routes}


def test_403_and_404_of_different_users_are_kept_apart(client_for, web_data, engine):
    outside = web_data[next(p[0] for p in SAMPLE_PROJECTS if p[1] == OUT_OF_TOWN)]
    town = client_for("town", towns=["370499003"], username="bing")
    planner = client_for("planner", username="pat")
    for _ in range(3):
        assert town.get(f"/projects/{outside}/edit").status_code == 404
        assert planner.get(f"/projects/{outside}/edit").status_code == 403
    assert _audited(engine) == [("bing", "GET /projects/<int:project_id>/edit", "404"),
                                ("pat", "GET /projects/<int:project_id>/edit", "403")]
    assert set(_counts(engine).values()) == {3}


def test_a_new_window_is_audited_again(client_for, web_data, engine):
    planner = client_for("planner", username="pat")
    assert planner.get("/admin/users").status_code == 403
    with engine.begin() as conn:  # ten minutes later
        conn.execute(text("UPDATE refusal_counts SET window_start = window_start - interval '10 minutes'"))
    assert planner.get("/admin/users").status_code == 403
    assert planner.get("/admin/users").status_code == 403
    assert len(_audited(engine)) == 2
    with engine.connect() as conn:
        assert conn.scalars(text("SELECT count FROM refusal_counts ORDER BY window_start")).all() == [1, 2]
