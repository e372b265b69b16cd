"""Recompute the plan targets of one district from the raw spreadsheet rows (DESIGN §5a) and
compare them with ``eqreg targets report --format json``.

Independent of registry.target_*: geometry comes from the answers file (WGS84, per row), lengths
are clipped to the town boundaries with shapely and measured on the WGS84 ellipsoid with pyproj.
Counts and quantities must be exact, km and 万元 within 0.5 %. Exit code 1 on any difference.

    python scripts/check_targets.py --csv projects.csv --answers answers.json --towns towns.geojson \
        --targets seed-targets.yaml --report report.json --as-of 2025-06-30 --district 370403
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
import sys

import shapely
import yaml
from pyproj import Geod
from shapely.geometry import shape

from registry.vocab import domain_code, stage_code

GEOD = Geod(ellps="WGS84")
KM_UNITS = {"公里", "千米", "km"}


def parse_date(text: str) -> dt.date | None:
    match = re.match(r"^(\d{4})[-/.年](\d{1,2})(?:[-/.月](\d{1,2}))?", (text or "").strip())
    return dt.date(int(match[1]), int(match[2]), int(match[3] or 1)) if match else None


def number(text: str) -> float | None:
    text = (text or "").replace(",", "").strip()
    try:
        return float(text)
    except ValueError:
        return None


def units(unit: str | None) -> set[str]:
    text = (unit or "").strip().replace("(", "（").replace(")", "）")
    match = re.fullmatch(r"(.+?)（(.+?)）", text)
    return {text, match[1], match[2]} if match else ({text} if text else set())


def load_projects(csv_path, answers_path, towns_path) -> list[dict]:
    answers = {r["row"]: r for r in json.load(open(answers_path, encoding="utf-8"))["rows"] if r["status"] == "ok"}
    towns = {f["properties"]["code"]: shape(f["geometry"])
             for f in json.load(open(towns_path, encoding="utf-8"))["features"]}
    out = []
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle), start=2):
            answer = answers.get(n)
            if answer is None:
                continue
            geometry = shape(answer["wgs84"])
            shares = answer.get("town_shares") or {answer["town"]: 1.0}
            km = {}
            if geometry.geom_type in ("LineString", "MultiLineString"):
                for code, town in towns.items():
                    piece = shapely.intersection(geometry, town)
                    if not piece.is_empty:
                        km[code] = GEOD.geometry_length(piece) / 1000
            out.append({"domain": domain_code(row["领域"]), "category": row["子类"].strip(),
                        "stage": stage_code(row["项目阶段"]), "total": number(row["总投资（万元）"]) or 0,
                        "equipment": number(row["设备投资（万元）"]) or 0,
                        "completed": number(row["已完成投资（万元）"]) or 0,
                        "quantity": number(row["数量"]), "unit": row["计量单位"].strip() or None,
                        "start": parse_date(row["实际开工"]), "end": parse_date(row["实际竣工"]),
                        "shares": shares, "primary": max(sorted(shares), key=lambda c: shares[c]),
                        "km": km, "line": bool(km) or geometry.geom_type.endswith("LineString")})
    return out


def expected(target: dict, projects: list[dict], as_of: dt.date) -> dict | None:
    metric, flt = target["metric"], target.get("filter") or {}
    if metric == "reported":
        return None
    listify = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    domains = {domain_code(d) for d in listify(flt["domain"])} if flt.get("domain") else None
    categories = set(listify(flt["category"])) if flt.get("category") else None
    default = ["竣工投产"] if metric in ("sum_quantity", "sum_length_km") else ["在建", "竣工投产"]
    stages = {stage_code(s) for s in flt.get("stages") or default}
    deadline = target["deadline"]
    if metric == "growth_vs_baseline":
        year = min(deadline.year, as_of.year)
        spans = [(year, dt.date(year, 1, 1), min(dt.date(year, 12, 31), as_of))]
    elif target.get("window") == "per_year":
        spans = [(y, dt.date(y, 1, 1), min(dt.date(y, 12, 31), as_of)) for y in range(2024, min(deadline.year, as_of.year) + 1)]
    else:
        spans = [(None, dt.date(2024, 1, 1), min(deadline, as_of))]
    totals = {s[0]: 0.0 for s in spans}
    undated = mismatch = unmeasured = 0
    for p in projects:
        if domains and p["domain"] not in domains or categories and p["category"] not in categories:
            continue
        if flt.get("min_total_investment") is not None and p["total"] < flt["min_total_investment"]:
            continue
        if p["stage"] not in stages:
            continue
        date = p["end"] if stages == {"completed"} else p["start"]
        if date is None:
            undated += 1
            continue
        span = next((s for s in spans if s[1] <= date <= s[2]), None)
        if span is None:
            continue
        if metric == "count":
            amount = 1
        elif metric in ("sum_total_investment", "sum_equipment_investment", "sum_completed_investment",
                        "growth_vs_baseline"):
            amount = p[{"sum_total_investment": "total", "sum_completed_investment": "completed"}.get(metric, "equipment")]
        elif metric == "sum_quantity":
            if target.get("unit") and not units(target["unit"]) & units(p["unit"]):
                mismatch += 1
                continue
            if p["quantity"] is None:
                unmeasured += 1
                continue
            amount = p["quantity"]
        else:  # sum_length_km
            if p["line"]:
                amount = sum(p["km"].values())
            elif p["quantity"] is not None and p["unit"] in KM_UNITS:
                amount = p["quantity"]
            else:
                unmeasured += 1
                continue
        totals[span[0]] += amount
    value = totals[spans[-1][0]] if spans else 0.0
    out = {"value": value, "undated": undated, "unit_mismatch": mismatch, "unmeasured": unmeasured}
    if target.get("window") == "per_year" and metric != "growth_vs_baseline":
        out["years"] = {str(k): v for k, v in totals.items()}
    return out


def close(metric: str, want: float, got: float | None) -> bool:
    if got is None:
        return False
    if metric == "growth_vs_baseline":
        return abs(want - got) <= 0.0001 + 0.005 * abs(want + 1)
    if metric in ("count", "sum_quantity"):
        return abs(want - got) < 1e-6
    return abs(want - got) <= max(0.005 * abs(want), 0.011)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("csv", "answers", "towns", "targets", "report", "as-of", "district"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--baseline", action="append", default=[], metavar="ID=VALUE",
                        help="the baseline entered for a growth target")
    args = parser.parse_args()
    baselines = {k: float(v) for k, v in (b.split("=", 1) for b in args.baseline)}
    as_of = dt.date.fromisoformat(args.as_of)
    projects = load_projects(args.csv, args.answers, args.towns)
    plan = yaml.safe_load(open(args.targets, encoding="utf-8"))
    report = {t["id"]: t for t in json.load(open(args.report, encoding="utf-8"))["targets"]}
    failures = checked = 0
    for jurisdiction in plan["jurisdictions"]:
        if str(jurisdiction["code"]) != args.district:
            continue
        for target in jurisdiction["targets"]:
            want = expected(target, projects, as_of)
            got = report.get(target["id"])
            if want is None or got is None or got["status"] == "needs_baseline":
                continue
            if target["metric"] == "growth_vs_baseline":
                want["value"] = want["value"] / baselines[target["id"]] - 1
            checked += 1
            problems = []
            if not close(target["metric"], want["value"], got["value"]):
                problems.append(f"value {got['value']} ≠ {want['value']:.4f}")
            for key in ("undated", "unit_mismatch", "unmeasured"):
                if want[key] != got[key]:
                    problems.append(f"{key} {got[key]} ≠ {want[key]}")
            for year, value in (want.get("years") or {}).items():
                if not close(target["metric"], value, (got.get("years") or {}).get(year)):
                    problems.append(f"{year} {got.get('years')} ≠ {value}")
            print(("FAIL " if problems else "ok   ") + target["id"] + ("：" + "；".join(problems) if problems else ""))
            failures += bool(problems)
    print(f"{checked} targets checked, {failures} differ")
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
