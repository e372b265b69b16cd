"""The life-cycle rules of a project's stage (DESIGN §2).

谋划储备 reserve → 前期手续 approval → 在建 construction → 竣工投产 completed, plus
暂缓 suspended (remembers the stage it came from and may only return there, or be cancelled)
and 终止 cancelled (final).

* construction needs an actual start date; completed needs actual start and end dates;
* completing sets the completed investment to at least what was reported before;
* any backward move (e.g. 在建 → 前期手续) needs a reason, which the caller audits.

``apply_stage_rules`` is the one place these rules live: editing, progress reports and forms all
call it, and imports through ``import_row_problems``, row by row. A broken rule raises
``InvalidInput`` with a Chinese message naming the rule and the field (``details``:
``{"field", "rule"}``); an import reports it as a row error of a stable kind (``IMPORT_KINDS``).

One leniency for imports, because departments' sheets often lack it: a missing actual start date
is a warning (``missing_actual_start``), unless the row clears a stored one.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Mapping

from registry.errors import InvalidInput
from registry.import_report import Problem
from registry.template import header_label
from registry.vocab import STAGE_ORDER, STAGES

_RANK = {stage: rank for rank, stage in enumerate(STAGE_ORDER)}
# The dates each stage needs, with their Chinese labels.
REQUIRED_DATES = {"construction": (("actual_start", "实际开工"),),
                  "completed": (("actual_start", "实际开工"), ("actual_end", "实际竣工"))}


@dataclass(frozen=True)
class Transition:
    """What a change did to the stage: ``backward`` moves carry their ``reason``."""
    before: str | None
    after: str
    backward: bool = False
    reason: str | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def label(stage: str | None) -> str:
    """The Chinese name of a stage code."""
    return STAGES.get(stage, (stage or "（无）",))[0]


def _refuse(message: str, field: str, rule: str) -> None:
    raise InvalidInput(message, {"field": field, "rule": rule})


def is_backward(before: str | None, after: str) -> bool:
    """An earlier step of reserve → approval → construction → completed than the current one."""
    return before in _RANK and after in _RANK and _RANK[after] < _RANK[before]


def apply_stage_rules(before: Mapping | None, after: dict, *, reason: str | None = None,
                      reported_completed: Decimal | None = None,
                      start_required: bool = True) -> Transition:
    """Check a project's new state against the stage rules and complete it.

    Parameters
    ----------
    before
        The stored project's values (``stage``, ``stage_before_suspension``, dates,
        ``completed_investment``), or ``None`` for a new project.
    after
        The new values, changed in place: ``stage_before_suspension`` is set or cleared, and
        ``completed_investment`` is raised on completion.
    reason
        Why the stage moves backward (required for such moves).
    reported_completed
        The largest completed investment reported so far (progress reports), in 万元.
    start_required
        ``False`` (imports): a missing actual start is let through unless a stored one is dropped.
    """
    old = before.get("stage") if before else None
    new = after.get("stage")
    if new not in STAGES:
        _refuse(f"未知的项目阶段“{new}”", "stage", "unknown_stage")
    reason = (reason or "").strip() or None

    if old == "cancelled" and new != "cancelled":
        _refuse(f"项目已终止，终止是最终状态，不能再改为“{label(new)}”", "stage", "cancelled_is_final")
    remembered = before.get("stage_before_suspension") if before else None
    if old == "suspended" and new not in ("suspended", "cancelled") and remembered and new != remembered:
        _refuse(f"暂缓的项目只能恢复到暂缓前的阶段“{label(remembered)}”（或终止），不能直接改为“{label(new)}”",
                "stage", "suspended_returns_to_previous")

    if new == "suspended":
        after["stage_before_suspension"] = remembered if old == "suspended" else old
    elif new != "cancelled" or old != "suspended":
        after["stage_before_suspension"] = None
    else:  # cancelled while suspended: keep where it was, for the record
        after["stage_before_suspension"] = remembered

    for field, field_label in REQUIRED_DATES.get(new, ()):
        dropped = before is not None and before.get(field) is not None and after.get(field) is None
        lenient = field == "actual_start" and not start_required and not dropped
        if after.get(field) is None and (new != old or dropped) and not lenient:
            _refuse(f"项目阶段为“{label(new)}”时必须填写{field_label}日期", field,
                    f"{new}_needs_{field}")

    if new == "completed":
        _raise_completed(before, after, reported_completed)

    backward = is_backward(old, new)
    if backward and reason is None:
        _refuse(f"项目阶段由“{label(old)}”退回“{label(new)}”，须填写退回原因", "reason",
                "backward_needs_reason")
    return Transition(before=old, after=new, backward=backward, reason=reason if backward else None)


def _raise_completed(before: Mapping | None, after: dict, reported: Decimal | None) -> None:
    """Completed investment is at least every figure reported so far (never lowered on completion)."""
    figures = [after.get("completed_investment"), reported]
    if before is not None:
        figures.append(before.get("completed_investment"))
    known = [Decimal(str(value)) for value in figures if value is not None]
    if not known:
        return
    highest = max(known)
    total = after.get("total_investment")
    if total is not None and highest > Decimal(str(total)):
        _refuse(f"竣工时已完成投资取已上报的最大值 {highest} 万元，超过总投资 {total} 万元，请先核对总投资",
                "completed_investment", "completed_le_total")
    after["completed_investment"] = highest


# Import report kinds of the rules (DESIGN §4); kinds that existed before the rules moved here keep
# their names.
IMPORT_KINDS = {
    "backward_needs_reason": "stage_backward",
    "cancelled_is_final": "cancelled_is_final",
    "suspended_returns_to_previous": "suspended_returns_to_previous",
    "completed_needs_actual_end": "completed_without_end",
    "completed_needs_actual_start": "missing_actual_start",
    "construction_needs_actual_start": "missing_actual_start",
    "completed_le_total": "completed_gt_total",
}
REASON_COLUMN = "变更原因"


def import_row_problems(before: Mapping | None, after: dict, *, row: int,
                        reason: str | None = None) -> list[Problem]:
    """The stage rules for one imported row, as report problems (``after`` completed in place).

    ``before`` is the stored project (``None`` for a new code); ``reason`` comes from the row's
    变更原因 column. An error rejects the row; ``missing_actual_start`` alone is a warning.
    """
    problems: list[Problem] = []
    stage = after.get("stage")
    if stage in REQUIRED_DATES and after.get("actual_start") is None:
        problems.append(Problem(row, header_label("actual_start"), "missing_actual_start", "warning",
                                f"项目阶段为{label(stage)}，但缺少实际开工日期"))
    try:
        apply_stage_rules(before, after, reason=reason, start_required=False)
    except InvalidInput as exc:
        field, rule = exc.details["field"], exc.details["rule"]
        message = exc.message
        if rule == "backward_needs_reason":
            field, message = "stage_reason", message + f"（在“{REASON_COLUMN}”列填写）"
        problems = [p for p in problems if p.kind != IMPORT_KINDS.get(rule)]
        problems.append(Problem(row, header_label(field), IMPORT_KINDS.get(rule, rule), "error", message))
    return problems
