"""The authorization matrix: EVERY rule of the app × every role → the expected class of status.

A route without an entry in ``MATRIX`` fails ``test_every_route_has_an_entry``: whoever adds a
route declares who may use it. Writes are sent with empty bodies, so a role that passes the gate
gets a validation answer (400/409/412/422/428) and nothing changes, while a refused role gets
403 (or 404 for another town's objects, whose existence must not leak).
"""
from __future__ import annotations

import json

import pytest

from conftest import SAMPLE_PROJECTS, sign_in

ROLES = ["anonymous", "admin", "bureau", "planner", "town_own", "town_other", "bureau_a", "bureau_b", "viewer_city"]
# District-scoped accounts (issue 14) follow a row of MATRIX: (the row for every route, the row for
# a project or town of the sample — all in district 370499). A bureau of 370499 (district A) is a
# bureau there; a bureau of 370498 (district B) a bureau everywhere else, but another district's
# project or town is missing to it (404) like another town's to a town user; a viewer of city
# 3704 reads like a planner and writes nothing.
DISTRICT_ROLES = {"bureau_a": ("bureau", "bureau"), "bureau_b": ("bureau", "town_other"),
                  "viewer_city": ("planner", "planner")}
MATRIX_ROLES = ["admin", "bureau", "planner", "town_own", "town_other"]
OWN_TOWN, OTHER_TOWN = "370499001", "370499003"  # 甲街道, 丙镇
# A live project with a share in the own town only: 医院影像楼设备更新.
TARGET_CODE = next(p[0] for p in SAMPLE_PROJECTS if p[1] == "医院影像楼设备更新")
SAMPLE_VALUES = {"code": OWN_TOWN, "username": "victim", "token": "0" * 32, "filename": "css/app.css",
                 "target_id": "no-such-target", "z": "1", "x": "1", "y": "0", "ext": "png"}
# Query strings a GET route needs to be answered at all.
SAMPLE_QUERIES = {"/api/v1/map/features": "?bbox=116.9,34.9,117.4,35.2&zoom=12", "/api/v1/map/search": "?q=管网", "/api/v1/stats": "?group_by=town",
                  "/export/download": "?format=geojson", "/api/v1/rollup": "?level=province&code=37"}
# Routes whose sample path is not made of SAMPLE_VALUES: the roll-up of the sample's province.
SAMPLE_PATHS = {"/rollup/<level>/<code>": "/rollup/province/37",
                "/rollup/<level>/<code>/figures.<fmt>": "/rollup/province/37/figures.csv"}
# The roll-up of the sample's province (district 370499): a bureau of another district sees none
# of it (404), like another district's project.
ON_SAMPLE = {"GET /api/v1/rollup", "GET /rollup/<level>/<code>", "GET /rollup/<level>/<code>/figures.<fmt>"}

# Classes: ok = 2xx/3xx (not to the login page); pass = got past the gate (not 401/403/404, < 500);
# pass404 = past the gate, 404 allowed (an unknown import token); deny = 403; hide = 404;
# no = 403 or 404; login = 401 (API) or redirect to the login page; any = anything below 500.
OK, PASS, PASS404, DENY, HIDE, NO, ANY = "ok", "pass", "pass404", "deny", "hide", "no", "any"
ALL_OK = (OK,) * 5
EDITORS_ONLY = (PASS, PASS, DENY, DENY, DENY)
EDITORS_ONLY_PAGE = (OK, OK, DENY, DENY, DENY)
PROJECT_READ = (OK, OK, OK, OK, HIDE)
PROJECT_EDIT = (PASS, PASS, DENY, DENY, HIDE)
# Deleted projects are out of everyone's view, so restore asks the role first: 403 for any id.
PROJECT_RESTORE = (PASS, PASS, DENY, DENY, NO)
PROJECT_PROGRESS = (PASS, PASS, DENY, PASS, HIDE)
ADMIN_ONLY = (PASS, DENY, DENY, DENY, DENY)
IMPORT_TOKEN = (PASS404, PASS404, DENY, DENY, DENY)
ROLLUP = (OK, OK, OK, DENY, NO)  # town officials never see a district's whole

