"""The 12→9-digit town code rule: one function (geo.admin_codes), used by boundaries, accounts and filters."""
from __future__ import annotations

import pytest

from geo.admin_codes import normalise_code, town_code
from registry.accounts import normalise_town_code
from registry.errors import InvalidInput
from registry.filters import ProjectFilters


@pytest.mark.parametrize("written, code", [("370403104000", "370403104"), ("370403104", "370403104"),
                                           (" 370403104 ", "370403104"), (370403104000.0, "370403104")])
def test_a_land_survey_code_is_cut_to_the_town_code(written, code):
    assert town_code(written) == code


def test_digits_after_the_ninth_that_are_not_zeros_are_kept():
    assert town_code("370403104001") == "370403104001"


def test_boundaries_accounts_and_filters_read_a_code_alike():
    assert normalise_code("370403000", 6) == "370403"
    assert normalise_town_code("370403104000") == town_code("370403104000")
    assert ProjectFilters.parse({"town": "370403104000"}).town == "370403104"
    with pytest.raises(InvalidInput, match="9 位数字"):
        normalise_town_code("370403104001")
