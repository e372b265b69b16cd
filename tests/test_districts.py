"""District-scoped accounts through the web app (issue 14 item 1): a bureau of district A cannot
read, edit, import into or export district B, through any route; a city viewer reads both
districts of its city and writes nothing. Row-level security alone: ``tests/test_rls.py``; the
app's clauses against it: ``tests/test_scope_rule.py``.
"""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from conftest import OTHER_DISTRICTS, SAMPLE_PROJECTS, insert_other_districts, sign_in
from registry import accounts
from test_authz_matrix import route_keys, _url

A, B = "370499", "370498"
LIVE_A = {code: name for code, name, *rest in SAMPLE_PROJECTS if not rest[-1]}


@pytest.fixture
def two_districts(web_data, engine) -> dict[str, int]:
    """测试区 (A) with the sample, and 邻区 (B, same city) and 远区 (another city) with theirs."""
    with Session(engine) as session:
        ids = insert_other_districts(session)
        session.commit()
    return {**web_data, **ids}


def _names_of(district: str) -> dict[str, str]:
    name = OTHER_DISTRICTS[district][0]
    return {f"2024-{district}-01-01-300001": f"{name}工厂改造", f"2024-{district}-01-01-300002": f"{name}供水管网"}


def _listed(client) -> set[str]:
    return {i["code"] for i in client.get("/api/v1/projects?per_page=100").get_json()["items"]}


def test_a_district_bureau_sees_nothing_of_another_district_through_any_route(app, two_districts, make_user):
    client = sign_in(app, make_user("bureau", districts=[A]))
    sample_id = two_districts[next(iter(LIVE_A))]
    foreign = {**_names_of(B), **_names_of("371599")}
    for key in route_keys(app):
        method, rule = key.split(" ", 1)
        if method != "GET" or "static" in rule:
            continue
        body = client.get(_url(rule, sample_id)).get_data().decode("utf-8", errors="replace")
        for code, name in foreign.items():
            assert code not in body and name not in body, f"{rule} shows {name} to a bureau of {A}"
    assert _listed(client) == set(LIVE_A)
    features = json.loads(client.get("/api/v1/projects.geojson").get_data(as_text=True))["features"]
    assert {f["properties"]["code"] for f in features} == set(LIVE_A)
    for fmt in ("geojson", "csv"):
        exported = client.get(f"/export/download?format={fmt}").get_data(as_text=True)
        assert all(code in exported for code in LIVE_A) and not any(code in exported for code in foreign)
    view = client.get("/api/v1/map/features?bbox=116.9,34.9,117.4,35.6&zoom=18").get_json()
    assert {f["properties"]["code"] for f in view["features"]} <= set(LIVE_A)
    assert client.get("/api/v1/map/search?q=邻区").get_json()["features"] == []
    stats = client.get("/api/v1/stats?group_by=town").get_json()
    assert stats["totals"]["project_count"] == len(LIVE_A)
    assert {str(t["key"])[:6] for t in stats["items"]} == {A}
    assert {t["code"][:6] for t in client.get("/api/v1/towns").get_json()["items"]} == {A}


def test_a_district_bureau_cannot_edit_or_import_into_another_district(app, two_districts, make_user):
    client = sign_in(app, make_user("bureau", districts=[A]))
    other = two_districts[f"2024-{B}-01-01-300001"]
    assert client.get(f"/api/v1/projects/{other}").status_code == 404
    assert client.patch(f"/api/v1/projects/{other}", json={"name": "x"}).status_code == 404
    assert client.post(f"/projects/{other}/edit", data={"name": "x"}).status_code == 404
    assert client.delete(f"/api/v1/projects/{other}").status_code == 404
    assert client.post(f"/api/v1/projects/{other}/progress", json={}).status_code == 404
    assert client.get(f"/towns/{B}001").status_code in (403, 404)
    upload = {"file": (io.BytesIO(b"code,name\n"), "b.csv"), "district": B}
    refused = client.post("/api/v1/imports", data=upload, content_type="multipart/form-data")
    assert refused.status_code == 403 and "管辖范围" in refused.get_json()["error"]["message"]


