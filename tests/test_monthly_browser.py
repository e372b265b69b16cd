"""月度调度 in a real browser: the dashboard's charts draw without script errors and a bar opens the
filtered project list; the bureau downloads the month's 调度表 from the not-reported page and its
totals equal the API's monthly figures."""
from __future__ import annotations

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from test_browser import ARTIFACTS, PASSWORD, Watched, browser, live_server, sign_in  # noqa: F401  (fixtures)

FACTORY = "2024-370499-01-01-100001"


def test_a_dashboard_bar_opens_the_filtered_list_and_the_schedule_totals_match_the_api(
        browser, live_server, make_user, web_data, engine, tmp_path):  # noqa: F811
    from registry.progress import file_progress
    from registry.scope import Scope
    with Session(engine) as session:
        for period, value in (("2025-05", 420), ("2025-06", 480)):
            file_progress(session, web_data[FACTORY], scope=Scope(actor="t", role="bureau"), actor="t",
                          report={"period": period, "completed_investment": value})
    make_user("bureau", username="monthly_clerk", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    sign_in(context, live_server, "monthly_clerk")
    watched = Watched(context, live_server)
    page = watched.page
    page.goto(live_server + "/")
    page.wait_for_load_state("networkidle")
    assert page.locator("#by-month canvas").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-monthly.png"), full_page=True)
    point = page.evaluate("""() => {
        const canvas = document.querySelector('canvas[data-group="domain"]');
        const bar = Chart.getChart(canvas).getDatasetMeta(0).data[0];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
    }""")
    with page.expect_navigation():
        page.mouse.click(point["x"], point["y"])
    assert "/projects?domain=" in page.url

    page.goto(live_server + "/progress/missing?period=2025-06")
    page.screenshot(path=str(ARTIFACTS / "progress-missing.png"), full_page=True)
    with page.expect_download() as caught:
        page.locator("#schedule-download").click()
    path = tmp_path / "schedule.xlsx"
    caught.value.save_as(path)
    total = [c.value for c in load_workbook(path)["项目调度"][load_workbook(path)["项目调度"].max_row]]
    june = page.request.get(live_server + "/api/v1/stats?group_by=month&period_from=2025-06&period_to=2025-06").json()
    assert total[0] == "合计" and (total[7], total[8]) == (june["items"][0]["increase"], june["items"][0]["completed_investment"]) == (60, 480)
    watched.assert_stayed_local()
    context.close()
