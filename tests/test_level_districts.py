"""Which districts a province, city or district holds (``registry.level_districts``): one
function, and the roll-up's exports per level, its district count and the city and province
targets all take their districts from it.

Districts: 测试区 370499 and 邻区 370498 in city 3704, 远区 371599 in city 3715, all in province
37, and a zone ``tzone`` inside 测试区 (its own district row, city and province of its parent).
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from conftest import insert_grid_district, insert_other_districts
from registry import rollup, target_levels
from registry.errors import NotFound
from registry.level_districts import districts_of
from registry.roles import Role
from registry.scope import Scope


@pytest.fixture
def districts(db):
    insert_grid_district(db)
    insert_other_districts(db)
    db.execute(text("INSERT INTO districts (code, name, parent_code, city_code, province_code) "
                    "VALUES ('tzone', '测试度假区', '370499', '3704', '37')"))
    return db


def test_each_level_maps_to_its_districts_in_code_order(districts):
    assert districts_of(districts) == {"3704": ["370498", "370499", "tzone"], "3715": ["371599"],
                                       "37": ["370498", "370499", "371599", "tzone"]}
    assert districts_of(districts, ("province",)) == {"37": ["370498", "370499", "371599", "tzone"]}
    assert districts_of(districts, ("district",), code="370499") == {"370499": ["370499"]}
    assert districts_of(districts, ("city",), code="3715") == {"3715": ["371599"]}
    assert districts_of(districts, ("city",), code="3799") == {}
    # a scope's districts: only those of the level it may see
    assert districts_of(districts, ("province",), code="37", within=frozenset({"371599", "370403"})) == {
        "37": ["371599"]}
    assert districts_of(districts, ("city",), code="3704", within=frozenset()) == {}


def test_the_rollup_and_the_targets_ask_the_same_function(districts):
    bureau = Scope(actor="b", role=Role.BUREAU, district_codes=frozenset({"370499", "371599"}))
    for level, code in (("province", "37"), ("city", "3704"), ("city", "3715"), ("district", "370498")):
        place = rollup.Jurisdiction(level, code)
        everything = districts_of(districts, (level,), code=code)[code]
        assert rollup.districts_present(districts, place) == len(everything)
        assert rollup.narrowed_scope(districts, Scope.system(), place).district_codes == frozenset(everything)
        seen = districts_of(districts, (level,), code=code, within=bureau.district_codes)
        if seen:
            assert rollup.narrowed_scope(districts, bureau, place).district_codes == frozenset(seen[code])
        else:
            with pytest.raises(NotFound):
                rollup.narrowed_scope(districts, bureau, place)
    assert target_levels.districts_by_level(districts) == districts_of(districts, ("city", "province"))
