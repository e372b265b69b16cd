"""The project pages that write: new/edit form (CSRF, per-field errors, hidden version), the
conflict page of a stale save, delete/restore buttons, progress form, timeline and history page."""
from __future__ import annotations

import json
import re

import pytest

SMART_FACTORY = "2024-370499-01-01-100001"  # construction, 乙镇, 1000 万元, 400 done
FORM = {"code": "2025-370499-01-01-700001", "name": "丙镇环卫设施更新", "domain": "municipal",
        "category": "环卫设施", "owner": "测试环卫公司", "total_investment": "120", "stage": "reserve",
        "funding": ["fiscal_subsidy", "self_raised"], "is_key": "是",
        "geometry": json.dumps({"type": "Point", "coordinates": [117.25, 35.05]})}


@pytest.fixture
def bureau(client_for, web_data):
    return client_for("bureau")


def page(response) -> str:
    return response.get_data(as_text=True)


def field_error(html: str, field: str) -> str:
    found = re.findall(rf'<p class="field-error" data-field="{field}">([^<]*)</p>', html)
    assert found, f"no error shown for {field}"
    return found[0]


def test_the_new_form_has_every_template_field_csrf_and_the_draw_map(bureau):
    html = page(bureau.get("/projects/new"))
    from registry.template import COLUMNS
    for column in COLUMNS:
        assert column.header in html, column.header
        assert f'name="{column.key}"' in html, column.key
    assert 'name="csrf_token"' in html and 'id="draw-map"' in html
    assert "vendor/leaflet-draw/leaflet.draw.js" in html and "https://" not in html


def test_a_valid_form_registers_the_project_and_shows_it(bureau):
    response = bureau.post("/projects/new", data=FORM)
    assert response.status_code == 302
    detail = bureau.get(response.headers["Location"])
    html = page(detail)
    assert FORM["name"] in html and "丙镇" in html and "环卫设施" in html


def test_a_form_without_the_csrf_token_is_refused(bureau):
    bureau.csrf_token = None
    response = bureau.post("/projects/new", data=FORM)
    assert response.status_code == 400 and "CSRF" in page(response)
    assert "丙镇环卫设施更新" not in page(bureau.get("/projects?q=环卫"))


def test_errors_are_shown_beside_each_field_and_values_are_kept(bureau):
    bad = {**FORM, "total_investment": "一百", "domain": "", "stage": "completed", "planned_start": "2026-13-40"}
    response = bureau.post("/projects/new", data=bad)
    html = page(response)
    assert response.status_code == 400
    assert "总投资" in field_error(html, "total_investment") and "不是数字" in field_error(html, "total_investment")
    assert "领域" in field_error(html, "domain")
    assert "计划开工" in field_error(html, "planned_start")
    assert 'value="一百"' in html and 'value="丙镇环卫设施更新"' in html


def test_a_location_outside_the_district_is_an_error_on_the_location(bureau):
    response = bureau.post("/projects/new", data={**FORM, "geometry": "", "lng": "35.05", "lat": "117.25"})
    assert response.status_code == 400 and "填反" in field_error(page(response), "location")


def test_typed_gcj02_coordinates_are_converted(bureau):
    from geo.crs import wgs84_to_gcj02
    lng, lat = wgs84_to_gcj02(117.25, 35.05)
    response = bureau.post("/projects/new", data={**FORM, "geometry": "", "lng": f"{float(lng):.7f}",
                                                  "lat": f"{float(lat):.7f}", "crs": "GCJ02"})
    assert response.status_code == 302
    project_id = int(response.headers["Location"].rsplit("/", 1)[1])
    coords = bureau.get(f"/api/v1/projects/{project_id}").get_json()["geometry"]["coordinates"]
    assert coords == pytest.approx([117.25, 35.05], abs=1e-6)


