"""Town menus on pages of several districts are grouped by district (``<optgroup label="邻区">``):
the project list, the export page, the not-reported list, the project form's town list and the
user admin's town pickers. One district's towns stay a plain list.

Districts: 测试区 370499 (甲街道, 乙镇, 丙镇), 邻区 370498 and 远区 371599 (two towns each).
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from conftest import insert_other_districts
from registry import browse
from registry.roles import Role
from registry.scope import Scope
from web.api import response_cache


@pytest.fixture
def three_districts(web_data, engine):
    with Session(engine) as session:
        insert_other_districts(session)
        session.commit()
    response_cache.clear()


def town_menu(html: str, name: str = "town") -> str:
    return re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)


def groups(menu: str) -> list[tuple[str, list[str]]]:
    """``[(district label, [town codes])]`` of a menu's optgroups, in order."""
    return [(label, re.findall(r'<option value="(\d+)"', body))
            for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', menu, re.S)]


GROUPED = [("邻区", ["370498001", "370498002"]), ("测试区", ["370499001", "370499002", "370499003"]),
           ("远区", ["371599001", "371599002"])]


def test_town_groups_follow_the_scope(three_districts, db):
    everything = browse.town_groups(db, Scope.system())
    assert [(name, [c for c, _ in towns]) for _code, name, towns in everything] == GROUPED
    two = Scope(actor="b", role=Role.BUREAU, district_codes=frozenset({"370499", "371599"}))
    assert [code for code, _n, _t in browse.town_groups(db, two)] == ["370499", "371599"]
    assert browse.visible_towns(db, two) == [t for _c, _n, towns in browse.town_groups(db, two) for t in towns]


@pytest.mark.parametrize("path", ["/projects", "/export", "/progress/missing"])
def test_menus_of_several_districts_are_grouped(three_districts, client_for, path):
    html = client_for("bureau").get(path).get_data(as_text=True)
    menu = town_menu(html)
    assert groups(menu) == GROUPED
    assert menu.count("<option") == 1 + 7  # "All" and every town once


def test_the_chosen_town_stays_chosen_in_its_group(three_districts, client_for):
    menu = town_menu(client_for("bureau").get("/projects?town=371599002").get_data(as_text=True))
    assert re.search(r'<optgroup label="远区">.*<option value="371599002" selected>远区2镇</option>', menu, re.S)


def test_a_bureau_of_two_districts_sees_its_two_groups(three_districts, client_for):
    client = client_for("bureau", districts=["370499", "370498"])
    assert groups(town_menu(client.get("/projects").get_data(as_text=True))) == GROUPED[:2]


def test_one_districts_towns_stay_a_plain_list(web_data, client_for):
    menu = town_menu(client_for("bureau").get("/projects").get_data(as_text=True))
    assert "<optgroup" not in menu
    assert re.findall(r'<option value="(\d+)"', menu) == ["370499001", "370499002", "370499003"]


def test_the_form_and_the_admin_pickers_name_the_district(three_districts, client_for):
    form = client_for("bureau").get("/projects/new").get_data(as_text=True)
    assert '<option value="远区1镇">远区 · 371599001</option>' in form
    admin = client_for("admin").get("/admin/users").get_data(as_text=True)
    picker = town_menu(admin, "towns")
    assert groups(picker) == GROUPED and "远区2镇（371599002）" in picker