def test_a_city_viewer_reads_both_districts_of_its_city_and_edits_nothing(app, two_districts, make_user):
    client = sign_in(app, make_user("viewer", cities=["3704"]))
    assert _listed(client) == set(LIVE_A) | set(_names_of(B))
    exported = client.get("/export/download?format=csv").get_data(as_text=True)
    assert all(code in exported for code in _names_of(B)) and not any(code in exported for code in _names_of("371599"))
    own = two_districts[f"2024-{B}-01-01-300001"]
    assert client.get(f"/api/v1/projects/{own}").status_code == 200
    assert client.patch(f"/api/v1/projects/{own}", json={"name": "x"}).status_code == 403
    assert client.post(f"/api/v1/projects/{own}/progress", json={}).status_code == 403
    assert client.post("/api/v1/imports", data={"file": (io.BytesIO(b"x"), "a.csv")},
                       content_type="multipart/form-data").status_code == 403
    assert client.get("/api/v1/auth/me").get_json()["role"] == "viewer"


def test_the_cli_adds_district_and_city_accounts(committed, engine):
    from web.cli import main
    runner = CliRunner()
    done = runner.invoke(main, ["users", "add", "xuecheng", "--role", "bureau", "--district", "370403",
                                "--password-stdin"], input="a long enough password\n")
    assert done.exit_code == 0, done.output
    assert "区县 370403" in done.output
    done = runner.invoke(main, ["users", "add", "zaozhuang", "--role", "viewer", "--city", "3704",
                                "--password-stdin"], input="a long enough password\n")
    assert done.exit_code == 0 and "市 3704" in done.output
    refused = runner.invoke(main, ["users", "add", "wrong", "--role", "bureau", "--city", "3704",
                                   "--password-stdin"], input="a long enough password\n")
    assert refused.exit_code != 0 and "只能指定区县" in refused.output
    refused = runner.invoke(main, ["users", "add", "nothing", "--role", "viewer", "--password-stdin"],
                            input="a long enough password\n")
    assert refused.exit_code != 0 and "至少需要一个区县、市或省" in refused.output
    done = runner.invoke(main, ["users", "jurisdictions", "xuecheng"])
    assert done.exit_code == 0 and "全部区县" in done.output
    with Session(engine) as session:
        assert accounts.find_account(session, "xuecheng").district_codes is None  # every district again
        session.execute(text("INSERT INTO districts (code, name) VALUES ('370403', '薛城区')"))
        session.commit()
        assert accounts.find_account(session, "zaozhuang").district_codes == ("370403",)
        assert session.scalar(text("SELECT city_code || '/' || province_code FROM districts")) == "3704/37"


def test_the_admin_page_gives_and_shows_districts(app, committed, make_user):
    admin = sign_in(app, make_user("admin"))
    make_user("bureau", username="quju")
    answer = admin.post("/admin/users/quju/jurisdictions", data={"districts": "370499, 370498"},
                        follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "区县 370498、区县 370499" in page
    answer = admin.post("/admin/users", data={"username": "shi", "role": "viewer", "cities": "370400",
                                              "password": "a long enough password"}, follow_redirects=True)
    assert "市 3704" in answer.get_data(as_text=True)


def test_a_code_registered_in_another_district_is_a_row_error_not_a_500(app, two_districts, make_user, engine):
    """The bureau of A cannot see B's project, so its code looked new and the upsert hit the hidden
    row (a 500 from row-level security, found by the attack pass): now a row error, in the preview
    and the import alike, and B's project is untouched."""
    client = sign_in(app, make_user("bureau", districts=[A]))
    taken = f"2024-{B}-01-01-300001"
    sheet = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段\n"
             f"{taken},冒用代码,工业,某公司,117.02,35.05,120,谋划储备\n"
             f"2025-{A}-01-01-800002,本区新项目,工业,某公司,117.02,35.05,100,谋划储备\n").encode()
    for dry_run in ("1", ""):
        response = client.post("/api/v1/imports", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(sheet), "a.csv"), "dry_run": dry_run})
        body = response.get_json()
        assert response.status_code == (200 if dry_run else 201), body
        assert (body["imported"], body["rejected"]) == (1, 1)
        assert [(p["row"], p["kind"]) for p in body["problems"]] == [(2, "code_of_other_district")]
    with engine.connect() as connection:
        names = dict(connection.execute(text("SELECT code, name FROM projects WHERE code IN (:a, :b)"),
                                        {"a": taken, "b": f"2025-{A}-01-01-800002"}).all())
    assert names == {taken: _names_of(B)[taken], f"2025-{A}-01-01-800002": "本区新项目"}


