"""No lost updates: two writers holding the same version, on two connections at once — exactly one wins."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import insert_grid_district
from registry.errors import NotFound, StaleVersion
from registry.models import AuditEntry, Project
from registry.projects import create_project, delete_project, update_project
from registry.scope import Scope

BUREAU = Scope(actor="registrar", role="bureau")
ROUNDS = 20


@pytest.fixture
def shared_project(committed, engine) -> int:
    with Session(engine) as session:
        insert_grid_district(session)
        session.commit()
        return create_project(session, scope=BUREAU, actor="registrar", values={
            "code": "2025-370499-01-01-400001", "name": "竞争项目", "domain": "industry", "owner": "某公司",
            "total_investment": 100, "stage": "reserve",
            "geometry": {"type": "Point", "coordinates": [117.05, 35.05]}})["id"]


def race(engine, writers) -> list:
    """Run each writer(session) in its own thread and connection, released together."""
    barrier = threading.Barrier(len(writers))
    outcomes: list = [None] * len(writers)

    def run(i, writer):
        with Session(engine) as session:
            barrier.wait()
            try:
                outcomes[i] = writer(session)
            except (StaleVersion, NotFound) as exc:
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def rename(project_id: int, version: int, name: str):
    return lambda session: update_project(session, project_id, scope=BUREAU, changes={"name": name},
                                          expected_version=version, actor=name)


def test_two_editors_with_the_same_version_exactly_one_wins_every_time(engine, shared_project):
    for round_ in range(ROUNDS):
        with Session(engine) as session:
            version = session.get(Project, shared_project).version
        outcomes = race(engine, [rename(shared_project, version, f"甲{round_}"),
                                 rename(shared_project, version, f"乙{round_}")])
        winners = [o for o in outcomes if isinstance(o, dict)]
        losers = [o for o in outcomes if isinstance(o, StaleVersion)]
        assert (len(winners), len(losers)) == (1, 1), outcomes
        with Session(engine) as session:
            project = session.get(Project, shared_project)
            assert project.version == version + 1 == winners[0]["version"]
            assert project.updated_by == project.name  # the winner's change, whole
    with Session(engine) as session:
        updates = session.scalars(select(AuditEntry).where(AuditEntry.action == "update")).all()
    assert len(updates) == ROUNDS  # the loser left no trace


def test_an_edit_racing_a_delete_with_the_same_version_one_wins(engine, shared_project):
    outcomes = race(engine, [rename(shared_project, 1, "改名"),
                             lambda s: delete_project(s, shared_project, scope=BUREAU, expected_version=1,
                                                      actor="remover")])
    # the loser is told the version is stale, or (the delete won) that the project is gone
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert sum(isinstance(o, (StaleVersion, NotFound)) for o in outcomes) == 1
    with Session(engine) as session:
        assert session.get(Project, shared_project).version == 2