# "METHOD rule" → (admin, bureau, planner, town_own, town_other); anonymous gets "login" unless
# the rule is in PUBLIC.
MATRIX: dict[str, tuple[str, ...]] = {
    "GET /": ALL_OK,
    "GET /admin/users": (OK, DENY, DENY, DENY, DENY),
    "POST /admin/users": ADMIN_ONLY,
    "POST /admin/users/<username>/active": ADMIN_ONLY,
    "POST /admin/users/<username>/password": ADMIN_ONLY,
    "POST /admin/users/<username>/towns": ADMIN_ONLY,
    "POST /admin/users/<username>/jurisdictions": ADMIN_ONLY,
    "GET /admin/users/<username>/sessions": (OK, DENY, DENY, DENY, DENY),
    "POST /admin/users/<username>/sessions/revoke": ADMIN_ONLY,
    "GET /api/v1/auth/me": ALL_OK,
    "POST /api/v1/auth/token": (ANY,) * 5,
    "DELETE /api/v1/auth/token": (PASS,) * 5,
    "POST /api/v1/imports": EDITORS_ONLY,
    "GET /api/v1/map/features": ALL_OK,
    "GET /api/v1/map/search": ALL_OK,
    "GET /api/v1/map/tiles/<int:z>/<int:x>/<int:y>.mvt": ALL_OK,  # scoped like the map  # scoped like the map: a town official finds their projects only
    "GET /tiles/<int:z>/<int:x>/<int:y>.<ext>": ALL_OK,  # the offline basemap (no project data)
    "GET /api/v1/openapi.json": ALL_OK,
    "GET /api/v1/health": ALL_OK,
    "GET /api/v1/health/ready": ALL_OK,
    "GET /api/v1/projects": ALL_OK,
    "POST /api/v1/projects": EDITORS_ONLY,
    "GET /api/v1/projects.geojson": ALL_OK,
    "POST /api/v1/projects/preview": EDITORS_ONLY,
    "GET /api/v1/projects/<int:project_id>": PROJECT_READ,
    "PATCH /api/v1/projects/<int:project_id>": PROJECT_EDIT,
    "DELETE /api/v1/projects/<int:project_id>": PROJECT_EDIT,
    "GET /api/v1/projects/<int:project_id>/history": PROJECT_READ,
    "GET /api/v1/projects/<int:project_id>/progress": PROJECT_READ,
    "POST /api/v1/projects/<int:project_id>/progress": PROJECT_PROGRESS,
    "POST /api/v1/projects/<int:project_id>/restore": PROJECT_RESTORE,
    "GET /api/v1/stats": ALL_OK,
    "GET /api/v1/rollup": ROLLUP,
    "GET /rollup": (OK, OK, OK, DENY, DENY),  # to the viewer's own city or province
    "GET /rollup/<level>/<code>": ROLLUP,
    "GET /rollup/<level>/<code>/figures.<fmt>": ROLLUP,  # audited download
    "GET /api/v1/towns": ALL_OK,
    "GET /api/v1/towns.geojson": ALL_OK,
    "GET /imports": EDITORS_ONLY_PAGE,
    "GET /imports/template.xlsx": ALL_OK,  # a blank workbook
    "POST /imports/preview": EDITORS_ONLY,
    "GET /imports/<token>/result": IMPORT_TOKEN,
    "GET /imports/<token>/report.xlsx": IMPORT_TOKEN,
    "POST /imports/<token>/confirm": IMPORT_TOKEN,
    "POST /imports/<token>/options": IMPORT_TOKEN,
    "GET /login": ALL_OK,
    "POST /login": (ANY,) * 5,
    "POST /logout": (ANY,) * 5,  # signed out and sent to the login page
    "GET /map": ALL_OK,
    "GET /export": ALL_OK,  # everyone exports what they can see
    "GET /progress/missing": ALL_OK,  # 本月未上报, scoped
    "GET /progress/schedule": ALL_OK,  # the 调度表, scoped like every export
    "GET /api/v1/progress/missing": ALL_OK,
    "GET /export/download": ALL_OK,
    "GET /towns/<code>": (OK, OK, OK, OK, NO),
    "GET /projects": ALL_OK,
    "GET /projects/new": EDITORS_ONLY_PAGE,
    "POST /projects/new": EDITORS_ONLY,
    "GET /projects/<int:project_id>": PROJECT_READ,
    "GET /projects/<int:project_id>/edit": (OK, OK, DENY, DENY, HIDE),
    "POST /projects/<int:project_id>/edit": PROJECT_EDIT,
    "GET /projects/<int:project_id>/history": PROJECT_READ,
    "GET /projects/<int:project_id>/progress": PROJECT_READ,
    "POST /projects/<int:project_id>/progress": PROJECT_PROGRESS,
    "POST /projects/<int:project_id>/restore": PROJECT_RESTORE,
    "POST /projects/<int:project_id>/delete": PROJECT_EDIT,
    "GET /static/<path:filename>": ALL_OK,
    "GET /api/v1/targets": ALL_OK,
    "GET /targets": ALL_OK,
    "GET /targets/<target_id>": (HIDE,) * 5,  # no targets in this sample (tests/test_targets_web.py has them)
    "POST /targets/<target_id>/value": IMPORT_TOKEN,  # editors pass the gate, then 404 for an unknown id
    "POST /targets/<target_id>/baseline": IMPORT_TOKEN,
}
PUBLIC = {"GET /login": OK, "POST /login": ANY, "POST /api/v1/auth/token": ANY,
          "GET /api/v1/openapi.json": OK, "GET /api/v1/health": OK,
          "GET /api/v1/health/ready": OK, "GET /static/<path:filename>": OK}
# Writes that change state the other requests rely on run last.
RUN_LAST = ("delete", "DELETE", "logout", "/active", "/password")


