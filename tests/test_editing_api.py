"""Writing through the JSON API: POST/PATCH/DELETE/restore projects, If-Match (428/412),
bad input → 4xx with Chinese messages naming the field, progress, history, share preview."""
from __future__ import annotations

import re

import pytest

NEW = {"code": "2025-370499-01-01-500001", "name": "乙镇充电设施更新", "domain": "transport",
       "category": "充电设施", "owner": "测试交通公司", "total_investment": 260, "stage": "approval",
       "geometry": {"type": "Point", "coordinates": [117.15, 35.02]}}
SMART_FACTORY = "2024-370499-01-01-100001"  # construction, in 乙镇 (370499002)


@pytest.fixture
def bureau(client_for, web_data):
    return client_for("bureau")


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert re.search(r"[\u4e00-\u9fff]", error["message"]), error
    return error


def created(client, **overrides) -> dict:
    response = client.post("/api/v1/projects", json={**NEW, **overrides})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


def test_post_creates_a_project_with_its_town_an_etag_and_a_location(bureau):
    response = created(bureau)
    body = response.get_json()
    assert (body["code"], body["stage"], body["primary_town_code"], body["version"]) == (
        NEW["code"], "approval", "370499002", 1)
    assert body["towns"][0]["code"] == "370499002" and body["warnings"] == []
    assert response.headers["Location"].endswith(f"/api/v1/projects/{body['id']}")
    assert response.headers["ETag"] == f'"{body["id"]}-1"'
    assert bureau.get(f"/api/v1/projects/{body['id']}").get_json()["name"] == NEW["name"]


def test_patch_with_the_etag_changes_the_project(bureau):
    project_id = created(bureau).get_json()["id"]
    etag = bureau.get(f"/api/v1/projects/{project_id}").headers["ETag"]
    response = bureau.patch(f"/api/v1/projects/{project_id}", json={"total_investment": 300, "remarks": "追加"},
                            headers={"If-Match": etag})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["total_investment"], body["remarks"], body["version"]) == (300, "追加", 2)
    assert response.headers["ETag"] == f'"{project_id}-2"'


