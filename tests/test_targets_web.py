"""``GET /api/v1/targets``, the ``/targets`` pages, the dashboard panel and the entry forms."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import AuditEntry
from target_data import TOWN1, TOWN2, TOWN3, plan_loaded, world_committed  # noqa: F401  (fixtures)

AS_OF = "2025-06-30"


def api(client, **params):
    return client.get("/api/v1/targets", query_string={"as_of": AS_OF, **params})


def test_api_returns_the_design_json(plan_loaded, client):
    response = api(client)
    assert response.status_code == 200
    data = response.get_json()
    assert data["as_of"] == AS_OF
    by_id = {t["id"]: t for t in data["targets"]}
    assert set(by_id["t-farm"]) == {"id", "jurisdiction", "text", "metric", "unit", "threshold", "deadline",
                                    "window", "value", "progress", "status", "years",
                                    "by_town", "undated",
                                    "unit_mismatch", "unmeasured"}
    assert by_id["t-farm"]["years"] == {"2024": 100.0, "2025": 50.0}
    assert by_id["t-count"]["by_town"] == {TOWN1: 0, TOWN2: 1, TOWN3: 1}
    assert by_id["t-imaging"]["unit_mismatch"] == 1 and by_id["t-gas-km"]["unmeasured"] == 1


def test_the_time_based_progress_requirement_is_rounded_for_people(plan_loaded, client):
    page = client.get(f"/targets/t-count?as_of={AS_OF}").get_data(as_text=True)
    shown = re.search(r'<dd id="target-pace">([^<]*)</dd>', page).group(1)
    assert shown == "74.8%（3.0 个）"  # 时序进度要求: 4 × 547/731 = 2.9932… projects due by now
    listed = client.get(f"/targets?as_of={AS_OF}").get_data(as_text=True)
    assert 'title="时序进度要求 74.8%"' in listed and "2.9932" not in listed


def test_api_gives_a_town_official_their_towns_part_only(plan_loaded, client_for):
    data = api(client_for("town", towns=[TOWN2])).get_json()
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["t-count"]["value"] == 1 and by_id["t-count"]["by_town"] == {TOWN2: 1}
    assert by_id["t-equipment"]["value"] == 300.0
    assert all(set(t["by_town"]) <= {TOWN2} for t in data["targets"])


def test_api_district_filter_and_bad_parameters(plan_loaded, client):
    assert api(client, district="370498").get_json()["targets"] == []
    assert {t["id"] for t in api(client, district="tzone").get_json()["targets"]} == {"tz-fitness"}
    bad = client.get("/api/v1/targets?as_of=2025-02-30")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_json()["error"]["message"]
    assert client.get("/api/v1/targets?district=37%3B04").status_code == 400


def test_api_needs_sign_in(plan_loaded, anonymous_client):
    assert anonymous_client.get("/api/v1/targets").status_code == 401


def test_openapi_describes_targets(anonymous_client, app):
    document = anonymous_client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/targets" in document["paths"]
    assert "status" in document["components"]["schemas"]["Target"]["properties"]


def test_targets_page_shows_rows_with_chinese_status_and_years(plan_loaded, client):
    html = client.get(f"/targets?as_of={AS_OF}").get_data(as_text=True)
    assert "规划目标" in html
    row = re.search(r'<tr class="target-row status-behind" data-target="t-count">(.*?)</tr>', html, re.S).group(1)
    assert "滞后" in row and "2 / 4 个" in row and "2025-12-31" in row
    assert 'class="pace"' in row  # the pace marker
    farm = re.search(r'data-target="t-farm">(.*?)</tr>', html, re.S).group(1)
    assert "<th class=\"num\">2024</th>" in html and ">100<" in farm and ">50<" in farm
    assert "暂无数据" in html and "待录入基数" in html and "已逾期" in html and "已完成" in html


def test_targets_page_in_english(plan_loaded, client):
    html = client.get(f"/targets?as_of={AS_OF}&lang=en").get_data(as_text=True)
    assert "Plan targets" in html and "Behind" in html and "滞后" not in html


def test_target_page_lists_projects_towns_and_data_problems(plan_loaded, client, engine):
    html = client.get(f"/targets/t-imaging?as_of={AS_OF}").get_data(as_text=True)
    assert "已逾期" in html
    with Session(engine) as session:
        from registry.models import Project
        ids = dict(session.execute(select(Project.name, Project.id)).all())
    assert f'href="/projects/{ids["项目ct"]}"' in html  # counts
    assert f'href="/projects/{ids["项目ultrasound"]}"' in html  # unit mismatch, to fix
    towns = json.loads(re.search(r'<script type="application/json" id="target-towns">(.*?)</script>', html,
                                 re.S).group(1))
    values = {f["properties"]["code"]: f["properties"]["value"] for f in towns["towns"]["features"]}
    assert values == {TOWN1: 0.0, TOWN2: 10.0, TOWN3: 0.0}
    assert "乙镇" in html


def test_target_page_has_no_inline_script(plan_loaded, client):
    html = client.get(f"/targets/t-gas-km?as_of={AS_OF}").get_data(as_text=True)
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        attributes, body = script
        assert "src=" in attributes or 'type="application/json"' in attributes, script


def test_unknown_target_is_404(plan_loaded, client):
    assert client.get("/targets/no-such").status_code == 404


def test_town_official_of_another_district_cannot_open_a_target(plan_loaded, client_for):
    assert client_for("town", towns=["370498001"]).get("/targets/t-count").status_code == 404


def test_dashboard_panel_lists_overdue_and_behind_first(plan_loaded, client):
    html = client.get("/").get_data(as_text=True)
    panel = re.search(r'<section class="panel targets-panel".*?</section>', html, re.S).group(0)
    statuses = re.findall(r'class="target-row status-(\w+)"', panel)
    assert statuses and statuses[0] in ("overdue", "behind")
    order = ["overdue", "behind", "needs_baseline", "no_data", "on_track", "done"]
    assert statuses == sorted(statuses, key=order.index)


def test_bureau_enters_a_reported_value_on_the_page(plan_loaded, client, engine):
    assert {t["id"]: t for t in api(client).get_json()["targets"]}["t-reported"]["value"] is None
    response = client.post("/targets/t-reported/value", data={"value": "0.9", "as_of": "2025-06-01"})
    assert response.status_code == 302
    data = api(client).get_json()
    assert {t["id"]: t for t in data["targets"]}["t-reported"]["value"] == 0.9
    with Session(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "target_value")).one()
    assert entry.actor.startswith("bureau")


def test_bad_value_shows_a_form_error(plan_loaded, client):
    response = client.post("/targets/t-growth/baseline", data={"value": "很多"})
    assert response.status_code == 400
    assert "非负数" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["planner", "town"])
def test_only_bureau_and_admin_enter_values(plan_loaded, client_for, role):
    client = client_for(role, towns=[TOWN1] if role == "town" else ())
    assert client.post("/targets/t-reported/value", data={"value": "1"}).status_code == 403


def test_entry_needs_the_csrf_token(plan_loaded, client):
    client.csrf_token = None
    assert client.post("/targets/t-reported/value", data={"value": "1"}).status_code == 400


def test_a_bureau_of_another_district_neither_sees_nor_enters_its_targets(plan_loaded, client_for):
    """Issue 14: the sample plan is 370499's; a bureau of 370498 gets no row and a 404 on entry."""
    other = client_for("bureau", districts=["370498"])
    assert api(other).get_json()["targets"] == []
    assert other.get("/targets/t-reported").status_code == 404
    assert other.post("/targets/t-reported/value", data={"value": "1"}).status_code == 404
    own = client_for("bureau", districts=["370499"])
    assert own.post("/targets/t-reported/value", data={"value": "1", "as_of": "2025-06-01"}).status_code == 302
