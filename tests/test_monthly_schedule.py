"""The monthly 调度表 workbook: three sheets, the projects sheet's totals equal the API's monthly
figures, a frozen formatted header, formula-safe text, scoped and audited, from the page and the CLI."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry import schedule
from registry.models import AuditEntry
from registry.scope import Scope

FACTORY = "2024-370499-01-01-100001"  # 乙镇, construction, 1000
PIPELINE = "2024-370499-01-01-100002"  # construction, 800
MEDICAL = "2023-370499-01-01-100003"  # completed (here: in June 2025), 500
HEATING = "2024-370499-01-01-100005"  # approval, never reports


@pytest.fixture
def reported(web_data, client_for, engine):
    """Reports for May and June 2025 filed through the API; the hospital completed in June."""
    with Session(engine) as session:
        session.execute(text("UPDATE projects SET actual_start = '2025-01-10', actual_end = '2025-06-20', "
                             "name = '=HYPERLINK(\"http://x\")医院' WHERE code = :c"), {"c": MEDICAL})
        session.commit()
    bureau = client_for("bureau")
    for code, period, value, note in ((FACTORY, "2025-05", 420, "设备招标"), (FACTORY, "2025-06", 480, "设备安装"),
                                      (PIPELINE, "2025-06", 100, "=SUM(A1)"), (MEDICAL, "2025-06", 500, None)):
        body = {"period": period, "completed_investment": value, "percent": 50, **({"note": note} if note else {})}
        response = bureau.post(f"/api/v1/projects/{web_data[code]}/progress", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
    return bureau


def sheet_rows(sheet) -> list[tuple]:
    return [tuple(c.value for c in row) for row in sheet.iter_rows()]


def download(client, period="2025-06"):
    response = client.get(f"/progress/schedule?period={period}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == schedule.XLSX_MIMETYPE
    return load_workbook(io.BytesIO(response.data))


def test_the_workbook_has_targets_projects_and_not_reported_sheets(reported):
    workbook = download(reported)
    assert workbook.sheetnames == ["目标进度", "项目调度", "本月未上报"]
    projects = workbook["项目调度"]
    assert tuple(c.value for c in projects[1]) == schedule.PROJECT_HEADERS
    assert projects.freeze_panes == "A2" and projects["A1"].font.b and projects["G2"].number_format == "#,##0.00"
    rows = sheet_rows(projects)[1:-1]
    assert [r[1] for r in rows] == [MEDICAL, FACTORY, PIPELINE]  # by primary town, then code
    factory = next(r for r in rows if r[1] == FACTORY)
    assert factory[6:12] == (1000, 60, 480, 50, "在建", "设备安装")
    missing = sheet_rows(workbook["本月未上报"])
    assert [r[2] for r in missing[1:]] == [HEATING] and missing[1][7] == "从未上报"


def test_the_total_row_equals_the_apis_monthly_figures(reported):
    api = reported.get("/api/v1/stats?group_by=month&period_from=2025-06&period_to=2025-06").get_json()
    [june] = api["items"]
    total = sheet_rows(download(reported)["项目调度"])[-1]
    assert total[0] == "合计" and total[2] == "3 个项目"
    assert (total[6], total[7], total[8]) == (2300, june["increase"], june["completed_investment"])
    assert (june["increase"], june["completed_investment"]) == (660, 1080)


def test_text_that_looks_like_a_formula_stays_text(reported):
    sheet = download(reported)["项目调度"]
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert {c.value for c in cells} == {'=HYPERLINK("http://x")医院', "=SUM(A1)"}
    assert all(c.data_type == "s" for c in cells)


def test_the_first_sheet_holds_the_targets_as_of_the_months_end(reported, engine):
    from pathlib import Path
    from registry import targets
    plan = Path(__file__).parent / "fixtures" / "targets" / "plan.yaml"
    with Session(engine) as session:
        targets.load_file(session, Scope.system("test"), plan.read_text(encoding="utf-8"))
        session.commit()
    api = reported.get("/api/v1/targets?as_of=2025-06-30").get_json()["targets"]
    sheet = download(reported).worksheets[0]
    rows = sheet_rows(sheet)
    header = rows[0]
    by_id = {row[header.index("目标编号")]: row for row in rows[1:]}
    assert set(by_id) == {t["id"] for t in api} and api
    for target in api:
        assert by_id[target["id"]][header.index("当前值")] == target["value"]


def test_a_town_officials_workbook_holds_only_their_towns_projects(reported, client_for):
    town = client_for("town", towns=["370499003"])
    workbook = download(town)
    assert [r[1] for r in sheet_rows(workbook["项目调度"])[1:-1]] == [PIPELINE]
    # money by the pipeline's share in their town, as every per-town figure: totals equal their API
    [june] = town.get("/api/v1/stats?group_by=month&period_from=2025-06&period_to=2025-06").get_json()["items"]
    total = sheet_rows(workbook["项目调度"])[-1]
    assert (total[7], total[8]) == (june["increase"], june["completed_investment"])
    assert 0 < total[6] < 800
    assert sheet_rows(workbook["本月未上报"])[1:] == [(None, "本月应报项目均已上报") + (None,) * 6]


def test_every_download_is_audited(reported, engine):
    download(reported)
    with Session(engine) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == "schedule")).one()
    assert entry.action == "export" and entry.details["period"] == "2025-06"
    assert (entry.details["projects"], entry.details["not_reported"], entry.details["increase"]) == (3, 1, 660)


def test_a_bad_month_is_a_clear_400(reported):
    response = reported.get("/progress/schedule?period=2025-13")
    assert response.status_code == 400 and "YYYY-MM" in response.get_data(as_text=True)


def test_the_cli_writes_the_same_workbook(reported, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    path = tmp_path / "schedule.xlsx"
    result = CliRunner().invoke(main, ["progress", "schedule", "--period", "2025-06", "-o", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 个项目" in result.output and "660.00" in result.output and "1 个项目未上报" in result.output
    total = sheet_rows(load_workbook(path)["项目调度"])[-1]
    assert (total[7], total[8]) == (660, 1080)
    key_only = tmp_path / "key.xlsx"
    assert CliRunner().invoke(main, ["progress", "schedule", "--period", "2025-06", "--key", "-o",
                                     str(key_only)]).exit_code == 0
    assert sheet_rows(load_workbook(key_only)["项目调度"])[1:] == [("合计", None, "0 个项目") + (None,) * 3 + (0, 0, 0) + (None,) * 3]


def test_the_cli_refuses_a_bad_month(committed, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    result = CliRunner().invoke(main, ["progress", "schedule", "--period", "六月", "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 1 and "YYYY-MM" in result.output
