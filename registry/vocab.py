"""Controlled vocabulary (DESIGN §2): codes are stored, labels are shown — from here only.

The one source of codes and their (中文, English) labels for lists, figures, exports, forms and the
import template: domains, stages, funding sources, problem kinds and the plan targets' statuses,
metrics and windows. The ``domains`` and ``funding_sources`` tables mirror the domains and funding
sources for SQL (seeded by the first migration; ``tests/test_vocabulary.py`` holds them equal).
"""
from __future__ import annotations

from typing import Mapping

from geo.crs_names import CRS_NAMES, crs_code  # noqa: F401  (the CRS names live in geo)

DOMAINS: dict[str, tuple[str, str, list[str]]] = {
    # code: (中文, English, example categories)
    "industry": ("工业", "Industry", ["技术改造", "智能化改造", "节能降碳", "节水改造", "检验检测"]),
    "agriculture": ("农业", "Agriculture", ["农机更新", "粮食烘干", "设施农业", "冷链保鲜"]),
    "transport": ("交通运输", "Transport", ["新能源公交", "新能源出租", "充电设施", "柴油货车淘汰"]),
    "building": ("建筑", "Building", ["住宅电梯", "供热计量", "建筑节能", "工程机械"]),
    "municipal": ("市政基础设施", "Municipal infrastructure",
                  ["燃气管网", "供热管网", "供水设施", "污水处理", "排水防涝", "生命线感知", "环卫设施", "视频监控"]),
    "education": ("教育", "Education", ["实训设备", "教学设备"]),
    "culture_tourism": ("文旅", "Culture & tourism", ["游乐设备", "演艺设备", "智慧旅游", "广电影视"]),
    "sports": ("体育", "Sports", ["健身设施"]),
    "medical": ("医疗卫生", "Medical & health", ["医学影像", "检验设备", "村卫生室", "病房改造", "中医诊疗"]),
    "recycling": ("循环利用", "Recycling", ["回收网点", "报废汽车拆解", "动力电池", "再制造", "二手市场"]),
}

STAGES: dict[str, tuple[str, str]] = {
    "reserve": ("谋划储备", "Planning reserve"),
    "approval": ("前期手续", "Approval"),
    "construction": ("在建", "Under construction"),
    "completed": ("竣工投产", "Completed"),
    "suspended": ("暂缓", "Suspended"),
    "cancelled": ("终止", "Cancelled"),
}
STAGE_ORDER = ["reserve", "approval", "construction", "completed"]

FUNDING_SOURCES: dict[str, tuple[str, str]] = {
    # code: (中文, English)
    "ultra_long_bonds": ("超长期特别国债", "Ultra-long special treasury bonds"),
    "central_budget": ("中央预算内投资", "Central budget investment"),
    "special_bonds": ("地方政府专项债券", "Local government special bonds"),
    "fiscal_subsidy": ("财政补贴", "Fiscal subsidy"),
    "relending_interest": ("再贷款贴息", "Relending interest subsidy"),
    "bank_loan": ("银行贷款", "Bank loan"),
    "self_raised": ("企业自筹", "Self-raised"),
    "other": ("其他", "Other"),
}

# Plan targets (DESIGN §5a): how far a target is, what it measures, over which window.
TARGET_STATUSES: dict[str, tuple[str, str]] = {
    "done": ("已完成", "Done"), "on_track": ("进度正常", "On track"), "behind": ("滞后", "Behind"),
    "overdue": ("已逾期", "Overdue"), "needs_baseline": ("待录入基数", "Needs baseline"),
    "no_data": ("暂无数据", "No data"),
}
TARGET_METRICS: dict[str, tuple[str, str]] = {
    "count": ("项目个数", "Number of projects"),
    "sum_total_investment": ("总投资合计", "Total investment"),
    "sum_equipment_investment": ("设备投资合计", "Equipment investment"),
    "sum_completed_investment": ("已完成投资合计", "Completed investment"),
    "sum_quantity": ("数量合计", "Quantity"), "sum_length_km": ("长度合计", "Length"),
    "growth_vs_baseline": ("设备投资增长率", "Growth of equipment investment"),
    "reported": ("手工填报", "Entered by hand"),
}
TARGET_WINDOWS: dict[str, tuple[str, str]] = {"cumulative": ("累计", "Cumulative"), "per_year": ("每年", "Each year")}
# The jurisdictions a target file names (registry.targets): the kind follows from the code.
TARGET_LEVELS: dict[str, tuple[str, str]] = {"district": ("区县", "District"), "zone": ("功能区", "Zone"),
                                             "city": ("地市", "City"), "province": ("省", "Province")}
# Why a city's or province's target shows no 区县合计 (registry.target_levels).
TARGET_SUM_REASONS: dict[str, tuple[str, str]] = {
    "ratio": ("增长率不能相加", "A growth rate is never summed"),
    "percent": ("比例不能相加", "A ratio is never summed"),
    "no_unit": ("手工填报的指标未注明计量单位，可能是比例，不相加",
                "A target entered by hand without a unit may be a ratio: not summed"),
}


def label(entries: Mapping[str, tuple[str, ...] | str], code: str | None, language: str = "zh") -> str:
    """The label of ``code`` in a vocabulary of (中文, English, …) entries — or of plain Chinese
    labels — in ``language`` (``zh`` or ``en``); the code itself when it has none."""
    entry = entries.get(code or "")
    if entry is None:
        return code or ""
    if isinstance(entry, str):
        return entry
    return entry[1] if language == "en" else entry[0]