def route_keys(app) -> list[str]:
    keys = {f"{method} {rule.rule}" for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}
    return sorted(keys, key=lambda k: (not k.startswith("GET"), any(m in k for m in RUN_LAST), k))


def expected_class(key: str, role: str) -> str:
    if role == "anonymous":
        return PUBLIC.get(key, "login")
    if role in DISTRICT_ROLES:
        everywhere, on_sample = DISTRICT_ROLES[role]
        role = on_sample if "<int:project_id>" in key or "/towns/<code>" in key or key in ON_SAMPLE else everywhere
    return MATRIX[key][MATRIX_ROLES.index(role)]


def matches(expected: str, response, api: bool) -> bool:
    status = response.status_code
    to_login = status in (301, 302, 303) and response.headers.get("Location", "").startswith("/login")
    if status >= 500:
        return False
    return {
        OK: status < 400 and not to_login,
        PASS: status not in (401, 403, 404) and not to_login,
        PASS404: status not in (401, 403) and not to_login,
        DENY: status == 403,
        HIDE: status == 404,
        NO: status in (403, 404),
        "login": status == 401 if api else to_login,
        ANY: True,
    }[expected]


def _text(response) -> str:
    return response.get_data().decode("utf-8", errors="replace")


def test_every_route_has_an_entry(app):
    missing = [key for key in route_keys(app) if key not in MATRIX]
    assert not missing, f"add these routes to MATRIX in tests/test_authz_matrix.py: {missing}"
    stale = set(MATRIX) - set(route_keys(app))
    assert not stale, f"MATRIX lists routes that no longer exist: {sorted(stale)}"


@pytest.fixture
def accounts_by_role(make_user):
    make_user("planner", username="victim")
    return {"admin": make_user("admin"), "bureau": make_user("bureau"), "planner": make_user("planner"),
            "town_own": make_user("town", towns=[OWN_TOWN]), "town_other": make_user("town", towns=[OTHER_TOWN]),
            "bureau_a": make_user("bureau", districts=["370499"]),
            "bureau_b": make_user("bureau", districts=["370498"]),
            "viewer_city": make_user("viewer", cities=["3704"])}


def _url(rule: str, project_id: int) -> str:
    if rule in SAMPLE_PATHS:
        return SAMPLE_PATHS[rule]
    url = rule.replace("<int:project_id>", str(project_id))
    for name, value in SAMPLE_VALUES.items():
        url = url.replace(f"<{name}>", value).replace(f"<path:{name}>", value).replace(f"<int:{name}>", value)
    assert "<" not in url, f"no sample value for a converter in {rule}: add it to SAMPLE_VALUES"
    return url + SAMPLE_QUERIES.get(rule, "")


@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(app, web_data, accounts_by_role, role):
    project_id = web_data[TARGET_CODE]
    failures = []
    for key in route_keys(app):
        if key not in MATRIX:
            continue  # reported by test_every_route_has_an_entry
        method, rule = key.split(" ", 1)
        client = app.test_client() if role == "anonymous" else sign_in(app, accounts_by_role[role])
        api = rule.startswith("/api/")
        body = {"json": {}} if api else {"data": {}}
        response = client.open(_url(rule, project_id), method=method, **(body if method != "GET" else {}))
        expected = expected_class(key, role)
        if not matches(expected, response, api):
            failures.append(f"{role} {key}: expected {expected}, got {response.status_code} "
                            f"{_text(response)[:160]!r}")
    assert not failures, "\n".join(failures)


def test_town_user_sees_exactly_their_towns_projects_through_every_route(app, web_data, accounts_by_role, engine):
    """Through every GET route, a town official never sees a project without a share in their town."""
    from sqlalchemy import text
    with engine.connect() as conn:
        own = set(conn.scalars(text("SELECT DISTINCT p.code FROM projects p JOIN project_towns s "
                                    "ON s.project_id = p.id WHERE s.town_code = :t AND p.deleted_at IS NULL"),
                               {"t": OWN_TOWN}))
    others = {(code, name) for code, name, *_ in SAMPLE_PROJECTS if code not in own and not _[-1]}
    assert own and others
    client = sign_in(app, accounts_by_role["town_own"])
    for key in route_keys(app):
        method, rule = key.split(" ", 1)
        if method != "GET" or "static" in rule:
            continue
        body = _text(client.get(_url(rule, web_data[TARGET_CODE])))
        for code, name in others:
            assert code not in body and name not in body, f"{rule} shows {name} to a {OWN_TOWN} user"
    listed = {i["code"] for i in client.get("/api/v1/projects?per_page=100").get_json()["items"]}
    assert listed == own
    features = json.loads(client.get("/api/v1/projects.geojson").get_data(as_text=True))["features"]
    assert {f["properties"]["code"] for f in features} == own
    page = client.get("/projects").get_data(as_text=True)
    assert all(name in page for code, name, *_ in SAMPLE_PROJECTS if code in own)