def test_the_edit_form_carries_the_version_and_saves(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    html = page(bureau.get(f"/projects/{project_id}/edit"))
    assert 'name="version" value="1"' in html and 'value="乙镇智能工厂改造"' in html
    form = edit_form(bureau, project_id, name="乙镇智能工厂改造（二期）")
    response = bureau.post(f"/projects/{project_id}/edit", data=form)
    assert response.status_code == 302, page(response)
    body = bureau.get(f"/api/v1/projects/{project_id}").get_json()
    assert (body["name"], body["version"], body["primary_town_code"]) == ("乙镇智能工厂改造（二期）", 2, "370499002")


def edit_form(client, project_id: int, **changes) -> dict:
    """The edit form as a browser would post it (every field as shown, geometry untouched)."""
    html = page(client.get(f"/projects/{project_id}/edit"))
    form = {}
    for name, value in re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', html):
        if name not in ("csrf_token", "funding", "is_key"):
            form[name] = value
    for name in ("domain", "stage", "crs"):
        form[name] = re.search(rf'<select id="f-{name}" name="{name}">.*?<option value="([^"]*)" selected',
                               html, re.S)[1]
    form["funding"] = re.findall(r'name="funding" value="(\w+)" checked', html)
    form.update(changes)
    return form


def test_a_stale_save_shows_the_conflict_page_with_both_versions(bureau, client_for, web_data):
    project_id = web_data[SMART_FACTORY]
    mine = edit_form(bureau, project_id, total_investment="1500")
    other = client_for("admin")
    assert other.patch(f"/api/v1/projects/{project_id}", json={"total_investment": 1200},
                       headers={"If-Match": '"1"'}).status_code == 200
    response = bureau.post(f"/projects/{project_id}/edit", data=mine)
    html = page(response)
    assert response.status_code == 409 and "保存冲突" in html
    row = re.search(r'<tr class="differs"><td>总投资（万元）</td><td>([^<]*)</td><td>([^<]*)</td>', html)
    assert row and (row[1], row[2]) == ("1200", "1500")
    assert 'name="version" value="2"' in html
    assert bureau.get(f"/api/v1/projects/{project_id}").get_json()["total_investment"] == 1200
    overwrite = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    overwrite["funding"] = []
    assert bureau.post(f"/projects/{project_id}/edit", data=overwrite).status_code == 302
    assert bureau.get(f"/api/v1/projects/{project_id}").get_json()["total_investment"] == 1500


def test_backward_stage_on_the_form_asks_for_a_reason(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    response = bureau.post(f"/projects/{project_id}/edit", data=edit_form(bureau, project_id, stage="reserve"))
    assert response.status_code == 400 and "原因" in field_error(page(response), "reason")


def test_delete_and_restore_buttons_for_the_bureau(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    html = page(bureau.get(f"/projects/{project_id}"))
    assert f'action="/projects/{project_id}/delete"' in html and f"/projects/{project_id}/edit" in html
    response = bureau.post(f"/projects/{project_id}/delete", data={"version": "1", "reason": "重复"})
    assert response.status_code == 302
    assert bureau.get(f"/projects/{project_id}").status_code == 404
    history = page(bureau.get(f"/projects/{project_id}/history"))
    assert "已于" in history and "恢复此项目" in history and "重复" in history
    assert bureau.post(f"/projects/{project_id}/restore").status_code == 302
    assert bureau.get(f"/projects/{project_id}").status_code == 200


def test_planners_get_no_edit_buttons_and_cannot_post(client_for, web_data):
    planner = client_for("planner")
    project_id = web_data[SMART_FACTORY]
    html = page(planner.get(f"/projects/{project_id}"))
    assert f"/projects/{project_id}/delete" not in html and f"/projects/{project_id}/edit" not in html
    assert "上报进度" not in html
    assert planner.get("/projects/new").status_code == 403
    assert planner.post(f"/projects/{project_id}/delete", data={"version": "1"}).status_code == 403


def test_town_official_files_progress_and_sees_the_timeline_and_chart(client_for, web_data):
    town = client_for("town", towns=["370499002"])
    project_id = web_data[SMART_FACTORY]
    assert "上报进度" in page(town.get(f"/projects/{project_id}"))
    response = town.post(f"/projects/{project_id}/progress",
                         data={"reported_on": "2025-04-30", "completed_investment": "550", "percent": "55",
                               "note": "设备安装中"})
    assert response.status_code == 302
    html = page(town.get(f"/projects/{project_id}"))
    assert "设备安装中" in html and 'id="progress-chart"' in html and "chart.umd.js" in html
    chart = json.loads(re.search(r'<script type="application/json" id="progress-data">(.*?)</script>', html, re.S)[1])
    assert chart == {"labels": ["2025-04"], "completed": [550.0], "percent": [55.0]}
    bad = town.post(f"/projects/{project_id}/progress", data={"percent": "150"})
    assert bad.status_code == 400 and "形象进度" in page(bad)


def test_history_page_shows_who_when_and_before_after(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    bureau.patch(f"/api/v1/projects/{project_id}", json={"owner": "新建设单位"}, headers={"If-Match": '"1"'})
    html = page(bureau.get(f"/projects/{project_id}/history"))
    assert "建设单位" in html and "测试单位" in html and "新建设单位" in html and "bureau" in html
