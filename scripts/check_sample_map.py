#!/usr/bin/env python
"""Acceptance check of the maps on a loaded district (e.g. the 薛城区 sample after check_sample.py).

Serves the app with ``eqreg serve --workers 3`` on 127.0.0.1 over DATABASE_URL (the way users run
it, tests/served.py), signs in as a throw-away planner, and in headless
Chromium opens /map and /towns/<code> for every town: towns and projects must be drawn, no request
may leave the machine and no script may fail. Then every town's figures from /api/v1/towns (the
numbers the maps and the town pages show) are compared with an independent SQL computation.
Exits 1 on any mismatch. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import math
import secrets
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import served  # noqa: E402  (tests/served.py: the app as users run it, Chromium, sign-in)

from registry import accounts  # noqa: E402
from registry import db as registry_db  # noqa: E402

# Written from the brief (DESIGN §3), not from the app's SQL: money apportioned by share,
# density over the town's geodesic area, completion = completed ÷ total.
INDEPENDENT_FIGURES = text("""
    SELECT t.code, t.name,
           count(DISTINCT p.id) AS project_count,
           coalesce(sum(p.total_investment * s.share), 0) AS total,
           coalesce(sum(coalesce(p.completed_investment, 0) * s.share), 0) AS completed,
           ST_Area(t.geom::geography) / 1e6 AS area_km2
    FROM towns t
    LEFT JOIN project_towns s ON s.town_code = t.code
    LEFT JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
    WHERE t.valid_to IS NULL
    GROUP BY t.code, t.name, t.geom ORDER BY t.code""")


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.01)


def check_figures(api_towns: list[dict], expected: list) -> list[str]:
    got = {t["code"]: t for t in api_towns}
    problems = []
    for row in expected:
        town = got.get(row.code)
        if town is None:
            problems.append(f"{row.name} 不在 /api/v1/towns 中")
            continue
        total, completed = float(row.total), float(row.completed)
        checks = {"project_count": (town["project_count"], row.project_count),
                  "total_investment": (town["total_investment"], total),
                  "completed_investment": (town["completed_investment"], completed),
                  "area_km2": (town["area_km2"], row.area_km2),
                  "density": (town["density"], total / row.area_km2),
                  "completion_rate": (town["completion_rate"] or 0, completed / total if total else 0)}
        for field, (shown, independent) in checks.items():
            if not close(float(shown), float(independent)):
                problems.append(f"{row.name} {field}：页面 {shown}，独立计算 {independent:.4f}")
    return problems


def check_pages(base: str, username: str, password: str, towns: list) -> list[str]:
    problems = []
    with sync_playwright() as playwright:
        browser = served.launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        served.sign_in(context, base, username, password)
        watched = served.Watched(context, base)
        page = watched.page
        for path in ["/map"] + [f"/towns/{t.code}" for t in towns]:
            page.goto(base + path)
            page.wait_for_selector("html[data-map-ready]", timeout=30000)
            page.wait_for_load_state("networkidle")
            labels = page.locator(".eqreg-town-label").count()
            drawn = page.locator("svg path.leaflet-interactive, .leaflet-marker-icon").count()
            if labels == 0 or drawn <= labels:
                problems.append(f"{path}：镇街 {labels} 个、要素 {drawn} 个，未画出项目")
            if path == "/map":
                watched.screenshot("sample-map.png")
                if labels != len(towns):
                    problems.append(f"/map 画出 {labels} 个镇街，应为 {len(towns)}")
        api = context.request.get(base + "/api/v1/towns").json()
        browser.close()
    problems += ([f"请求离开本机：{u}" for u in watched.outside_requests()[:5]]
                 + [f"脚本错误：{e}" for e in watched.errors[:5]])
    return problems, api


def main() -> int:
    engine = registry_db.make_engine()
    username, password = f"check-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with Session(engine) as session:
        accounts.create_user(session, actor="check_sample_map", username=username, role="planner",
                             password=password)
        expected = session.execute(INDEPENDENT_FIGURES).all()
    try:
        with served.Served(registry_db.database_url(), workers=3) as app:
            problems, api = check_pages(app.base, username, password, expected)
    finally:
        with Session(engine) as session:
            accounts.set_active(session, actor="check_sample_map", username=username, active=False)
    items = api["items"] if isinstance(api, dict) and "items" in api else api
    problems += check_figures(items, expected)
    print(f"地图：/map 与 {len(expected)} 个镇街页面；镇街指标逐项与独立 SQL 比对")
    for problem in problems:
        print("  不符：" + problem)
    print("全部相符" if not problems else f"共 {len(problems)} 处不符")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
