"""The web import: upload → preview report (nothing written) → confirm → result; the report as
XLSX; the empty template with notes and drop-down lists."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import ImportBatch, Project

CSV = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段\n"
       "2025-370499-01-01-800001,甲街道供热计量改造,建筑,甲热力,117.05,35.05,300,谋划储备\n"
       "2025-370499-01-01-800002,经纬度填反的项目,工业,乙公司,35.05,117.15,100,谋划储备\n"
       "2025-370499-01-01-800003,乙镇农机更新,农业,丙合作社,117.15,35.05,80,前期手续\n")


@pytest.fixture
def bureau(client_for, web_data, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    return client_for("bureau")


def counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (session.scalar(select(func.count()).select_from(Project)),
                session.scalar(select(func.count()).select_from(ImportBatch)))


def upload(client, data: bytes = CSV.encode(), name: str = "projects.csv", **form):
    return client.post("/imports/preview", data={"file": (io.BytesIO(data), name), **form},
                       content_type="multipart/form-data")


def test_preview_reports_per_row_and_writes_nothing(bureau, engine):
    before = counts(engine)
    response = upload(bureau)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "将新增 2 个" in html and "拒绝 1 行" in html
    assert re.search(r'<td class="num">3</td><td>[^<]*</td>\s*<td>错误</td><td title="swapped_coords">经纬度填反</td>', html)
    assert counts(engine) == before


def test_confirm_imports_and_shows_the_result(bureau, engine):
    before = counts(engine)
    html = upload(bureau).get_data(as_text=True)
    token = re.search(r'action="/imports/([\w-]+)/confirm"', html)[1]
    response = bureau.post(f"/imports/{token}/confirm")
    assert response.status_code == 302
    result = bureau.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="result-imported">2<', result)
    assert counts(engine) == (before[0] + 2, before[1] + 1)
    assert bureau.get("/api/v1/projects?q=乙镇农机").get_json()["items"][0]["primary_town_code"] == "370499002"
    assert bureau.post(f"/imports/{token}/confirm").status_code == 404  # the upload is used once


def test_the_preview_report_downloads_as_xlsx(bureau):
    token = re.search(r'/imports/([\w-]+)/report\.xlsx', upload(bureau).get_data(as_text=True))[1]
    response = bureau.get(f"/imports/{token}/report.xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data))["问题清单"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("行号", "列", "类型", "级别", "说明")
    assert (rows[1][0], rows[1][2], rows[1][3]) == (3, "经纬度填反", "错误")


def test_another_user_cannot_confirm_my_upload(bureau, client_for, engine):
    token = re.search(r'action="/imports/([\w-]+)/confirm"', upload(bureau).get_data(as_text=True))[1]
    before = counts(engine)
    assert client_for("admin").post(f"/imports/{token}/confirm").status_code == 404
    assert counts(engine) == before


@pytest.mark.parametrize("data, name, words", [
    (b"", "empty.csv", "文件是空的"), (b"a,b\n1,2\n", "wrong.csv", "缺少必填列"),
    (b"PK\x03\x04broken", "broken.xlsx", "XLSX"),
])
def test_unreadable_uploads_show_a_chinese_message(bureau, data, name, words):
    response = upload(bureau, data, name)
    assert response.status_code in (400, 422) and words in response.get_data(as_text=True)


def test_town_users_and_planners_cannot_import(client_for, web_data):
    for client in (client_for("planner"), client_for("town", towns=["370499001"])):
        assert client.get("/imports").status_code == 403
        assert upload(client).status_code == 403


def test_the_template_has_notes_and_drop_down_lists(bureau):
    response = bureau.get("/imports/template.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook["项目"]
    headers = [c.value for c in sheet[1]]
    from registry.template import COLUMNS
    assert headers == [c.header for c in COLUMNS]
    assert all(c.comment is not None and c.comment.text for c in sheet[1])
    assert sheet["A1"].comment.text.startswith("必填")
    lists = {headers[next(iter(v.sqref.ranges)).min_col - 1]: v.formula1
             for v in sheet.data_validations.dataValidation}
    assert set(lists) == {"领域", "项目阶段", "坐标系"}
    options = workbook["选项"]
    values = {options.cell(row=1, column=i).value: [r[0] for r in options.iter_rows(min_row=2, min_col=i, max_col=i,
                                                                                      values_only=True) if r[0]]
              for i in (1, 2, 3)}
    assert "市政基础设施" in values["领域"] and values["项目阶段"][:4] == ["谋划储备", "前期手续", "在建", "竣工投产"]
    assert values["坐标系"] == ["WGS84", "CGCS2000", "GCJ02", "BD09"]


def test_the_filled_template_imports(bureau):
    workbook = load_workbook(io.BytesIO(bureau.get("/imports/template.xlsx").data))
    sheet = workbook["项目"]
    from registry.template import BY_KEY, COLUMNS
    row = {"code": "2025-370499-01-01-800009", "name": "模板填写的项目", "domain": "教育", "owner": "某学校",
           "lng": 117.25, "lat": 35.05, "total_investment": 66, "stage": "谋划储备", "crs": "WGS84"}
    for position, column in enumerate(COLUMNS, start=1):
        sheet.cell(row=2, column=position, value=row.get(column.key))
    out = io.BytesIO()
    workbook.save(out)
    html = upload(bureau, out.getvalue(), "filled.xlsx").get_data(as_text=True)
    assert "将新增 1 个" in html and "拒绝 0 行" in html, BY_KEY


def test_the_clear_blanks_checkbox_previews_the_clears_and_confirm_writes_them(bureau, engine):
    code = "2024-370499-01-01-100001"  # 乙镇智能工厂改造, category 智能化改造
    data = f"项目代码,子类,总投资（万元）\n{code},,1200\n".encode()
    html = upload(bureau, data).get_data(as_text=True)
    assert "will_clear" not in html and re.search(r"<td>总投资（万元）</td>\s*<td>1000.0</td><td>1200.0</td>", html)
    token = re.search(r'action="/imports/([\w-]+)/confirm"', html)[1]
    again = bureau.post(f"/imports/{token}/options", data={"clear_blanks": "1"}).get_data(as_text=True)
    assert "will_clear" in again and re.search(r"<td>子类</td>\s*<td>智能化改造</td><td>（空）</td>", again)
    assert bureau.post(f"/imports/{token}/confirm").status_code == 302
    with Session(engine) as session:
        project = session.scalars(select(Project).where(Project.code == code)).one()
        assert project.category is None and project.total_investment == 1200


def test_the_import_pages_and_problem_kinds_follow_the_ui_language(bureau):
    upload_page = bureau.get("/imports?lang=en").get_data(as_text=True)
    assert "Import projects" in upload_page and "Upload and preview" in upload_page and "导入项目" not in upload_page
    html = upload(bureau).get_data(as_text=True)
    assert re.search(r'<td>Error</td><td title="swapped_coords">Longitude and latitude swapped</td>', html)
    assert "Confirm import" in html and "Rows to be written" in html
    chinese = bureau.get("/imports?lang=zh").get_data(as_text=True)
    assert "上传并预览" in chinese and "Upload and preview" not in chinese
