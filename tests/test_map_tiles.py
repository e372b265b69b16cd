"""Vector tiles of the projects (registry.map_tiles, GET /api/v1/map/tiles/<z>/<x>/<y>.mvt):
valid MVT, the same two looks as the features endpoint, scoped, revalidated by change stamp."""
from __future__ import annotations

import json
import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from conftest import SAMPLE_PROJECTS
from registry import map_tiles

LIVE = {code: name for code, name, *rest in SAMPLE_PROJECTS if not rest[-1]}
PIPELINE = "2024-370499-01-01-100002"  # 东西燃气管网更新, crosses every town of 测试区


def tile_of(lng: float, lat: float, z: int) -> tuple[int, int, int]:
    """The Web Mercator tile holding (lng, lat) (EPSG:4326) at zoom z."""
    n = 2 ** z
    return z, int((lng + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


DISTRICT_TILE = tile_of(117.15, 35.05, 9)  # all of 测试区 (116.9–117.4 E)


def get_tile(client, z, x, y, **params):
    response = client.get(f"/api/v1/map/tiles/{z}/{x}/{y}.mvt", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    return response


def decoded(response) -> dict:
    return mapbox_vector_tile.decode(response.get_data())


def project_codes(response) -> set[str]:
    layer = decoded(response).get("projects", {"features": []})
    return {f["properties"]["code"] for f in layer["features"]}


def test_a_tile_holds_the_projects_with_what_their_popup_shows(client, web_data):
    layers = decoded(get_tile(client, *DISTRICT_TILE))
    assert set(layers) == {"projects"}
    by_code = {f["properties"]["code"]: f for f in layers["projects"]["features"]}
    assert set(by_code) == set(LIVE)  # the soft-deleted project is left out
    pipeline = by_code[PIPELINE]
    assert pipeline["geometry"]["type"] == "LineString"
    props = pipeline["properties"]
    assert props["id"] == web_data[PIPELINE] and props["name"] == "东西燃气管网更新"
    assert (props["stage"], props["domain"], props["total_investment"]) == ("construction", "municipal", 800)
    assert props["length_km"] == pytest.approx(18.2, abs=0.3)
    towns = json.loads(props["towns"])
    assert len(towns) == 3 and sum(t["share"] for t in towns) == pytest.approx(1, abs=1e-3)
    assert by_code["2023-370499-01-01-100003"]["geometry"]["type"] == "Polygon"


def test_a_crowded_tile_comes_as_grid_clusters_with_per_stage_counts(app, client, web_data):
    app.config["MAP_TILE_MAX_FEATURES"] = 2
    layers = decoded(get_tile(client, *DISTRICT_TILE))
    assert set(layers) == {"clusters"}
    clusters = [f["properties"] for f in layers["clusters"]["features"]]
    assert sum(c["count"] for c in clusters) == len(LIVE)  # each project once, in its centre's tile
    stages = {}
    for cluster in clusters:
        by_stage = json.loads(cluster["by_stage"])
        assert sum(by_stage.values()) == cluster["count"]
        assert by_stage[cluster["stage"]] == max(by_stage.values())  # coloured by the commonest stage
        for stage, n in by_stage.items():
            stages[stage] = stages.get(stage, 0) + n
    assert stages == {"construction": 2, "completed": 1, "reserve": 1, "approval": 1}


def test_from_the_full_zoom_on_a_tile_always_holds_the_projects(app, client, web_data):
    app.config["MAP_TILE_MAX_FEATURES"] = 0
    assert project_codes(get_tile(client, *tile_of(117.15, 35.05, map_tiles.FULL_ZOOM))) == {
        "2024-370499-01-01-100001", PIPELINE}


def test_filters_narrow_a_tile(client, web_data):
    assert project_codes(get_tile(client, *DISTRICT_TILE, stage="construction")) == {
        "2024-370499-01-01-100001", PIPELINE}
    assert project_codes(get_tile(client, *DISTRICT_TILE, domains="municipal")) == {
        PIPELINE, "2024-370499-01-01-100005"}
    assert get_tile(client, *DISTRICT_TILE, domains="").get_data() == b""


def test_an_empty_tile_is_empty_not_missing(client, web_data):
    assert get_tile(client, *tile_of(100.0, 30.0, 12)).get_data() == b""


def test_a_town_user_gets_only_their_towns_projects(client_for, web_data):
    town = client_for("town", towns=["370499003"])  # 丙镇
    codes = project_codes(get_tile(town, *DISTRICT_TILE))
    assert codes == {PIPELINE, "2024-370499-01-01-100004"}
    assert "甲街道供热管网" not in get_tile(town, *DISTRICT_TILE).get_data().decode("utf-8", "replace")


def test_an_unchanged_tile_is_revalidated_and_an_edit_changes_its_etag(client, client_for, web_data, engine):
    first = get_tile(client, *DISTRICT_TILE)
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get("/api/v1/map/tiles/%d/%d/%d.mvt" % DISTRICT_TILE, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert get_tile(client, *DISTRICT_TILE, stage="reserve").headers["ETag"] != etag  # filters
    assert get_tile(client_for("town", towns=["370499003"]), *DISTRICT_TILE).headers["ETag"] != etag  # scope
    with engine.begin() as conn:  # another connection, as another worker or the CLI would
        conn.execute(text("UPDATE projects SET stage = 'completed', actual_start = '2024-05-01', "
                          "actual_end = '2025-01-01' WHERE code = :c"), {"c": PIPELINE})
    changed = client.get("/api/v1/map/tiles/%d/%d/%d.mvt" % DISTRICT_TILE, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    stages = {f["properties"]["code"]: f["properties"]["stage"] for f in decoded(changed)["projects"]["features"]}
    assert stages[PIPELINE] == "completed"


@pytest.mark.parametrize("path, parameter", [
    ("/api/v1/map/tiles/23/0/0.mvt", "z"),
    ("/api/v1/map/tiles/3/8/0.mvt", "x/y"),
    ("/api/v1/map/tiles/3/0/8.mvt", "x/y"),
    ("/api/v1/map/tiles/9/421/204.mvt?domains=nosuch", "domains"),
    ("/api/v1/map/tiles/9/421/204.mvt?stage=nosuch", "stage"),
])
def test_bad_tile_requests_are_400_with_a_chinese_message(client, web_data, path, parameter):
    response = client.get(path)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["details"]["parameter"] == parameter
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


def test_malformed_tile_paths_are_404(client, web_data):
    for path in ("/api/v1/map/tiles/-1/0/0.mvt", "/api/v1/map/tiles/1/a/0.mvt", "/api/v1/map/tiles/1/0/0.png"):
        assert client.get(path).status_code == 404, path


def test_signed_out_visitors_get_no_tiles(anonymous_client, web_data):
    assert anonymous_client.get("/api/v1/map/tiles/%d/%d/%d.mvt" % DISTRICT_TILE).status_code == 401


def test_the_map_draws_tiles_above_the_configured_size_only(app, client, web_data):
    assert "/api/v1/map/tiles/" not in client.get("/map").get_data(as_text=True)  # 5 projects: features
    app.config["MAP_TILES_ABOVE"] = 0
    for path in ("/map", "/towns/370499002"):
        assert "/api/v1/map/tiles/{z}/{x}/{y}.mvt" in client.get(path).get_data(as_text=True), path
    app.config["BASEMAPS"] = ["amap"]  # drawn in GCJ-02: the features endpoint shifts the projects
    assert "/api/v1/map/tiles/" not in client.get("/map?basemap=amap").get_data(as_text=True)


def test_tile_route_is_in_the_openapi_document(client):
    assert "/api/v1/map/tiles/{z}/{x}/{y}.mvt" in client.get("/api/v1/openapi.json").get_json()["paths"]


@pytest.mark.parametrize("role, towns", [("planner", ""), ("town", "370499003")])
def test_under_row_level_security_a_tile_reads_projects_through_the_spatial_index(grid_district, db, role, towns):
    """The plan, not a time: as the web role the box filter is an index condition (0014_tiles);
    without it PostgreSQL reads every project of the registry for every tile."""
    from registry import sqlfiles
    from registry.scope import Scope
    db.execute(text("""
        INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment, stage)
        SELECT '370499', format('2024-370499-01-01-%s', lpad(g::text, 6, '0')), '项目' || g, 'industry', '单位',
               ST_SetSRID(ST_MakePoint(116.95 + (g % 100) * 0.004, 34.95 + (g / 100) * 0.004), 4326), 1, 'reserve'
        FROM generate_series(1, 5000) g"""))
    db.execute(text("ANALYZE projects"))
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    db.execute(text("SELECT set_config('eqreg.role', :r, true), set_config('eqreg.towns', :t, true)"),
               {"r": role, "t": towns})
    scope = Scope(actor="t", role=role, town_codes=frozenset([towns]) if towns else None)
    plan = "\n".join(db.scalars(text("EXPLAIN " + sqlfiles.source("map_tiles")),
                                map_tiles.tile_params(scope, map_tiles.TileRequest(*tile_of(117.1, 35.0, 15)))))
    assert "idx_projects_geom" in plan and "Seq Scan on projects" not in plan, plan
