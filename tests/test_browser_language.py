"""One language at a time, in a real browser against ``eqreg serve --workers 3``: Chinese whatever
the browser asks, the switch keeps the page and its filters, and the detail and history pages show
labels — never the stored codes, booleans or a progress note under 原因."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import served
from conftest import SERVED_PASSWORD
from registry import db as registry_db
from registry import progress, projects
from registry.models import Project
from registry.scope import Scope

CODE = "2024-370499-01-01-100002"  # 东西燃气管网更新
RAW = ["self_raised", "ultra_long_bonds", "construction", "completed", "municipal", "True", "False",
       "None", "is_key", "funding", "domain_code"]


@pytest.fixture(scope="module")
def edited_project(served_database) -> int:
    """The pipeline, edited (funding, key project, stage) and with a progress report and note."""
    engine = registry_db.make_engine(served_database)
    with Session(engine) as session:
        project = session.scalars(select(Project).where(Project.code == CODE)).one()
        project_id, scope = project.id, Scope.system("registrar")
        version = project.version
        projects.update_project(session, project_id, scope=scope, expected_version=version, actor="registrar",
                                changes={"funding": ["self_raised", "ultra_long_bonds"], "is_key": "是"})
        progress.file_progress(session, project_id, scope=scope, actor="registrar",
                               report={"reported_on": "2025-06-01", "completed_investment": "300",
                                       "note": "管沟开挖完成"})
    engine.dispose()
    return project_id


@pytest.fixture
def page(browser, served_app):
    # the browser asks for English first: the registry still answers in Chinese
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    served.sign_in(context, served_app.base, "registrar", SERVED_PASSWORD)
    watched = served.Watched(context, served_app.base)
    yield watched.page
    context.close()


def test_language_switch_keeps_the_page_and_its_filters(page, served_app):
    page.goto(served_app.base + "/projects?domain=municipal&stage=construction&sort=name")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "项目名称" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.locator(".lang-switch a").click()
    url = urlsplit(page.url)
    assert url.path == "/projects"
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == {
        "domain": "municipal", "stage": "construction", "sort": "name", "lang": "en"}
    main = page.locator("main").inner_text()
    assert "Project name" in main and "东西燃气管网更新" in main and "甲街道供热管网" not in main
    assert page.locator("select[name=domain]").input_value() == "municipal"
    page.goto(served_app.base + "/map")  # the choice holds on the next page, menu and body alike
    assert page.locator(".main-nav a").all_inner_texts() == [
        "Home", "Roll-up", "Map", "Projects", "Targets", "Monthly reporting", "Import", "Export"]
    with page.expect_navigation():
        page.locator(".lang-switch a").click()
    assert page.locator(".main-nav a").all_inner_texts() == ["首页", "汇总", "地图", "项目", "目标", "月度调度", "导入", "导出"]


def _shown_codes(text: str) -> list[str]:
    return [raw for raw in RAW if re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text)]


def test_detail_and_history_show_labels_not_codes(page, served_app, edited_project):
    page.goto(served_app.base + f"/projects/{edited_project}?lang=zh")
    detail = page.locator("main").inner_text()
    assert "企业自筹、超长期特别国债" in detail and "市政基础设施" in detail
    assert _shown_codes(detail) == []

    page.goto(served_app.base + f"/projects/{edited_project}/history")
    history = page.locator("main").inner_text()
    assert "资金来源: （空） → 企业自筹、超长期特别国债" in history
    assert "重点项目: 否 → 是" in history
    assert re.search(r"已完成投资（万元）: 200(\.0+)? → 300(\.0+)?", history)
    assert "进展说明: 管沟开挖完成" in history and "原因" not in history
    assert _shown_codes(history) == []

    page.goto(served_app.base + f"/projects/{edited_project}/history?lang=en")
    history = page.locator("main").inner_text()
    assert "Funding: (empty) → Self-raised; Ultra-long special treasury bonds" in history
    assert "Key project: No → Yes" in history
    assert _shown_codes(history) == []


def test_deleting_asks_first_in_the_page_language(page, served_app, edited_project):
    page.goto(served_app.base + f"/projects/{edited_project}?lang=zh")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator("form[data-confirm] button.danger").click()
    assert asked == ["确定删除此项目？删除后可在历史页恢复。"]
    page.goto(served_app.base + f"/projects/{edited_project}")
    assert "东西燃气管网更新" in page.locator("h1").inner_text()  # dismissed: nothing deleted
