"""The web import is as fast as the CLI, tested by its plan (DESIGN §9): under the web role and
row-level security, no statement of the import joins staging × projects in a nested loop that
scans either side again per row (the 10k-row web import took 13 s, 100k never finished)."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from registry import db as registry_db
from registry import scope as registry_scope
from registry.importing import import_projects

HEADER = "项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段"
STORED, STAGED = 3000, 400
# the import's statements that join the staged rows with stored projects
TEMP_AND_PROJECT_TABLES = ("import_staging", "import_before", "import_written", "match_shares", "projects",
                           "project_towns")
WATCHED = ("import/04_lock", "import/06_audit_before", "import/07_changes", "import/09_upsert",
           "import/10_project_towns", "import/11_audit", "import/12_town_check")


def rows(count: int, *, first: int = 0, name: str = "项目") -> io.BytesIO:
    lines = [f"2024-370499-42-01-{n:06d},{name}{n},工业,公司,{117.0 + (n % 290) / 1000 + 0.005:.4f},35.05,10,谋划储备"
             for n in range(first, first + count)]
    return io.BytesIO((HEADER + "\n" + "\n".join(lines) + "\n").encode())


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _scans(plan: dict) -> set[str]:
    return {node.get("Relation Name") for node in _nodes(plan) if node.get("Relation Name")}


def quadratic_joins(plan: dict) -> list[str]:
    """Nested loops that scan a staged or stored table sequentially once per outer row."""
    found = []
    for node in _nodes(plan):
        if node["Node Type"] != "Nested Loop":
            continue
        # Only the join's two sides: sub- and initplans (the row-level security's scope) run once.
        outer, inner = [child for child in node["Plans"] if child.get("Parent Relationship") in ("Outer", "Inner")]
        rescanned = sorted(n.get("Relation Name") for n in _nodes(inner)
                           if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in TEMP_AND_PROJECT_TABLES)
        if rescanned:
            found.append(f"{sorted(_scans(outer))} × seq scan of {rescanned}")
    return found


@pytest.fixture
def web_role_session(committed, engine):
    """测试区 with STORED committed projects, then a fresh connection as the web role (RLS on,
    bureau scope), exactly as a request's session is."""
    from conftest import insert_grid_district, token_for
    with Session(engine) as owner:
        insert_grid_district(owner)
        owner.commit()
        import_projects(owner, rows(STORED))
        owner.execute(text("ANALYZE projects"))  # like a registry that has lived a while
        owner.commit()
        token = token_for(owner, "bureau", username="registrar")
    web_engine = registry_db.make_engine(committed, poolclass=NullPool)  # a connection of its own
    with web_engine.connect() as connection:
        connection.execute(text("SET ROLE eqreg_app"))
        connection.commit()
        session = Session(bind=connection)
        session.begin()
        registry_scope.present_secret(session, token)
        yield session
        session.close()
    web_engine.dispose()


def test_the_web_roles_import_statements_do_not_multiply_staging_by_projects(web_role_session, monkeypatch):
    session = web_role_session
    plans: dict[str, dict] = {}
    real_execute = session.execute
    from registry import sqlfiles
    names = {str(sqlfiles.load(name)): name for name in WATCHED}

    def explaining(statement, params=None, *args, **kwargs):
        name = names.get(str(statement))
        if name is not None:
            explained = real_execute(text("EXPLAIN (FORMAT JSON) " + str(statement)), params or {}).scalar()
            plans[name] = (explained if isinstance(explained, list) else json.loads(explained))[0]["Plan"]
        return real_execute(statement, params, *args, **kwargs)

    monkeypatch.setattr(session, "execute", explaining)
    # half of the staged rows change stored projects, half are new
    report = import_projects(session, rows(STAGED, first=STORED - STAGED // 2, name="改"), actor="registrar")
    assert (report.imported, report.updated) == (STAGED // 2, STAGED // 2)
    assert set(plans) == set(WATCHED)
    bad = {name: quadratic_joins(plan) for name, plan in plans.items() if quadratic_joins(plan)}
    assert bad == {}, json.dumps({name: plans[name] for name in bad}, ensure_ascii=False)[:6000]
