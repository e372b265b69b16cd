"""A boundary reload that moves projects between towns leaves a trace: history, a new ETag, the
CLI summary, and a notice on the dashboard of the town that lost them."""
from __future__ import annotations

from click.testing import CliRunner
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.matching import match_projects
from registry.boundaries import load_boundaries
from test_boundaries import add_project, three_towns, write_layer
from web.cli import main


def annexed() -> list[dict]:
    """区划调整: 东街道 (…001) takes the western half of 西镇 (…002)."""
    towns = three_towns()
    towns[0]["geometry"] = box(117.0, 35.0, 117.15, 35.1)
    towns[1]["geometry"] = box(117.15, 35.0, 117.2, 35.1)
    return towns


def _two_projects(session) -> tuple[int, int]:
    moving = add_project(session, "2024-370498-01-01-000001", "POINT(117.12 35.05)")  # 西镇, then 东街道
    staying = add_project(session, "2024-370498-01-01-000002", "POINT(117.25 35.05)")  # 南乡 throughout
    match_projects(session, project_ids=[moving, staying])
    return moving, staying


def _version(session, project: int) -> int:
    return session.execute(text("SELECT version FROM projects WHERE id = :id"), {"id": project}).scalar_one()


def test_a_project_moved_by_a_reload_gets_a_history_entry_and_a_new_version(db, tmp_path):
    load_boundaries(db, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
    moving, staying = _two_projects(db)
    versions = _version(db, moving), _version(db, staying)

    report = load_boundaries(db, write_layer(tmp_path / "v2.geojson", annexed(), driver="GeoJSON"))

    assert [m["id"] for m in report.moved] == [moving]
    assert _version(db, moving) == versions[0] + 1 and _version(db, staying) == versions[1]
    entry = db.execute(text("SELECT actor, before, after, details FROM audit_log WHERE entity = 'project' "
                            "AND entity_id = :id AND action = 'rematch'"), {"id": str(moving)}).one()
    assert (entry.before, entry.after) == ({"towns": "西镇"}, {"towns": "东街道"})
    assert [(t["code"], t["name"], t["share"]) for t in entry.details["towns_before"]] == [("370498002", "西镇", 1)]
    assert [(t["code"], t["name"], t["share"]) for t in entry.details["towns_after"]] == [("370498001", "东街道", 1)]
    assert (entry.details["boundary_version"], entry.details["file"]) == (2, "v2.geojson")
    notices = db.execute(text("SELECT town_code, boundary_version, projects FROM town_notices")).all()
    assert [(n.town_code, n.boundary_version) for n in notices] == [("370498002", 2)]
    assert notices[0].projects == [{"id": moving, "code": "2024-370498-01-01-000001", "name": "测试项目",
                                    "to": [{"code": "370498001", "name": "东街道"}]}]


def test_reloading_the_same_boundaries_moves_nothing_and_bumps_no_version(db, tmp_path):
    path = write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON")
    load_boundaries(db, path)
    moving, _ = _two_projects(db)
    version = _version(db, moving)
    report = load_boundaries(db, path)
    assert report.moved == [] and _version(db, moving) == version
    assert db.execute(text("SELECT count(*) FROM town_notices")).scalar_one() == 0


def test_cli_summary_lists_the_moved_projects(committed, engine, tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["boundaries", "load", str(write_layer(tmp_path / "v1.geojson", three_towns(),
                                                                        driver="GeoJSON"))])
    assert first.exit_code == 0, first.output
    with Session(engine) as session:
        _two_projects(session)
        session.commit()
    result = runner.invoke(main, ["boundaries", "load", str(write_layer(tmp_path / "v2.geojson", annexed(),
                                                                         driver="GeoJSON"))])
    assert result.exit_code == 0, result.output
    assert "所属镇街发生变化的项目：1 个" in result.output
    assert "2024-370498-01-01-000001 测试项目：西镇 → 东街道" in result.output
    with Session(engine) as session:
        session.execute(text("TRUNCATE town_notices"))
        session.commit()


def test_the_town_that_lost_projects_sees_a_notice_and_the_project_a_new_etag(
        committed, engine, client_for, tmp_path):
    with Session(engine) as session:
        load_boundaries(session, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
        moving, _ = _two_projects(session)
        session.commit()
    bureau = client_for("bureau")
    etag = bureau.get(f"/api/v1/projects/{moving}").headers["ETag"]
    with Session(engine) as session:
        load_boundaries(session, write_layer(tmp_path / "v2.geojson", annexed(), driver="GeoJSON"))
    try:
        assert bureau.get(f"/api/v1/projects/{moving}").headers["ETag"] != etag
        history = bureau.get(f"/projects/{moving}/history").get_data(as_text=True)
        assert "镇街边界调整" in history and "西镇" in history and "镇街边界更新为第 2 版（v2.geojson）" in history
        lost = client_for("town", towns=["370498002"]).get("/").get_data(as_text=True)
        assert "以下项目不再属于西镇" in lost and "2024-370498-01-01-000001 测试项目 → 东街道" in lost
        gained = client_for("town", towns=["370498001"]).get("/").get_data(as_text=True)
        assert "不再属于" not in gained
    finally:
        with Session(engine) as session:
            session.execute(text("TRUNCATE town_notices"))
            session.commit()


def test_a_deleted_project_gets_the_history_entry_but_no_town_is_told(db, tmp_path):
    load_boundaries(db, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
    moving, _ = _two_projects(db)
    db.execute(text("UPDATE projects SET deleted_at = now() WHERE id = :id"), {"id": moving})
    report = load_boundaries(db, write_layer(tmp_path / "v2.geojson", annexed(), driver="GeoJSON"))
    assert [m["id"] for m in report.moved] == [moving]
    assert db.execute(text("SELECT count(*) FROM audit_log WHERE action = 'rematch' "
                           "AND entity_id = :id"), {"id": str(moving)}).scalar_one() == 1
    assert db.execute(text("SELECT count(*) FROM town_notices")).scalar_one() == 0


def test_the_database_shows_a_town_notice_only_to_its_town(db, tmp_path):
    load_boundaries(db, write_layer(tmp_path / "v1.geojson", three_towns(), driver="GeoJSON"))
    _two_projects(db)
    load_boundaries(db, write_layer(tmp_path / "v2.geojson", annexed(), driver="GeoJSON"))
    from conftest import token_for
    from registry.scope import present_secret
    seen = {}
    for towns in ("370498002", "370498001"):
        token = token_for(db, "town", towns=[towns])
        db.execute(text("SET LOCAL ROLE eqreg_app"))
        present_secret(db, token)
        seen[towns] = db.execute(text("SELECT count(*) FROM town_notices")).scalar_one()
        db.execute(text("RESET ROLE"))
    assert seen == {"370498002": 1, "370498001": 0}
