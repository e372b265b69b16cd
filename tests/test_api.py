"""The JSON API under /api/v1 (DESIGN §5): filters, sorting, paging, scope, errors, GeoJSON, OpenAPI."""
from __future__ import annotations

import json
import re

import pytest
from shapely.geometry import shape

from conftest import SAMPLE_PROJECTS
from test_figures import TOWN_BOXES, expected_by_town, expected_shares

LIVE = [p for p in SAMPLE_PROJECTS if not p[9]]
CODE_OF = {p[1]: p[0] for p in SAMPLE_PROJECTS}


@pytest.fixture
def planner(client_for, web_data):
    return client_for("planner")


@pytest.fixture
def town_user(client_for, web_data):
    """A 丙镇 (370499003) official."""
    return client_for("town", towns=["370499003"])


def codes(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["code"] for item in response.get_json()["items"]}


def assert_error(response, status: int) -> dict:
    assert response.status_code == status
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert re.search(r"[\u4e00-\u9fff]", error["message"]), "the message is for people: Chinese"
    return error


def test_project_list_has_every_live_project_and_page_info(planner):
    body = planner.get("/api/v1/projects").get_json()
    assert body["total"] == len(LIVE)
    assert {i["code"] for i in body["items"]} == {p[0] for p in LIVE}
    assert (body["page"], body["pages"]) == (1, 1)
    item = next(i for i in body["items"] if i["code"] == LIVE[0][0])
    assert item["total_investment"] == LIVE[0][6]
    assert (item["stage_label"], item["town_name"]) == ("在建", "乙镇")


@pytest.mark.parametrize("query, expected", [
    ("domain=municipal", {p[0] for p in LIVE if p[2] == "municipal"}),
    ("stage=在建", {p[0] for p in LIVE if p[4] == "construction"}),
    ("town=370499003", {p[0] for p in LIVE if "370499003" in expected_shares(p[5])}),
    ("year=2026", {p[0] for p in LIVE if (p[8] or p[0]).startswith("2026")}),
    ("bbox=117.2,35.0,117.3,35.1", {p[0] for p in LIVE if "370499003" in expected_shares(p[5])}),
    ("q=燃气", {p[0] for p in LIVE if "燃气" in p[1]}),
])
def test_project_list_filters(planner, query, expected):
    assert codes(planner.get(f"/api/v1/projects?{query}")) == expected


def test_project_list_sorts_by_a_whitelisted_field(planner):
    items = planner.get("/api/v1/projects?sort=-total_investment").get_json()["items"]
    assert [i["total_investment"] for i in items] == sorted((p[6] for p in LIVE), reverse=True)
    items = planner.get("/api/v1/projects?sort=code").get_json()["items"]
    assert [i["code"] for i in items] == sorted(p[0] for p in LIVE)


def test_project_list_pages(planner):
    first = planner.get("/api/v1/projects?per_page=2&sort=code").get_json()
    third = planner.get("/api/v1/projects?per_page=2&page=3&sort=code").get_json()
    assert (first["total"], first["pages"], len(first["items"])) == (len(LIVE), 3, 2)
    assert [i["code"] for i in third["items"]] == [sorted(p[0] for p in LIVE)[4]]


@pytest.mark.parametrize("query, parameter", [
    ("sort=owner_phone", "sort"), ("per_page=0", "per_page"), ("per_page=100000", "per_page"),
    ("page=abc", "page"), ("domain=太空", "domain"), ("stage=完工了", "stage"), ("year=明年", "year"),
    ("bbox=1,2,3", "bbox"),
])
def test_bad_list_parameters_are_400_with_a_chinese_message(planner, query, parameter):
    error = assert_error(planner.get(f"/api/v1/projects?{query}"), 400)
    assert error["code"] == "invalid_input"
    assert error["details"]["parameter"] == parameter