def choices(entries: Mapping[str, tuple[str, ...]], language: str = "zh") -> list[tuple[str, str]]:
    """``(code, label)`` of every entry in order, for the menus of forms and filters."""
    return [(code, label(entries, code, language)) for code in entries]


def label_index(entries: Mapping[str, tuple[str, ...] | str]) -> dict[str, str]:
    """Map every code and label (and their lower-case forms) to the code."""
    index: dict[str, str] = {}
    for code, labels in entries.items():
        for label in (code, *((labels,) if isinstance(labels, str) else labels)):
            if isinstance(label, str):
                index[label] = code
                index[label.lower()] = code
    return index


# Names people write in spreadsheets and reports besides the official labels.
_STAGE_ALIASES = {"储备": "reserve", "谋划": "reserve", "前期": "approval", "手续办理": "approval",
                  "开工建设": "construction", "建设中": "construction", "已开工": "construction",
                  "竣工": "completed", "已竣工": "completed", "投产": "completed", "已投产": "completed",
                  "暂停": "suspended", "取消": "cancelled", "已终止": "cancelled"}
DOMAIN_INDEX = label_index({code: (zh, en) for code, (zh, en, _) in DOMAINS.items()})
FUNDING_INDEX = label_index(FUNDING_SOURCES)
STAGE_INDEX = {**label_index(STAGES), **_STAGE_ALIASES}


def code_of(index: Mapping[str, str], value: str | None) -> str | None:
    """The code ``value`` names in a ``label_index`` (code or label, any case); None if unknown."""
    if value is None:
        return None
    text = value.strip()
    return index.get(text) or index.get(text.lower())


def domain_code(value: str | None) -> str | None:
    """The seed domain code for a code or label (中文 or English), or None."""
    return code_of(DOMAIN_INDEX, value)


def stage_code(value: str | None) -> str | None:
    """The stage code for a code, label or common alias (``在建``, ``已开工`` …), or None."""
    return code_of(STAGE_INDEX, value)


# Import/validation problem kinds (DESIGN §4): the stable English ``kind`` → (中文, English) label
# for people (the web table in the UI language, the XLSX report, the CLI text); reports keep the
# kind itself for programs (docs/import.md lists them).
PROBLEM_KINDS: dict[str, tuple[str, str]] = {
    "missing_code": ("缺少项目代码", "Missing project code"),
    "bad_code": ("项目代码格式不对", "Malformed project code"),
    "duplicate_code": ("项目代码重复", "Duplicate project code"),
    "missing_name": ("缺少项目名称", "Missing project name"),
    "missing_value": ("缺少必填项", "Missing required value"),
    "missing_geometry": ("缺少位置", "Missing location"),
    "bad_wkt": ("几何WKT 无效", "Invalid WKT geometry"),
    "bad_coordinates": ("坐标超出范围", "Coordinates out of range"),
    "swapped_coords": ("经纬度填反", "Longitude and latitude swapped"),
    "outside_jurisdiction": ("不在本行政区内", "Outside the district"),
    "bad_number": ("数字无效", "Invalid number"),
    "negative_investment": ("投资为负数", "Negative investment"),
    "equip_gt_total": ("设备投资大于总投资", "Equipment investment above total"),
    "completed_gt_total": ("已完成投资大于总投资", "Completed investment above total"),
    "unknown_domain": ("未知领域", "Unknown domain"),
    "unknown_stage": ("未知项目阶段", "Unknown stage"),
    "unknown_crs": ("不支持的坐标系", "Unsupported coordinate system"),
    "bad_date": ("日期无效", "Invalid date"),
    "end_before_start": ("竣工早于开工", "End before start"),
    "completed_without_end": ("已竣工但缺少实际竣工日期", "Completed without an end date"),
    "deleted_project": ("项目已删除", "Deleted project"),
    "code_of_other_district": ("代码已在其他区县登记", "Code registered in another district"),
    "edit_conflict": ("项目已被他人修改", "Edited by someone else meanwhile"),
    "stage_backward": ("阶段退回缺少原因", "Stage moved back without a reason"),
    "cancelled_is_final": ("已取消的项目不能恢复", "A cancelled project stays cancelled"),
    "suspended_returns_to_previous": ("停缓建只能恢复到原阶段", "A suspended project returns to its previous stage"),
    "missing_actual_start": ("缺少实际开工日期", "Missing actual start"),
    "bad_credit_code": ("统一社会信用代码有误", "Invalid credit code"),
    "town_mismatch": ("所属镇街与位置不符", "Declared town differs from the location"),
    "unknown_town": ("未知镇街", "Unknown town"),
    "no_town": ("不在任何镇街内", "In no town"),
    "unknown_funding": ("未知资金来源", "Unknown funding source"),
    "bad_flag": ("是/否填写有误", "Invalid yes/no value"),
    "geometry_repaired": ("几何已自动修复", "Geometry repaired"),
    "will_clear": ("将清空已有值", "Will clear a stored value"),
    "partly_outside": ("部分在本行政区外", "Partly outside the district"),
    "unknown_column": ("无法识别的列", "Unknown column"),
    "duplicate_column": ("重复的列", "Duplicate column"),
}
