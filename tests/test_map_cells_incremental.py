"""The cluster grid counted again only where projects changed (migration 0024): after each kind of
change the grid kept up to date is the grid counted from scratch, row for row (counts and extents
exactly, sums of pixels up to the order of addition), and only the changed projects were counted."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import map_tiles
from registry.map_tiles import CELL_PIXELS, GRID_MAX_ZOOM
from registry.matching import match_projects

INDUSTRY = "2024-370499-01-01-100001"  # 乙镇智能工厂改造, a point in 乙镇
PIPELINE = "2024-370499-01-01-100002"  # 东西燃气管网更新, in the three towns
DELETED = "2024-370499-01-01-100006"  # soft-deleted from the start


def grid(conn) -> dict[tuple, tuple]:
    rows = conn.execute(text("SELECT z, cx, cy, stage, domain_code, coalesce(district_code, ''), array_to_string(towns, ','), "
                             "n, west, south, east, north, sx, sy FROM map_cells")).all()
    keyed = {tuple(r[:7]): tuple(r[7:]) for r in rows}
    assert len(keyed) == len(rows)  # one row per cell and grouping
    return keyed


def from_scratch(engine) -> dict[tuple, tuple]:
    """The grid counted whole at the current data, in a transaction rolled back."""
    with engine.connect() as conn:
        conn.execute(text("DELETE FROM map_cell_state"))  # no bookkeeping: counted whole
        assert conn.execute(text("SELECT eqreg_refresh_map_cells(:z, :c)"), {"z": GRID_MAX_ZOOM, "c": CELL_PIXELS}).scalar_one()
        counted = grid(conn)
        conn.rollback()
    return counted


def recounted(engine) -> set[int]:
    """Count the grid as the app does; the projects whose bookkeeping row was written again."""
    with engine.connect() as conn:
        before = dict(conn.execute(text("SELECT project_id, xmin::text FROM map_cell_projects")).all())
    assert map_tiles.count_grid(engine)
    with engine.connect() as conn:
        after = dict(conn.execute(text("SELECT project_id, xmin::text FROM map_cell_projects")).all())
        assert conn.execute(text("SELECT count(*) FROM map_cell_dirty")).scalar_one() == 0
        assert (conn.execute(text("SELECT epoch, stamp FROM map_cell_state")).one()
                == conn.execute(text("SELECT epoch, stamp FROM registry_changes")).one())
    return {i for i in set(before) | set(after) if before.get(i) != after.get(i)}


def assert_as_from_scratch(engine) -> None:
    with engine.connect() as conn:
        kept = grid(conn)
    whole = from_scratch(engine)
    assert kept.keys() == whole.keys()
    for key, (n, *rest, sx, sy) in kept.items():
        assert (n, *rest) == whole[key][:5], key
        assert (sx, sy) == pytest.approx(whole[key][5:], rel=1e-12, abs=1e-6), key


def change(engine, sql: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def ids_of(web_data, *codes) -> set[int]:
    return {web_data[c] for c in codes}


@pytest.fixture
def counted(web_data, engine):
    recounted(engine)  # whole: no bookkeeping yet
    return web_data


def test_each_kind_of_change_is_counted_again_only_for_its_projects(counted, engine):
    web_data = counted
    change(engine, "UPDATE projects SET stage = 'completed', actual_start = '2024-05-01', actual_end = '2025-01-01' "
                   "WHERE code = :c", c=PIPELINE)
    assert recounted(engine) == ids_of(web_data, PIPELINE)
    assert_as_from_scratch(engine)

    change(engine, "UPDATE projects SET domain_code = 'municipal' WHERE code = :c", c=INDUSTRY)
    assert recounted(engine) == ids_of(web_data, INDUSTRY)
    assert_as_from_scratch(engine)

    # moved from 乙镇 to 甲街道: a new place, a new cell and a new town
    with Session(engine) as session:
        session.execute(text("UPDATE projects SET geom = ST_SetSRID(ST_MakePoint(117.03, 35.06), 4326) WHERE code = :c"),
                        {"c": INDUSTRY})
        match_projects(session, project_ids=[web_data[INDUSTRY]])
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT array_agg(town_code) FROM project_towns WHERE project_id = :i"),
                            {"i": web_data[INDUSTRY]}).scalar_one() == ["370499001"]
    assert recounted(engine) == ids_of(web_data, INDUSTRY)
    assert_as_from_scratch(engine)

    change(engine, "DELETE FROM project_towns WHERE project_id = :i AND town_code = '370499002'", i=web_data[PIPELINE])
    assert recounted(engine) == ids_of(web_data, PIPELINE)
    assert_as_from_scratch(engine)

    change(engine, "UPDATE projects SET deleted_at = now() WHERE code = :c", c=PIPELINE)  # soft delete
    assert recounted(engine) == ids_of(web_data, PIPELINE)
    assert_as_from_scratch(engine)

    change(engine, "UPDATE projects SET deleted_at = NULL WHERE code IN (:a, :b)", a=PIPELINE, b=DELETED)  # restores
    assert recounted(engine) == ids_of(web_data, PIPELINE, DELETED)
    assert_as_from_scratch(engine)

    change(engine, "DELETE FROM projects WHERE code = :c", c=INDUSTRY)  # hard delete (its shares with it)
    assert recounted(engine) == ids_of(web_data, INDUSTRY)
    assert_as_from_scratch(engine)

    change(engine, "UPDATE projects SET name = name || '（改）', total_investment = 9000 WHERE code = :c", c=PIPELINE)
    assert recounted(engine) == set()  # nothing the grid counts: a new stamp, the same grid
    assert_as_from_scratch(engine)


def import_projects(engine, count: int, first: int = 1) -> None:
    """``count`` new projects of 测试区 in one statement, placed along 35.0–35.15 N, matched to towns."""
    with Session(engine) as session:
        ids = session.execute(text("""
            INSERT INTO projects (district_code, code, name, domain_code, category, owner, geom, total_investment, stage)
            SELECT '370499', format('2024-370499-01-01-2%s', lpad(g::text, 5, '0')), '导入的项目' || g, 'industry',
                   '智能化改造', '测试单位', ST_SetSRID(ST_MakePoint(117.0 + g * 0.29 / :n, 34.95 + (g % 7) * 0.02), 4326),
                   10, 'reserve'
            FROM generate_series(:first, :first + :n - 1) g RETURNING id"""), {"n": count, "first": first}).scalars().all()
        match_projects(session, project_ids=ids)
        session.commit()


def test_a_few_new_projects_are_added_and_an_import_is_counted_whole(counted, engine):
    import_projects(engine, 3)
    with engine.connect() as conn:
        new = set(conn.execute(text("SELECT id FROM projects WHERE code LIKE '2024-370499-01-01-2%'")).scalars())
    assert recounted(engine) == new
    assert_as_from_scratch(engine)

    import_projects(engine, 150, first=4)  # more than a hundred changes (and a tenth): counted whole
    with engine.connect() as conn:
        everyone = set(conn.execute(text("SELECT id FROM projects WHERE deleted_at IS NULL")).scalars())
    assert recounted(engine) == everyone
    assert_as_from_scratch(engine)


def test_a_count_from_a_snapshot_older_than_another_count_gives_way(counted, engine):
    change(engine, "UPDATE projects SET stage = 'approval' WHERE code = :c", c=INDUSTRY)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as late:
        late.execute(text("SELECT 1"))  # its snapshot: before the other count
        assert map_tiles.count_grid(engine)
        assert late.execute(text("SELECT eqreg_refresh_map_cells(:z, :c)"),
                            {"z": GRID_MAX_ZOOM, "c": CELL_PIXELS}).scalar_one() is False
        late.rollback()
    assert_as_from_scratch(engine)


def test_a_truncate_or_another_grid_size_counts_whole(counted, engine):
    change(engine, "TRUNCATE project_towns")
    with engine.connect() as conn:
        everyone = set(conn.execute(text("SELECT id FROM projects WHERE deleted_at IS NULL")).scalars())
        assert conn.execute(text("SELECT count(*) FROM map_cell_state")).scalar_one() == 0
    assert recounted(engine) == everyone
    assert_as_from_scratch(engine)
    with engine.begin() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        conn.execute(text("UPDATE map_cell_state SET max_zoom = max_zoom - 1"))
    assert recounted(engine) == everyone
    assert_as_from_scratch(engine)