def test_project_detail_has_geometry_town_shares_and_an_etag(planner, web_data):
    code, _, _, _, _, wkt, total, completed, *_ = SAMPLE_PROJECTS[1]  # the east–west gas main
    response = planner.get(f"/api/v1/projects/{web_data[code]}")
    body = response.get_json()
    assert body["code"] == code and body["geometry"]["type"] == "LineString"
    want = expected_shares(wkt)
    assert {t["code"]: t["share"] for t in body["towns"]} == pytest.approx(want, abs=1e-4)
    for town in body["towns"]:
        assert town["total_investment"] == pytest.approx(total * want[town["code"]], abs=0.01)
        assert town["completed_investment"] == pytest.approx(completed * want[town["code"]], abs=0.01)
    assert response.headers["ETag"] == f'"{web_data[code]}-{body["version"]}"'
    again = planner.get(f"/api/v1/projects/{web_data[code]}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_and_deleted_projects_are_404(planner, web_data):
    assert_error(planner.get("/api/v1/projects/987654321"), 404)
    assert_error(planner.get(f"/api/v1/projects/{web_data[CODE_OF['已删除的项目']]}"), 404)
    assert planner.get("/api/v1/projects/abc").status_code == 404


def test_town_user_sees_only_projects_touching_their_town(town_user, web_data):
    visible = {p[0] for p in LIVE if "370499003" in expected_shares(p[5])}
    assert codes(town_user.get("/api/v1/projects")) == visible
    outside = next(p[0] for p in LIVE if p[0] not in visible)
    assert_error(town_user.get(f"/api/v1/projects/{web_data[outside]}"), 404)


def test_town_user_gets_their_towns_figures_and_their_share_of_money(town_user):
    towns = town_user.get("/api/v1/towns").get_json()["items"]
    assert [t["code"] for t in towns] == ["370499003"]
    want = expected_by_town()["370499003"]
    assert towns[0]["total_investment"] == pytest.approx(want["total"], abs=0.02)
    stats = town_user.get("/api/v1/stats?group_by=domain").get_json()
    assert stats["totals"]["total_investment"] == pytest.approx(want["total"], abs=0.02)
    assert {r["key"]: r["project_count"] for r in stats["items"]} == dict(want["domain"])


def test_projects_geojson_is_a_streamed_feature_collection_in_scope(planner, web_data):
    with planner.get("/api/v1/projects.geojson?domain=municipal") as response:
        assert response.mimetype == "application/geo+json"
        body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "FeatureCollection"
    features = {f["properties"]["code"]: f for f in body["features"]}
    assert features.keys() == {p[0] for p in LIVE if p[2] == "municipal"}
    gas = features[SAMPLE_PROJECTS[1][0]]["properties"]
    assert {t["code"]: t["share"] for t in gas["towns"]} == pytest.approx(expected_shares(SAMPLE_PROJECTS[1][5]), abs=1e-4)


def test_projects_geojson_for_a_town_user_leaves_out_other_towns(town_user):
    with town_user.get("/api/v1/projects.geojson") as response:
        body = json.loads(response.get_data(as_text=True))
    assert {f["properties"]["code"] for f in body["features"]} == \
        {p[0] for p in LIVE if "370499003" in expected_shares(p[5])}
    assert_error(town_user.get("/api/v1/projects.geojson?bbox=9,9"), 400)


def test_towns_list_carries_figures(planner):
    towns = {t["code"]: t for t in planner.get("/api/v1/towns").get_json()["items"]}
    expected = expected_by_town()
    assert towns.keys() == TOWN_BOXES.keys()
    for code, town in towns.items():
        assert town["project_count"] == expected[code]["count"]
        assert town["completed_investment"] == pytest.approx(expected[code]["completed"], abs=0.02)
    assert_error(planner.get("/api/v1/towns?district=37"), 400)


def test_towns_geojson_has_boundaries_with_figures(planner):
    response = planner.get("/api/v1/towns.geojson")
    assert response.mimetype == "application/geo+json"
    features = json.loads(response.get_data(as_text=True))["features"]
    expected = expected_by_town()
    assert {f["id"] for f in features} == TOWN_BOXES.keys()
    for feature in features:
        code = feature["id"]
        assert shape(feature["geometry"]).symmetric_difference(TOWN_BOXES[code]).area < 1e-9
        assert feature["properties"]["total_investment"] == pytest.approx(expected[code]["total"], abs=0.02)
        assert "geometry" not in feature["properties"]


@pytest.mark.parametrize("group_by", ["town", "domain", "stage", "year"])
def test_stats_count_every_live_project(planner, group_by):
    body = planner.get(f"/api/v1/stats?group_by={group_by}").get_json()
    assert body["totals"]["project_count"] == len(LIVE)
    counted = sum(r["project_count"] for r in body["items"])
    if group_by == "town":  # a project counts in each town it touches
        assert counted == sum(len(expected_shares(p[5])) for p in LIVE)
    else:
        assert counted == len(LIVE)


def test_stats_need_a_known_grouping(planner):
    assert_error(planner.get("/api/v1/stats"), 400)
    assert_error(planner.get("/api/v1/stats?group_by=owner"), 400)


def test_openapi_describes_every_api_route(anonymous_client, app):
    document = anonymous_client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        path = path.replace("{project_id}", "{id}")
        assert path in document["paths"], f"{rule.rule} missing from openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {rule.rule} undocumented"
