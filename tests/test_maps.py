"""District and town maps: pages, the lazily loaded project layer, scope, offline assets."""
from __future__ import annotations

import json
import re

import pytest

from geo.crs import wgs84_to_gcj02
from registry import map_view as map_features
from web.maps.assets import localise

VIEW = "116.9,34.9,117.4,35.2"  # the whole of 测试区
NAMES_OF_FOLIUM_TEMPLATE_URLS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def features(client, **params):
    response = client.get("/api/v1/map/features", query_string={"bbox": VIEW, "zoom": 11, **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/geo+json"
    return response.get_json()


def embedded_towns(html: str) -> dict:
    """The town FeatureCollection Folium wrote into the page."""
    match = re.search(r'(\{"type": "FeatureCollection".*?\]\})\)?;', html, re.S) or \
        re.search(r'(\{"features": .*?"type": "FeatureCollection"\})', html, re.S)
    assert match, "no town GeoJSON in the page"
    return json.loads(match.group(1))


def test_district_map_embeds_towns_with_figures_but_not_projects(client, web_data):
    response = client.get("/map")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    towns = {f["properties"]["code"]: f["properties"] for f in embedded_towns(html)["features"]}
    assert set(towns) == {"370499001", "370499002", "370499003"}
    # 乙镇: the point, its share of the pipeline and of the hospital site
    assert towns["370499002"]["name"] == "乙镇"
    assert towns["370499002"]["project_count"] == 3
    assert towns["370499002"]["density"] > 0
    assert "乙镇智能工厂改造" not in html and "\\u4e59\\u9547\\u667a" not in html  # projects load lazily
    assert "EqregMap.init" in html and "/api/v1/map/features" in html


def test_map_pages_reference_only_local_assets_that_exist(client, web_data):
    for path in ("/map", "/towns/370499002"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"https?://|//cdn|unpkg|jsdelivr|cdnjs", html), path
        assets = [u for u in NAMES_OF_FOLIUM_TEMPLATE_URLS.findall(html) if u.startswith("/static/")]
        assert any(u.endswith("leaflet.js") for u in assets)
        assert any(u.endswith("leaflet.markercluster.js") for u in assets)
        assert any(u.endswith("leaflet-heat.js") for u in assets)
        for url in assets:
            assert client.get(url).status_code == 200, url


def test_localise_refuses_a_resource_that_is_not_vendored(app):
    from folium.elements import JSCSSMixin

    class NewPlugin(JSCSSMixin):
        default_js = [("shiny", "https://cdn.example.com/shiny.js")]

    with app.test_request_context(), pytest.raises(LookupError, match="shiny"):
        localise(NewPlugin())


def test_features_when_few_projects_are_in_view(client, web_data):
    collection = features(client)
    assert collection["mode"] == "features" and collection["truncated"] is False
    by_code = {f["properties"]["code"]: f for f in collection["features"]}
    assert len(by_code) == 5  # the soft-deleted project is left out
    pipeline = by_code["2024-370499-01-01-100002"]
    assert pipeline["geometry"]["type"] == "LineString"
    assert pipeline["properties"]["stage"] == "construction"
    assert pipeline["properties"]["domain"] == "municipal"
    assert pipeline["properties"]["total_investment"] == 800
    assert by_code["2023-370499-01-01-100003"]["geometry"]["type"] == "Polygon"


def test_many_projects_in_view_come_as_grid_clusters(client, web_data, monkeypatch):
    monkeypatch.setattr(map_features, "MAX_FEATURES", 2)
    collection = features(client, zoom=9)
    assert collection["mode"] == "clusters"
    counts = [f["properties"]["count"] for f in collection["features"]]
    assert sum(counts) == 5
    stages = {}
    for f in collection["features"]:
        assert f["geometry"]["type"] == "Point"
        for stage, n in f["properties"]["by_stage"].items():
            stages[stage] = stages.get(stage, 0) + n
    assert stages == {"construction": 2, "completed": 1, "reserve": 1, "approval": 1}
    # zoomed right in, the features come back even when there are many (capped)
    zoomed = features(client, zoom=map_features.FULL_ZOOM)
    assert zoomed["mode"] == "features" and len(zoomed["features"]) == 2 and zoomed["truncated"]


def test_features_follow_domain_stage_and_town_filters(client, web_data):
    codes = lambda c: {f["properties"]["code"][-6:] for f in c["features"]}  # noqa: E731
    assert codes(features(client, domains="municipal")) == {"100002", "100005"}
    assert codes(features(client, domains="industry,医疗卫生")) == {"100001", "100003"}
    assert features(client, domains="")["features"] == []
    assert codes(features(client, stage="在建")) == {"100001", "100002"}
    assert codes(features(client, town="370499002")) == {"100001", "100002", "100003"}
    assert codes(features(client, bbox="117.2,35.0,117.3,35.1")) == {"100002", "100004"}


@pytest.mark.parametrize("query", [{"domain": "市政基础设施"}, {"year": "2024"}, {"is_key": "false"},
                                   {"q": "工厂"}, {"town": "370499002", "stage": "construction"},
                                   {"year": "2023", "domain": "medical"}])
def test_features_take_the_project_lists_filters(client, web_data, query):
    listed = client.get("/api/v1/projects", query_string={**query, "per_page": 100}).get_json()["items"]
    drawn = features(client, **query)["features"]
    assert listed and {f["properties"]["code"] for f in drawn} == {p["code"] for p in listed}


def test_a_bad_filter_on_the_map_is_the_lists_400(client, web_data):
    response = client.get("/api/v1/map/features", query_string={"bbox": VIEW, "zoom": 11, "year": "soon"})
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {"parameter": "year", "value": "soon"}


def test_the_map_page_passes_the_lists_filters_to_its_project_layer(client, web_data):
    html = client.get("/map", query_string={"stage": "在建", "year": "2024"}).get_data(as_text=True)
    assert '"stage": "\\u5728\\u5efa"' in html or '"stage": "在建"' in html
    assert '"year": "2024"' in html
    assert client.get("/map", query_string={"year": "soon"}).status_code == 400


def test_town_user_sees_only_projects_and_towns_in_scope(client_for, web_data):
    town_client = client_for("town", towns=["370499003"])
    codes = {f["properties"]["code"][-6:] for f in features(town_client)["features"]}
    assert codes == {"100002", "100004"}  # the pipeline crosses 丙镇; the dryer is in it
    assert town_client.get("/towns/370499003").status_code == 200
    assert town_client.get("/towns/370499001").status_code == 404
    towns = embedded_towns(town_client.get("/map").get_data(as_text=True))
    assert [f["properties"]["code"] for f in towns["features"]] == ["370499003"]


def test_town_page_shows_that_towns_figures(client, web_data):
    response = client.get("/towns/370499002")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>乙镇</h1>" in html
    assert '"town": "370499002"' in html  # the project layer asks for this town's projects only
    # figures beside the map: 3 projects, apportioned money (1000 + 800 × ½ + 500 × ¼ = 1525)
    assert re.search(r"项目数</th><td>3<", html)
    assert "1,525.00 万元" in html


def test_unknown_town_is_404(client, web_data):
    response = client.get("/towns/370499999")
    assert response.status_code == 404
    assert "未找到镇街" in response.get_data(as_text=True)


def test_a_district_map_the_account_cannot_see_is_404_like_a_town(client, client_for, web_data):
    assert client.get("/map?district=370499").status_code == 200
    for who, district in ((client, "999999"), (client_for("town", towns=["370499003"]), "370498")):
        response = who.get(f"/map?district={district}")
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert f"未找到区县：{district}" in page and "eqreg boundaries load" not in page


def test_an_unknown_address_is_refused_in_chinese(client, web_data):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "页面不存在" in page and "requested URL" not in page
    assert "页面不存在" in client.get("/api/v1/no-such-thing").get_json()["error"]["message"]


def test_amap_basemap_shifts_towns_and_projects_to_gcj02(app, client, web_data):
    app.config["BASEMAPS"] = ["amap"]
    shifted = features(client, crs="gcj02", bbox="116.9,34.9,117.45,35.25")
    plain = features(client)
    point = lambda c: next(f for f in c["features"] if f["properties"]["code"].endswith("100001"))  # noqa: E731
    lng, lat = point(plain)["geometry"]["coordinates"]
    expected = wgs84_to_gcj02(lng, lat)
    assert point(shifted)["geometry"]["coordinates"] == pytest.approx([float(v) for v in expected], abs=1e-6)
    assert abs(point(shifted)["geometry"]["coordinates"][0] - lng) > 1e-3  # a real shift (~500 m)
    html = client.get("/map?basemap=amap").get_data(as_text=True)
    assert "autonavi.com" in html and '"crs": "gcj02"' in html
    corner = embedded_towns(html)["features"][0]["geometry"]["coordinates"][0][0][0]
    assert corner != pytest.approx([117.0, 35.0], abs=1e-4)


def test_online_basemaps_are_off_unless_configured(client, web_data):
    html = client.get("/map").get_data(as_text=True)
    assert not re.search(r"openstreetmap|autonavi|tianditu", html)
    for basemap in ("osm", "amap", "tianditu"):
        assert client.get(f"/map?basemap={basemap}").status_code == 400


def test_tianditu_needs_a_key(app, client, web_data):
    app.config["BASEMAPS"] = "tianditu, osm"  # EQREG_BASEMAPS may be JSON or comma-separated
    assert client.get("/map?basemap=tianditu").status_code == 400
    app.config["TIANDITU_KEY"] = "k123"
    html = client.get("/map?basemap=tianditu").get_data(as_text=True)
    assert "tianditu.gov.cn" in html and "tk=k123" in html
    assert "tianditu.gov.cn" not in client.get("/map").get_data(as_text=True)  # offline by default


@pytest.mark.parametrize("params, parameter", [
    ({"bbox": None}, "bbox"), ({"bbox": "1,2,3"}, "bbox"), ({"zoom": "far"}, "zoom"),
    ({"zoom": 40}, "zoom"), ({"domains": "space"}, "domains"), ({"crs": "bd09"}, "crs"),
])
def test_bad_view_parameters_are_400_with_a_chinese_message(client, web_data, params, parameter):
    query = {"bbox": VIEW, "zoom": 11, **params}
    response = client.get("/api/v1/map/features", query_string={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert re.search(r"[\u4e00-\u9fff]", error["message"])
    assert error["details"]["parameter"] == parameter


def test_map_without_boundaries_says_so(client, committed):
    response = client.get("/map")
    assert response.status_code == 200
    assert "尚未加载镇街边界" in response.get_data(as_text=True)


def test_features_endpoint_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/map/features"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"bbox", "zoom", "domains", "town", "crs"}


def test_signed_out_visitors_are_sent_to_sign_in(anonymous_client, web_data):
    assert anonymous_client.get("/map").status_code in (302, 303)
    assert anonymous_client.get("/api/v1/map/features", query_string={"bbox": VIEW, "zoom": 11}).status_code == 401


def test_search_finds_by_code_or_name_within_the_scope(client, client_for, web_data):
    found = client.get("/api/v1/map/search?q=100005").get_json()
    assert [f["properties"]["name"] for f in found["features"]] == ["甲街道供热管网"]
    props = client.get("/api/v1/map/search?q=2024-370499-01-01-100002").get_json()["features"][0]["properties"]
    assert props["length_km"] == pytest.approx(18.2, abs=0.2)
    assert props["towns"][0]["name"] == "乙镇"  # the largest share first
    assert {t["name"]: t["share"] for t in props["towns"]} == pytest.approx({"乙镇": 0.5, "丙镇": 0.25, "甲街道": 0.25})
    assert len(client.get("/api/v1/map/search?q=管网").get_json()["features"]) == 2
    assert client.get("/api/v1/map/search?q=已删除").get_json()["features"] == []  # deleted: not found
    town = client_for("town", towns=["370499003"])  # 丙镇: the heating pipeline lies in 甲街道 only
    assert [f["properties"]["name"] for f in town.get("/api/v1/map/search?q=管网").get_json()["features"]] \
        == ["东西燃气管网更新"]
    response = client.get("/api/v1/map/search?q=%20", headers={"Accept": "application/json"})
    assert response.status_code == 400 and "项目代码或名称" in response.get_json()["error"]["message"]


def test_a_twelve_digit_town_code_filters_like_its_nine_digits(client, web_data):
    nine = {f["id"] for f in features(client, town="370499002")["features"]}
    assert nine and {f["id"] for f in features(client, town="370499002000")["features"]} == nine
