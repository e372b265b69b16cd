"""The map's cluster grid ``map_cells`` (migration 0016, registry.map_tiles.current_grid): tiles
counted from it are the tiles counted from the projects, it follows the change stamp, and it is
scoped like the projects (the application's filters and row-level security)."""
from __future__ import annotations

import json
import threading

import mapbox_vector_tile
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import accounts, map_tiles, sqlfiles
from registry.map_tiles import TileRequest, tile_params
from registry.roles import Role
from registry.scope import Scope, present_secret
from test_map_tiles import DISTRICT_TILE, PIPELINE, get_tile, tile_of

TOWNS = ("370499001", "370499002", "370499003")


def district_tiles(z: int) -> list[tuple[int, int, int]]:
    """Every tile over 测试区 (116.9–117.4 E, 34.9–35.2 N) at zoom z."""
    _, x0, y0 = tile_of(116.9, 35.2, z)
    _, x1, y1 = tile_of(117.4, 34.9, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def busy_tiles(session, z: int) -> list[tuple[int, int, int]]:
    """The tiles at zoom z that a project's bounding box reaches, and the ones around them."""
    boxes = session.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM projects"))
    tiles = set()
    for west, south, east, north in boxes:
        _, x0, y0 = tile_of(west, north, z)
        _, x1, y1 = tile_of(east, south, z)
        tiles |= {(z, x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)}
    return sorted(tiles)


def built(session, scope, request, grid_stamp) -> bytes:
    return bytes(session.execute(sqlfiles.load("map_tiles"), tile_params(scope, request, grid_stamp)).scalar_one())


def clusters_of(data: bytes) -> list[dict]:
    return [f["properties"] for f in mapbox_vector_tile.decode(data).get("clusters", {"features": []})["features"]]


@pytest.fixture
def owner(web_data, engine):
    with Session(engine) as session:
        yield session


@pytest.mark.parametrize("filters", [{}, {"stage": "construction"}, {"domains": ("municipal", "medical")},
                                     {"town": "370499002"}], ids=str)
def test_tiles_from_the_grid_are_the_tiles_counted_from_the_projects(owner, filters):
    stamp = map_tiles.current_grid(owner)
    assert stamp is not None  # a small registry: counted at once
    seen = 0
    for scope in (Scope.system(), Scope(actor="t", role=Role.TOWN, town_codes=frozenset({"370499003"})),
                  Scope(actor="d", role=Role.PLANNER, district_codes=frozenset({"370499"}))):
        for z in (0, 5, 9, 11, 13):
            for z, x, y in district_tiles(z):
                request = TileRequest(z, x, y, max_features=0, **filters)  # always clusters below the full zoom
                from_grid = built(owner, scope, request, stamp)
                assert from_grid == built(owner, scope, request, None), (scope, z, x, y)
                seen += sum(c["count"] for c in clusters_of(from_grid))
    assert seen > 0


@pytest.mark.parametrize("filters", [{"town": "370499002"}, {"town": "370499003", "stage": "construction"}, {}],
                         ids=str)
def test_town_tiles_narrowed_by_the_grid_are_the_tiles_of_every_project(owner, filters):
    """With a town filter or a town user's scope, a tile looks for projects only within the extents of
    the grid rows of those towns: the same tiles, clusters or projects (whichever the counts decide)."""
    stamp = map_tiles.current_grid(owner)
    features = 0
    for scope in (Scope.system(), Scope(actor="t", role=Role.TOWN, town_codes=frozenset({"370499003"})),
                  Scope(actor="t2", role=Role.TOWN, town_codes=frozenset({"370499001", "370499002"}))):
        for z in (5, 9, 12, 14):
            for z, x, y in busy_tiles(owner, z):
                for most in (0, 2, 300):  # clusters above this many projects in the tile
                    request = TileRequest(z, x, y, max_features=most, **filters)
                    from_grid = built(owner, scope, request, stamp)
                    assert from_grid == built(owner, scope, request, None), (scope, z, x, y, most)
                    features += len(mapbox_vector_tile.decode(from_grid).get("projects", {"features": []})["features"])
    assert features > 0


def test_a_town_tile_looks_for_projects_only_where_the_towns_are(owner):
    """The extents of the town's grid rows bound the search: a tile far from the town's projects
    finds nothing even when the grid is made to say so (here: shrunk to an empty corner)."""
    stamp = map_tiles.current_grid(owner)
    request = TileRequest(*DISTRICT_TILE, town="370499001")
    assert mapbox_vector_tile.decode(built(owner, Scope.system(), request, stamp))["projects"]["features"]
    owner.execute(text("UPDATE map_cells SET west = 100, east = 100.001, south = 10, north = 10.001"))
    assert built(owner, Scope.system(), request, stamp) == b""
    assert built(owner, Scope.system(), TileRequest(*DISTRICT_TILE), stamp) != b""  # no town: the tile itself
    assert mapbox_vector_tile.decode(built(owner, Scope.system(), request, None))["projects"]["features"]
    owner.rollback()


def test_a_tile_reads_the_grid_when_it_is_current_and_the_projects_when_it_is_not(owner):
    stamp = map_tiles.current_grid(owner)
    request = TileRequest(*DISTRICT_TILE, max_features=0)
    assert sum(c["count"] for c in clusters_of(built(owner, Scope.system(), request, stamp))) == 5
    owner.execute(text("UPDATE map_cells SET n = n * 10"))  # as if the grid said otherwise
    assert sum(c["count"] for c in clusters_of(built(owner, Scope.system(), request, stamp))) == 50
    stale = (stamp[0], stamp[1] - 1)  # a stamp the grid was not counted at: counted from the projects
    assert sum(c["count"] for c in clusters_of(built(owner, Scope.system(), request, stale))) == 5
    owner.rollback()


def test_a_multi_town_project_counts_once_whatever_towns_are_asked_for(owner):
    stamp = map_tiles.current_grid(owner)
    pipeline_towns = owner.execute(text(
        "SELECT towns FROM map_cells WHERE z = 0 AND stage = 'construction' AND domain_code = 'municipal'")).scalar_one()
    assert sorted(pipeline_towns) == list(TOWNS)  # one row holds the pipeline with its three towns
    scope = Scope(actor="t", role=Role.TOWN, town_codes=frozenset(TOWNS))
    counts = clusters_of(built(owner, scope, TileRequest(*DISTRICT_TILE, max_features=0), stamp))
    assert sum(c["count"] for c in counts) == 5


def test_an_edit_gives_a_new_stamp_and_the_tiles_new_counts(app, client, web_data, engine):
    app.config["MAP_TILE_MAX_FEATURES"] = 0
    before = clusters_of(get_tile(client, *DISTRICT_TILE).get_data())
    assert sum(json.loads(c["by_stage"]).get("completed", 0) for c in before) == 1
    with engine.connect() as conn:
        first = conn.execute(text("SELECT epoch, stamp FROM map_cell_state")).one()
    with engine.begin() as conn:  # another connection, as another worker or the CLI would
        conn.execute(text("UPDATE projects SET stage = 'completed', actual_start = '2024-05-01', "
                          "actual_end = '2025-01-01' WHERE code = :c"), {"c": PIPELINE})
    after = clusters_of(get_tile(client, *DISTRICT_TILE).get_data())
    assert sum(json.loads(c["by_stage"]).get("completed", 0) for c in after) == 2
    assert sum(c["count"] for c in after) == 5
    with engine.connect() as conn:
        counted = conn.execute(text("SELECT epoch, stamp FROM map_cell_state")).one()
        current = conn.execute(text("SELECT epoch, stamp FROM registry_changes")).one()
    assert counted == current and counted != first


def test_a_town_users_tiles_count_only_its_towns_projects(app, client_for, web_data):
    app.config["MAP_TILE_MAX_FEATURES"] = 0
    town = client_for("town", towns=["370499003"])  # 丙镇: the pipeline and 丙镇粮食烘干中心
    response = get_tile(town, *DISTRICT_TILE)
    assert response.headers["Cache-Control"] == "private, no-cache" and response.headers["ETag"]
    counts = clusters_of(response.get_data())
    assert sum(c["count"] for c in counts) == 2
    assert town.get("/api/v1/map/tiles/%d/%d/%d.mvt" % DISTRICT_TILE,
                    headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("role, reach, visible", [
    (Role.TOWN, {"towns": ["370499003"]}, 2), (Role.TOWN, {"towns": ["370499001"]}, 3),
    (Role.PLANNER, {"districts": ["370499"]}, 5), (Role.PLANNER, {"districts": ["370498"]}, 0), (Role.BUREAU, {}, 5)])
def test_row_level_security_shows_the_web_role_the_grid_of_its_projects_only(owner, role, reach, visible):
    map_tiles.count_grid(owner.get_bind())
    account = accounts.create_user(owner, actor="test", username=f"cells_{role}", role=role, **reach)
    token = accounts.issue_token(owner, account=account)[0]
    owner.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(owner, token)
    seen = owner.execute(text("SELECT coalesce(sum(n), 0) FROM map_cells WHERE z = 0")).scalar_one()
    projects = owner.execute(text("SELECT count(*) FROM projects WHERE deleted_at IS NULL")).scalar_one()
    assert seen == projects == visible
    owner.rollback()


def test_a_large_registry_counts_the_grid_in_the_background_and_tiles_count_meanwhile(owner, monkeypatch):
    monkeypatch.setattr(map_tiles, "COUNT_WHILE_WAITING_BELOW", 0)  # as if it held 10^6 projects
    map_tiles.clear_cache()
    assert map_tiles.current_grid(owner) is None  # not counted at this stamp yet: the tile counts itself
    for thread in threading.enumerate():
        if thread.name == "eqreg-map-cells":
            thread.join(timeout=60)
    stamp = owner.execute(text("SELECT epoch, stamp FROM registry_changes")).one()
    assert map_tiles.current_grid(owner) == tuple(stamp)
    assert owner.execute(text("SELECT sum(n) FROM map_cells WHERE z = 0")).scalar_one() == 5
