#!/usr/bin/env python
"""Compare an import of the 薛城区 sample with its answers (manual acceptance check).

    eqreg boundaries load ../shared/samples/xuecheng/towns.geojson --level town --parent 370403
    eqreg projects import ../shared/samples/xuecheng/projects.xlsx --report r.json
    eqreg projects export --format geojson -o out.geojson
    python scripts/check_sample.py --report r.json --export out.geojson

Checks: every bad row rejected with its kind at its row; warnings at their rows; no valid row
rejected; each valid project in the database with the right primary town; line/polygon shares
within 0.02; with --export, each exported feature's geometry within 1 m of the answer's WGS84
geometry (every vertex, measured geodesically), its town_code and its towns' shares. Prints a summary; exits 1 on any mismatch. Uses DATABASE_URL like ``eqreg``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text

from registry import db as registry_db

DEFAULT_ANSWERS = Path(__file__).resolve().parents[1].parent / "shared/samples/xuecheng/answers.json"
SHARE_TOLERANCE = 0.02
GEOMETRY_TOLERANCE_M = 1.0
CHECKED_WARNINGS = {"bad_credit_code", "town_mismatch", "unknown_town"}


def check_report(answers: list[dict], report: dict) -> list[str]:
    """Mismatches between the answers' row status/kind and the report's problems."""
    errors, warnings = defaultdict(set), defaultdict(set)
    for problem in report["problems"]:
        (errors if problem["severity"] == "error" else warnings)[problem["row"]].add(problem["kind"])
    mismatches = []
    for answer in answers:
        row, kind = answer["row"], answer.get("kind")
        if answer["status"] == "error":
            if kind not in errors[row]:
                mismatches.append(f"第 {row} 行应报错 {kind}，实际：{sorted(errors[row]) or '未拒绝'}")
            continue
        if errors[row]:
            mismatches.append(f"第 {row} 行是有效行却被拒绝：{sorted(errors[row])}")
        if kind and kind not in warnings[row]:
            mismatches.append(f"第 {row} 行应有警告 {kind}，实际：{sorted(warnings[row]) or '无'}")
        for extra in (warnings[row] & CHECKED_WARNINGS) - {kind}:
            mismatches.append(f"第 {row} 行多出警告 {extra}")
    expected_rejected = sum(1 for a in answers if a["status"] == "error")
    if report["rejected"] != expected_rejected:
        mismatches.append(f"拒绝行数 {report['rejected']}，应为 {expected_rejected}")
    return mismatches


def check_database(answers: list[dict]) -> list[str]:
    """Mismatches in the stored projects: presence, primary town, shares."""
    engine = registry_db.make_engine()
    with engine.connect() as conn:
        primary = dict(conn.execute(text("SELECT code, primary_town_code FROM projects")).all())
        shares = defaultdict(dict)
        for code, town, share in conn.execute(text(
                "SELECT p.code, pt.town_code, pt.share FROM project_towns pt "
                "JOIN projects p ON p.id = pt.project_id")):
            shares[code][town] = share
    engine.dispose()
    mismatches = []
    for answer in answers:
        code, row = answer["code"], answer["row"]
        if answer["status"] != "ok":
            if answer.get("kind") != "duplicate_code" and code in primary:
                mismatches.append(f"第 {row} 行（{code}）应被拒绝，却在库中")
            continue
        if code not in primary:
            mismatches.append(f"第 {row} 行（{code}）不在库中")
            continue
        if primary[code] != answer["town"]:
            mismatches.append(f"第 {row} 行主镇街 {primary[code]}，应为 {answer['town']}")
        for town, share in (answer.get("town_shares") or {}).items():
            got = shares[code].get(town, 0.0)
            if abs(got - share) > SHARE_TOLERANCE:
                mismatches.append(f"第 {row} 行 {town} 份额 {got:.4f}，应为 {share:.4f}")
    return mismatches


def vertex_distance_m(got: dict, expected: dict) -> float:
    """Largest geodesic distance in metres between corresponding vertices (inf if shapes differ)."""
    import shapely
    from pyproj import Geod

    a = shapely.get_coordinates(shapely.geometry.shape(got))
    b = shapely.get_coordinates(shapely.geometry.shape(expected))
    if got["type"] != expected["type"] or a.shape != b.shape:
        return float("inf")
    _, _, dist = Geod(ellps="WGS84").inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    return float(max(dist))


def check_export(answers: list[dict], export: dict) -> list[str]:
    """Mismatches in the GeoJSON export: geometry, primary town, town shares."""
    features = {f["properties"]["code"]: f for f in export["features"]}
    mismatches = []
    for answer in answers:
        if answer["status"] != "ok":
            continue
        row, feature = answer["row"], features.get(answer["code"])
        if feature is None:
            mismatches.append(f"第 {row} 行（{answer['code']}）不在导出文件中")
            continue
        props = feature["properties"]
        distance = vertex_distance_m(feature["geometry"], answer["wgs84"])
        if distance > GEOMETRY_TOLERANCE_M:
            mismatches.append(f"第 {row} 行导出几何偏差 {distance:.2f} 米，超过 {GEOMETRY_TOLERANCE_M} 米")
        if props["town_code"] != answer["town"]:
            mismatches.append(f"第 {row} 行导出 town_code {props['town_code']}，应为 {answer['town']}")
        exported = {t["code"]: t["share"] for t in props["towns"]}
        for town, share in (answer.get("town_shares") or {answer["town"]: 1.0}).items():
            if abs(exported.get(town, 0.0) - share) > SHARE_TOLERANCE:
                mismatches.append(f"第 {row} 行导出 {town} 份额 {exported.get(town, 0.0):.4f}，应为 {share:.4f}")
    return mismatches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=Path, default=DEFAULT_ANSWERS)
    parser.add_argument("--report", type=Path, default=Path("r.json"))
    parser.add_argument("--export", type=Path, help="GeoJSON from eqreg projects export to check too")
    args = parser.parse_args()
    answers = json.loads(args.answers.read_text(encoding="utf-8"))["rows"]
    report = json.loads(args.report.read_text(encoding="utf-8"))
    mismatches = check_report(answers, report) + check_database(answers)
    if args.export:
        mismatches += check_export(answers, json.loads(args.export.read_text(encoding="utf-8")))
    ok = sum(1 for a in answers if a["status"] == "ok")
    print(f"样例 {len(answers)} 行（有效 {ok}，错误 {len(answers) - ok}）；报告：新增 {report['imported']}、"
          f"更新 {report['updated']}、未变 {report.get('unchanged', 0)}、拒绝 {report['rejected']}")
    for mismatch in mismatches:
        print("  不符：" + mismatch)
    print("全部相符" if not mismatches else f"共 {len(mismatches)} 处不符")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