def test_the_web_import_of_a_bureau_of_two_districts_picks_the_district(app, two_districts, make_user, tmp_path, engine):
    """The upload page offers the account's districts (the CLI's --district); the preview and the
    confirmation import into the one chosen, and one outside the account is refused."""
    import re
    app.config["UPLOAD_DIR"] = str(tmp_path)
    client = sign_in(app, make_user("bureau", districts=[A, B]))
    page = client.get("/imports").get_data(as_text=True)
    assert f'<option value="{A}"' in page and f'<option value="{B}"' in page and "371599" not in page
    sheet = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段\n"
             f"2025-{B}-01-01-800001,邻区锅炉更新,工业,邻区公司,117.05,35.25,120,谋划储备\n").encode()

    def preview(district):
        return client.post("/imports/preview", data={"file": (io.BytesIO(sheet), "b.csv"), "district": district},
                           content_type="multipart/form-data")
    wrong = preview(A).get_data(as_text=True)
    assert "将新增 1 个" not in wrong  # the point lies in 邻区, outside 测试区
    html = preview(B).get_data(as_text=True)
    assert "将新增 1 个" in html
    token = re.search(r'action="/imports/([\w-]+)/confirm"', html)[1]
    assert client.post(f"/imports/{token}/confirm").status_code == 302
    with engine.connect() as connection:
        assert connection.execute(text("SELECT district_code FROM projects WHERE name = '邻区锅炉更新'")).scalar() == B
    assert preview("371599").status_code == 403
    single = sign_in(app, make_user("bureau", districts=[A])).get("/imports").get_data(as_text=True)
    assert 'name="district" value="370499"' in single and "<select id=\"i-district\"" not in single


def test_a_code_registered_in_another_district_while_a_web_import_checks_it_is_an_edit_conflict(
        app, two_districts, make_user, engine, monkeypatch):
    """Under row-level security the district's bureau cannot see B's projects: a code registered
    in B after the import checked its row (as new) is refused row by row, never a 500, and B's
    project stays as its owner wrote it."""
    from registry import importing
    from registry.projects import create_project
    from registry.scope import Scope
    client = sign_in(app, make_user("bureau", districts=[A]))
    code = f"2024-{A}-01-01-300777"
    real_stage = importing._stage

    def registered_in_b_meanwhile(connection, valid):
        with Session(engine) as owner:
            create_project(owner, scope=Scope(actor="editor", role="bureau"), actor="editor", values={
                "code": code, "name": "邻区先登记的项目", "domain": "industry", "owner": "乙公司", "district_code": B,
                "total_investment": 50, "stage": "reserve",
                "geometry": {"type": "Point", "coordinates": [117.05, 35.25]}})
        real_stage(connection, valid)

    monkeypatch.setattr(importing, "_stage", registered_in_b_meanwhile)
    csv = f"项目代码,项目名称,领域,建设单位,经度,纬度,总投资,项目阶段\n{code},本区的项目,工业,甲公司,117.05,35.05,100,谋划储备\n"
    response = client.post("/api/v1/imports", data={"file": (io.BytesIO(csv.encode()), "a.csv"), "district": A},
                           content_type="multipart/form-data")
    body = response.get_json()
    assert response.status_code == 201, body
    assert (body["imported"], body["rejected"]) == (0, 1)
    assert [(p["row"], p["kind"]) for p in body["problems"]] == [(2, "edit_conflict")]
    with Session(engine) as owner:
        assert owner.execute(text("SELECT name, district_code FROM projects WHERE code = :code"),
                             {"code": code}).one() == ("邻区先登记的项目", B)
