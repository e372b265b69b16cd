"""Who may do what with the writing endpoints of issue 5, role by role (DESIGN §6). Rows are
ready to merge into the authorization matrix: (method, path, role) → expected status.

Town users are officials of 乙镇 (370499002), where the smart factory lies; a project outside
their towns is hidden (404), not forbidden, so its existence does not leak.
"""
from __future__ import annotations

import io

import pytest

SMART_FACTORY = "2024-370499-01-01-100001"  # 乙镇
GRAIN_DRYER = "2024-370499-01-01-100004"  # 丙镇 only
NEW = {"code": "2025-370499-01-01-990001", "name": "矩阵测试项目", "domain": "industry", "owner": "某公司",
       "total_investment": 10, "stage": "reserve", "geometry": {"type": "Point", "coordinates": [117.15, 35.05]}}
CSV = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资,项目阶段\n"
       "2025-370499-01-01-990002,矩阵导入,工业,某公司,117.15,35.05,10,谋划储备\n")

# (name, method, path template, body kind) → expected status per role
MATRIX = [
    ("create", "POST", "/api/v1/projects", "json", {"admin": 201, "bureau": 201, "planner": 403, "town": 403}),
    ("patch", "PATCH", "/api/v1/projects/{own}", "patch", {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("patch other town", "PATCH", "/api/v1/projects/{other}", "patch",
     {"admin": 200, "bureau": 200, "planner": 403, "town": 404}),
    ("delete", "DELETE", "/api/v1/projects/{own}", "delete", {"admin": 204, "bureau": 204, "planner": 403, "town": 403}),
    ("restore", "POST", "/api/v1/projects/{deleted}/restore", None,
     {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("progress", "POST", "/api/v1/projects/{own}/progress", "progress",
     {"admin": 201, "bureau": 201, "planner": 403, "town": 201}),
    ("progress other town", "POST", "/api/v1/projects/{other}/progress", "progress",
     {"admin": 201, "bureau": 201, "planner": 403, "town": 404}),
    ("history", "GET", "/api/v1/projects/{own}/history", None, {"admin": 200, "bureau": 200, "planner": 200, "town": 200}),
    ("history other town", "GET", "/api/v1/projects/{other}/history", None,
     {"admin": 200, "bureau": 200, "planner": 200, "town": 404}),
    ("progress list", "GET", "/api/v1/projects/{own}/progress", None,
     {"admin": 200, "bureau": 200, "planner": 200, "town": 200}),
    ("preview", "POST", "/api/v1/projects/preview", "preview", {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("import", "POST", "/api/v1/imports", "upload", {"admin": 201, "bureau": 201, "planner": 403, "town": 403}),
    ("new form", "GET", "/projects/new", None, {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("edit form", "GET", "/projects/{own}/edit", None, {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("history page", "GET", "/projects/{own}/history", None, {"admin": 200, "bureau": 200, "planner": 200, "town": 200}),
    ("import page", "GET", "/imports", None, {"admin": 200, "bureau": 200, "planner": 403, "town": 403}),
    ("template", "GET", "/imports/template.xlsx", None, {"admin": 200, "bureau": 200, "planner": 200, "town": 200}),
]
ROLES = ("admin", "bureau", "planner", "town")


def _body(kind: str | None) -> dict:
    if kind == "json":
        return {"json": NEW}
    if kind == "patch":
        return {"json": {"remarks": "矩阵"}, "headers": {"If-Match": '"1"'}}
    if kind == "delete":
        return {"headers": {"If-Match": '"1"'}}
    if kind == "progress":
        return {"json": {"note": "矩阵"}}
    if kind == "preview":
        return {"json": {"geometry": NEW["geometry"]}}
    if kind == "upload":
        return {"data": {"file": (io.BytesIO(CSV.encode()), "m.csv")}, "content_type": "multipart/form-data"}
    return {}


@pytest.mark.parametrize("role", ROLES)
def test_writing_endpoints_by_role(client_for, web_data, role):
    client = client_for(role, towns=["370499002"] if role == "town" else ())
    deleted = web_data["2024-370499-01-01-100006"]
    ids = {"own": web_data[SMART_FACTORY], "other": web_data[GRAIN_DRYER], "deleted": deleted}
    outcomes = {}
    for name, method, path, kind, expected in MATRIX:
        if name in ("delete",):
            continue  # run last: it hides the project the other rows use
        response = client.open(path.format(**ids), method=method, **_body(kind))
        outcomes[name] = (response.status_code, expected[role])
        if response.status_code == 200 and kind == "patch":
            client.patch(path.format(**ids), json={"remarks": None},
                         headers={"If-Match": response.headers["ETag"]})  # back to version-free state
    name, method, path, kind, expected = next(row for row in MATRIX if row[0] == "delete")
    headers = {"If-Match": client.get(path.format(**ids)).headers.get("ETag", '"1"')}
    outcomes[name] = (client.open(path.format(**ids), method=method, headers=headers).status_code, expected[role])
    wrong = {name: got for name, got in outcomes.items() if got[0] != got[1]}
    assert wrong == {}, f"{role}: (got, expected) {wrong}"
