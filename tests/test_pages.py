"""Dashboard, project list and project detail pages: Chinese by default, English on request,
scoped like the API, and served without any external asset (offline intranets)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from conftest import SAMPLE_PROJECTS
from test_figures import expected_by_town, expected_shares

LIVE = [p for p in SAMPLE_PROJECTS if not p[9]]
WEB = Path(__file__).resolve().parent.parent / "web"


@pytest.fixture
def planner(client_for, web_data):
    return client_for("planner")


def html(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def test_dashboard_shows_totals_and_groupings_in_chinese(planner):
    page = html(planner.get("/"))
    assert "首页" in page and "项目" in page and "按领域" in page
    assert re.search(r'id="total-projects">\s*%d\s*<' % len(LIVE), page)
    assert "{:,.2f}".format(sum(p[6] for p in LIVE)) in page
    for label in ("工业", "市政基础设施", "医疗卫生", "农业", "在建", "竣工投产", "甲街道", "乙镇", "丙镇"):
        assert label in page


def test_dashboard_charts_use_the_local_chart_js(planner):
    page = html(planner.get("/"))
    assert '/static/vendor/chartjs/chart.umd.js' in page
    assert planner.get("/static/vendor/chartjs/chart.umd.js").status_code == 200
    assert 'id="dashboard-data"' in page


@pytest.mark.parametrize("path", ["/", "/projects", "/projects/{id}"])
def test_pages_load_nothing_from_other_hosts(planner, web_data, path):
    page = html(planner.get(path.format(id=next(iter(web_data.values())))))
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)


def test_english_on_request_and_chinese_by_default(planner):
    assert "Dashboard" in html(planner.get("/?lang=en"))
    assert "Industry" in html(planner.get("/"))  # the choice is remembered in the session
    assert "按领域" in html(planner.get("/?lang=zh"))


def test_project_list_filters_and_links_to_details(planner, web_data):
    page = html(planner.get("/projects?domain=municipal"))
    for code, name, domain, *_ in LIVE:
        assert (name in page) == (domain == "municipal")
    first = next(p for p in LIVE if p[2] == "municipal")
    assert f'/projects/{web_data[first[0]]}"' in page


def test_project_list_paginates_and_keeps_filters(planner, monkeypatch):
    from web import pages
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    page = html(planner.get("/projects?sort=code&q=项目代码以外"))
    assert "没有符合条件的项目" in page
    page = html(planner.get("/projects?sort=code"))
    names = [p[1] for p in sorted(LIVE)]
    assert names[0] in page and names[2] not in page
    assert re.search(r'href="/projects\?sort=code&amp;page=2"', page)
    assert names[2] in html(planner.get("/projects?sort=code&page=2"))


def test_bad_list_parameters_give_a_chinese_400_page(planner):
    response = planner.get("/projects?stage=差不多")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "无法识别的项目阶段" in response.get_data(as_text=True)


def test_project_detail_shows_shares_and_a_mini_map(planner, web_data):
    code, name, _, _, _, wkt, total, *_ = SAMPLE_PROJECTS[1]
    page = html(planner.get(f"/projects/{web_data[code]}"))
    assert name in page and code in page
    for town, share in expected_shares(wkt).items():
        assert "{:.1%}".format(share) in page
        assert "{:,.2f}".format(round(total * share, 2)) in page
    assert 'id="mini-map"' in page and "/static/vendor/leaflet/leaflet.js" in page
    assert '"LineString"' in page


def test_unknown_project_page_is_404(planner):
    assert planner.get("/projects/424242").status_code == 404


def test_town_user_pages_show_only_their_projects_and_share(client_for, web_data):
    client = client_for("town", towns=["370499003"])
    page = html(client.get("/projects"))
    for code, name, _, _, _, wkt, *_ in LIVE:
        assert (name in page) == ("370499003" in expected_shares(wkt))
    dashboard = html(client.get("/"))
    assert "{:,.2f}".format(expected_by_town()["370499003"]["total"]) in dashboard
    hidden = next(p[0] for p in LIVE if "370499003" not in expected_shares(p[5]))
    assert client.get(f"/projects/{web_data[hidden]}").status_code == 404


# The import pages (import_*.html, _import_problems.html) belong to the import work; every other
# template and the page modules speak through Babel.
TEMPLATES = sorted(p for p in (WEB / "templates").glob("*.html") if "import" not in p.name)
PAGE_MODULES = [WEB / "pages.py", WEB / "admin.py", WEB / "i18n.py", WEB / "export_pages.py",
                *sorted((WEB / "maps").glob("*.py"))]
CJK = re.compile(r"[\u4e00-\u9fff]+")


def test_every_ui_string_has_a_chinese_translation():
    with (WEB / "translations/zh/LC_MESSAGES/messages.po").open("rb") as po:
        catalogue = read_po(po)
    sources = [(path, "python") for path in PAGE_MODULES] + [(path, "jinja2") for path in TEMPLATES]
    missing = []
    for path, method in sources:
        method = "jinja2.ext:babel_extract" if method == "jinja2" else method
        for _, message, _, _ in extract_from_file(method, str(path), keywords={**DEFAULT_KEYWORDS, "_l": None}):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid and not (catalogue.get(msgid) and catalogue.get(msgid).string):
                missing.append(msgid)
    assert missing == []


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_untranslated_text(template):
    """Chinese written straight into a template would stay Chinese in English: all text is a
    message id in _() (the language switch's own name, 中文, is the one exception)."""
    text = re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.S)
    assert [t for t in CJK.findall(text) if t != "中文"] == []


def test_the_language_choice_travels_in_a_cookie_every_worker_reads(client_for, web_data):
    chooser = client_for("planner")
    response = chooser.get("/projects?lang=en")
    cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("eqreg_lang=en") and "HttpOnly" in cookie
    other = client_for("planner")  # another client: no server-side session shared with the first
    other.set_cookie("eqreg_lang", "en")
    assert "Project name" in other.get("/projects").get_data(as_text=True)
    other.set_cookie("eqreg_lang", "fr")  # anything else: Chinese
    assert "项目名称" in other.get("/projects").get_data(as_text=True)


def test_chinese_by_default_whatever_the_browser_asks(client_for, web_data):
    client = client_for("planner")
    page = html(client.get("/projects", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert 'lang="zh-CN"' in page and "项目名称" in page and "Project name" not in page


def test_language_choice_is_kept_and_the_switch_keeps_the_query(client_for, web_data):
    client = client_for("planner")
    page = html(client.get("/projects?domain=municipal&sort=name&lang=en"))
    assert "Project name" in page and "Municipal infrastructure" in page
    assert 'href="/projects?domain=municipal&amp;sort=name&amp;lang=zh"' in page
    assert "Project map" in html(client.get("/map"))  # remembered for the session, not per page
    assert "项目名称" in html(client.get("/projects?lang=zh"))


@pytest.mark.parametrize("role,towns,shown", [
    ("planner", (), ["/", "/rollup", "/map", "/projects", "/targets", "/progress/missing", "/export"]),
    ("town", ("370499002",), ["/", "/map", "/projects", "/targets", "/progress/missing", "/export"]),
    ("bureau", (), ["/", "/rollup", "/map", "/projects", "/targets", "/progress/missing", "/imports", "/export"])])
def test_menu_shows_only_what_the_role_may_use(client_for, web_data, role, towns, shown):
    page = html(client_for(role, towns=towns).get("/"))
    nav = re.search(r'<nav class="main-nav".*?</nav>', page, re.S).group(0)
    assert re.findall(r'href="([^"]+)"', nav) == shown
