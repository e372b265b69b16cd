"""The life-cycle rules of DESIGN §2, one rule per test (registry.lifecycle)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from registry.errors import InvalidInput
from registry.lifecycle import apply_stage_rules, is_backward

START, END = dt.date(2025, 3, 1), dt.date(2025, 9, 30)


def state(stage, **values):
    return {"stage": stage, "stage_before_suspension": None, "actual_start": None, "actual_end": None,
            "completed_investment": None, "total_investment": Decimal(1000), **values}


def refused(before, after, **kwargs) -> dict:
    with pytest.raises(InvalidInput) as caught:
        apply_stage_rules(before, after, **kwargs)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.message)
    return caught.value.details


@pytest.mark.parametrize("old, new", [("reserve", "approval"), ("approval", "construction"),
                                      ("construction", "completed"), ("reserve", "construction")])
def test_forward_moves_need_no_reason(old, new):
    transition = apply_stage_rules(state(old), state(new, actual_start=START, actual_end=END))
    assert (transition.before, transition.after, transition.backward) == (old, new, False)


def test_construction_needs_an_actual_start():
    details = refused(state("approval"), state("construction"))
    assert details == {"field": "actual_start", "rule": "construction_needs_actual_start"}


def test_a_new_project_under_construction_needs_an_actual_start():
    assert refused(None, state("construction"))["field"] == "actual_start"


@pytest.mark.parametrize("missing", ["actual_start", "actual_end"])
def test_completed_needs_actual_start_and_end(missing):
    dates = {"actual_start": START, "actual_end": END}
    dates[missing] = None
    details = refused(state("construction", actual_start=START), state("completed", **dates))
    assert details == {"field": missing, "rule": f"completed_needs_{missing}"}


def test_clearing_the_start_of_a_project_under_construction_is_refused():
    before = state("construction", actual_start=START)
    assert refused(before, state("construction"))["field"] == "actual_start"


def test_other_edits_of_an_old_project_missing_its_start_date_are_allowed():
    # imported rows may lack the date (a warning then); the rule bites when the stage changes
    apply_stage_rules(state("construction"), state("construction", completed_investment=Decimal(5)))


def test_completion_raises_completed_investment_to_what_was_reported():
    after = state("completed", actual_start=START, actual_end=END, completed_investment=Decimal(300))
    apply_stage_rules(state("construction", actual_start=START, completed_investment=Decimal(400)),
                      after, reported_completed=Decimal(650))
    assert after["completed_investment"] == Decimal(650)


def test_completion_keeps_a_higher_new_figure():
    after = state("completed", actual_start=START, actual_end=END, completed_investment=Decimal(900))
    apply_stage_rules(state("construction", actual_start=START, completed_investment=Decimal(400)),
                      after, reported_completed=Decimal(650))
    assert after["completed_investment"] == Decimal(900)


def test_completion_never_invents_a_figure():
    after = state("completed", actual_start=START, actual_end=END)
    apply_stage_rules(state("construction", actual_start=START), after)
    assert after["completed_investment"] is None


def test_completion_refuses_a_reported_figure_above_the_total():
    after = state("completed", actual_start=START, actual_end=END, total_investment=Decimal(500))
    details = refused(state("construction", actual_start=START), after, reported_completed=Decimal(600))
    assert details["rule"] == "completed_le_total"


@pytest.mark.parametrize("old, new", [("approval", "reserve"), ("construction", "approval"),
                                      ("completed", "construction"), ("completed", "reserve")])
def test_backward_moves_need_a_reason(old, new):
    before = state(old, actual_start=START, actual_end=END)
    after = state(new, actual_start=START, actual_end=END)
    assert refused(before, after) == {"field": "reason", "rule": "backward_needs_reason"}
    assert refused(before, dict(after), reason="   ")["rule"] == "backward_needs_reason"
    transition = apply_stage_rules(before, after, reason="手续被退回")
    assert transition.backward and transition.reason == "手续被退回"


def test_is_backward_only_along_the_main_line():
    assert is_backward("construction", "reserve")
    assert not is_backward("suspended", "reserve") and not is_backward("reserve", "suspended")


def test_suspension_remembers_the_stage():
    after = state("suspended")
    apply_stage_rules(state("construction", actual_start=START), after)
    assert after["stage_before_suspension"] == "construction"


def test_staying_suspended_keeps_the_remembered_stage():
    after = state("suspended")
    apply_stage_rules(state("suspended", stage_before_suspension="approval"), after)
    assert after["stage_before_suspension"] == "approval"


def test_resuming_returns_to_the_remembered_stage_and_forgets_it():
    after = state("construction", actual_start=START)
    transition = apply_stage_rules(state("suspended", stage_before_suspension="construction",
                                         actual_start=START), after)
    assert after["stage_before_suspension"] is None and not transition.backward


@pytest.mark.parametrize("target", ["reserve", "completed", "approval"])
def test_resuming_to_another_stage_is_refused(target):
    before = state("suspended", stage_before_suspension="construction", actual_start=START)
    details = refused(before, state(target, actual_start=START, actual_end=END), reason="x")
    assert details == {"field": "stage", "rule": "suspended_returns_to_previous"}


def test_a_suspended_project_may_be_cancelled():
    after = state("cancelled")
    apply_stage_rules(state("suspended", stage_before_suspension="approval"), after)
    assert after["stage"] == "cancelled"


@pytest.mark.parametrize("target", ["reserve", "approval", "construction", "completed", "suspended"])
def test_cancelled_is_final(target):
    after = state(target, actual_start=START, actual_end=END)
    details = refused(state("cancelled"), after, reason="重新启动")
    assert details == {"field": "stage", "rule": "cancelled_is_final"}


def test_unknown_stage_is_refused():
    assert refused(state("reserve"), state("started"))["rule"] == "unknown_stage"
