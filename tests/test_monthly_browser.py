"""月度调度 in a real browser: the dashboard's charts draw without script errors and a bar opens the
filtered project list; the bureau downloads the month's 调度表 from the not-reported page and its
totals equal the API's monthly figures."""
from __future__ import annotations

from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

import served
from conftest import SERVED_PASSWORD

FACTORY = "2024-370499-01-01-100001"


def test_a_dashboard_bar_opens_the_filtered_list_and_the_schedule_totals_match_the_api(
        browser, served_database, served_app, tmp_path):
    from registry import db as registry_db
    from registry.progress import file_progress
    from registry.scope import Scope
    engine = registry_db.make_engine(served_database)
    with Session(engine) as session:
        factory = session.execute(text("SELECT id FROM projects WHERE code = :c"), {"c": FACTORY}).scalar_one()
        for period, value in (("2025-05", 420), ("2025-06", 480)):
            file_progress(session, factory, scope=Scope(actor="t", role="bureau"), actor="t",
                          report={"period": period, "completed_investment": value})
    engine.dispose()
    base = served_app.base
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    served.sign_in(context, base, "registrar", SERVED_PASSWORD)
    watched = served.Watched(context, base)
    page = watched.page
    page.goto(base + "/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#by-month canvas").count() == 1
    served.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(served.ARTIFACTS / "dashboard-monthly.png"), full_page=True)
    point = page.evaluate("""() => {
        const canvas = document.querySelector('canvas[data-group="domain"]');
        const bar = Chart.getChart(canvas).getDatasetMeta(0).data[0];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
    }""")
    with page.expect_navigation():
        page.mouse.click(point["x"], point["y"])
    assert "/projects?domain=" in page.url

    page.goto(base + "/progress/missing?period=2025-06")
    page.screenshot(path=str(served.ARTIFACTS / "progress-missing.png"), full_page=True)
    with page.expect_download() as caught:
        page.locator("#schedule-download").click()
    path = tmp_path / "schedule.xlsx"
    caught.value.save_as(path)
    total = [c.value for c in load_workbook(path)["项目调度"][load_workbook(path)["项目调度"].max_row]]
    june = page.request.get(base + "/api/v1/stats?group_by=month&period_from=2025-06&period_to=2025-06").json()
    assert total[0] == "合计" and (total[7], total[8]) == (june["items"][0]["increase"], june["items"][0]["completed_investment"]) == (60, 480)
    watched.assert_stayed_local()
    context.close()