def test_patch_accepts_a_weak_version_tag(bureau):
    project_id = created(bureau).get_json()["id"]
    response = bureau.patch(f"/api/v1/projects/{project_id}", json={"name": "新"}, headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200 and response.get_json()["version"] == 2


def test_patch_without_if_match_is_428(bureau, web_data):
    error = assert_error(bureau.patch(f"/api/v1/projects/{web_data[SMART_FACTORY]}", json={"name": "x"}), 428)
    assert "If-Match" in error["message"]


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(bureau):
    project_id = created(bureau).get_json()["id"]
    assert bureau.patch(f"/api/v1/projects/{project_id}", json={"name": "甲"}, headers={"If-Match": '"1"'}).status_code == 200
    error = assert_error(bureau.patch(f"/api/v1/projects/{project_id}", json={"name": "乙"},
                                      headers={"If-Match": f'"{project_id}-1"'}), 412)
    assert error["details"]["current_version"] == 2
    assert bureau.get(f"/api/v1/projects/{project_id}").get_json()["name"] == "甲"


def test_an_etag_of_another_project_is_412(bureau, web_data):
    other = web_data["2024-370499-01-01-100004"]
    assert_error(bureau.patch(f"/api/v1/projects/{web_data[SMART_FACTORY]}", json={"name": "x"},
                              headers={"If-Match": f'"{other}-1"'}), 412)


@pytest.mark.parametrize("body, field, words", [
    ({"total_investment": "很多"}, "total_investment", "总投资"),
    ({"total_investment": -1}, "total_investment", "总投资"),
    ({"stage": "开挖"}, "stage", "项目阶段"),
    ({"domain": None}, "domain", "领域"),
    ({"geometry": {"type": "Point", "coordinates": [35.02, 117.15]}}, "geometry", "填反"),
    ({"geometry": {"type": "Point"}}, "geometry", "geometry"),
    ({"crs": "GCJ02"}, "crs", "坐标系"),
    ({"stage": "在建"}, "actual_start", "实际开工"),
    ({"owner_phone": "123"}, "fields", "owner_phone"),
])
def test_bad_patches_are_400_naming_the_field(bureau, body, field, words):
    project_id = created(bureau).get_json()["id"]
    error = assert_error(bureau.patch(f"/api/v1/projects/{project_id}", json=body, headers={"If-Match": '"1"'}), 400)
    assert words in error["message"]
    assert error["details"].get("field") == field or field in error["details"]


@pytest.mark.parametrize("data, content_type", [("not json", "application/json"), ("[1, 2]", "application/json"),
                                                ("name=x", "application/x-www-form-urlencoded")])
def test_a_body_that_is_not_a_json_object_is_400(bureau, data, content_type):
    assert_error(bureau.post("/api/v1/projects", data=data, content_type=content_type), 400)


def test_duplicate_code_is_409(bureau):
    created(bureau)
    assert "项目代码" in assert_error(bureau.post("/api/v1/projects", json={**NEW, "name": "重复"}), 409)["message"]


def test_backward_stage_needs_a_reason(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    error = assert_error(bureau.patch(f"/api/v1/projects/{project_id}", json={"stage": "approval"},
                                      headers={"If-Match": '"1"'}), 400)
    assert error["details"]["rule"] == "backward_needs_reason"
    response = bureau.patch(f"/api/v1/projects/{project_id}", json={"stage": "approval", "reason": "图纸变更"},
                            headers={"If-Match": '"1"'})
    assert response.status_code == 200 and response.get_json()["stage"] == "approval"
    [entry] = [e for e in bureau.get(f"/api/v1/projects/{project_id}/history").get_json()["items"]
               if e["action"] == "update"]
    assert entry["details"]["reason"] == "图纸变更"


def test_delete_needs_if_match_then_hides_and_restore_brings_back(bureau, web_data):
    project_id = web_data[SMART_FACTORY]
    assert_error(bureau.delete(f"/api/v1/projects/{project_id}"), 428)
    assert_error(bureau.delete(f"/api/v1/projects/{project_id}", headers={"If-Match": '"9"'}), 412)
    assert bureau.delete(f"/api/v1/projects/{project_id}?reason=重复", headers={"If-Match": '"1"'}).status_code == 204
    assert_error(bureau.get(f"/api/v1/projects/{project_id}"), 404)
    assert SMART_FACTORY not in {i["code"] for i in bureau.get("/api/v1/projects").get_json()["items"]}
    restored = bureau.post(f"/api/v1/projects/{project_id}/restore")
    assert restored.status_code == 200 and restored.get_json()["version"] == 3
    assert_error(bureau.post(f"/api/v1/projects/{project_id}/restore"), 409)
    actions = [e["action"] for e in bureau.get(f"/api/v1/projects/{project_id}/history").get_json()["items"]]
    assert actions[:2] == ["restore", "delete"]


def test_progress_updates_the_project_and_its_history(client_for, web_data):
    project_id = web_data[SMART_FACTORY]
    town = client_for("town", towns=["370499002"])
    response = town.post(f"/api/v1/projects/{project_id}/progress",
                         json={"reported_on": "2025-05-31", "completed_investment": 650, "percent": 60})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert (response.get_json()["completed_investment"], response.get_json()["applied"]) == (650, True)
    reports = town.get(f"/api/v1/projects/{project_id}/progress").get_json()["items"]
    assert [(r["reported_on"], r["percent"]) for r in reports] == [("2025-05-31", 60.0)]
    [entry] = town.get(f"/api/v1/projects/{project_id}/history").get_json()["items"]
    assert (entry["action"], entry["changes"][0]["before"], entry["changes"][0]["after"]) == ("progress", 400.0, 650.0)
    error = assert_error(town.post(f"/api/v1/projects/{project_id}/progress", json={"percent": 101}), 400)
    assert error["details"]["field"] == "percent" and "形象进度" in error["message"]


def test_preview_shows_towns_and_shares_of_a_drawn_line(bureau):
    response = bureau.post("/api/v1/projects/preview", json={"geometry": {
        "type": "LineString", "coordinates": [[117.05, 35.05], [117.15, 35.05]]}})
    body = response.get_json()
    assert response.status_code == 200 and body["inside"] is True
    assert sorted(t["code"] for t in body["towns"]) == ["370499001", "370499002"]
    assert sum(t["share"] for t in body["towns"]) == pytest.approx(1.0)
    assert_error(bureau.post("/api/v1/projects/preview", json={"geometry": None}), 400)


def test_preview_converts_baidu_coordinates(bureau):
    from geo.crs import wgs84_to_bd09
    lng, lat = wgs84_to_bd09(117.25, 35.05)
    body = bureau.post("/api/v1/projects/preview", json={"geometry": {"type": "Point", "coordinates": [
        float(lng), float(lat)]}, "crs": "BD09"}).get_json()
    assert body["geometry"]["coordinates"] == pytest.approx([117.25, 35.05], abs=1e-6)
    assert [t["code"] for t in body["towns"]] == ["370499003"]


IMPORT_CSV = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资,项目阶段\n"
              "2025-370499-01-01-600001,导入项目一,工业,甲公司,117.05,35.05,100,谋划储备\n"
              "2025-370499-01-01-600002,导入项目二,火星,乙公司,117.15,35.05,100,谋划储备\n")


def upload(client, csv: str, **form):
    import io
    return client.post("/api/v1/imports", data={"file": (io.BytesIO(csv.encode()), "projects.csv"), **form},
                       content_type="multipart/form-data")


def test_import_dry_run_reports_without_writing_then_imports(bureau):
    preview = upload(bureau, IMPORT_CSV, dry_run="1")
    body = preview.get_json()
    assert preview.status_code == 200 and (body["imported"], body["rejected"], body["written"]) == (1, 1, False)
    assert body["problems"][0]["kind"] == "unknown_domain" and body["problems"][0]["row"] == 3
    assert bureau.get("/api/v1/projects?q=导入项目").get_json()["total"] == 0
    done = upload(bureau, IMPORT_CSV)
    assert done.status_code == 201 and done.get_json()["written"] is True
    assert bureau.get("/api/v1/projects?q=导入项目").get_json()["total"] == 1


def test_import_refuses_missing_or_unreadable_files(bureau):
    assert "file" in assert_error(bureau.post("/api/v1/imports", data={}, content_type="multipart/form-data"),
                                  400)["details"]["field"]
    assert_error(upload(bureau, "名称,金额\n一,二\n"), 422)
    assert_error(upload(bureau, IMPORT_CSV, crs="火星坐标系"), 400)


@pytest.mark.parametrize("role, towns, status", [("planner", (), 403), ("town", ["370499002"], 403),
                                                 ("town", ["370499001"], 404)])
def test_only_editors_write(client_for, web_data, role, towns, status):
    client = client_for(role, towns=towns)
    project_id = web_data[SMART_FACTORY]
    assert_error(client.patch(f"/api/v1/projects/{project_id}", json={"name": "x"}, headers={"If-Match": '"1"'}), status)
    assert_error(client.delete(f"/api/v1/projects/{project_id}", headers={"If-Match": '"1"'}), status)
    assert_error(client.post("/api/v1/projects", json=NEW), 403)
    assert_error(upload(client, IMPORT_CSV), 403)


def test_writes_without_a_csrf_token_are_refused_for_cookie_sessions(bureau):
    bureau.csrf_token = None
    assert_error(bureau.post("/api/v1/projects", json=NEW), 400)
