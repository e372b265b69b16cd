"""What a boundary reload did to projects: history, a new ETag, and notices for the towns that lost some.

``snapshot`` the district's project → town shares before re-matching, then ``record`` compares
with the shares after it. Each project whose towns or shares changed gets an audit entry
(old → new towns, the boundary version) and its version bumped (so its ETag changes); each town
that lost projects gets a ``town_notices`` row its officials see on the dashboard.
"""
from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from registry import audit
from registry.scope import Scope

ACTION = "rematch"  # in the project's history (registry.progress.ACTION_LABELS)
NOTICE_MOVED_OUT = "projects_moved_out"
NOTICE_DAYS = 30  # how long the dashboard shows a notice
NOTICES_SHOWN = 5

_SNAPSHOT = text("""
    SELECT p.id, p.code, p.name, p.deleted_at IS NOT NULL,
           coalesce(jsonb_agg(jsonb_build_object('code', pt.town_code, 'name', t.name,
                                                 'share', round(pt.share::numeric, 4))
                              ORDER BY pt.town_code) FILTER (WHERE pt.town_code IS NOT NULL), '[]')
    FROM projects p
    LEFT JOIN project_towns pt ON pt.project_id = p.id
    LEFT JOIN towns t ON t.id = pt.town_id
    WHERE p.district_code = :district_code
    GROUP BY p.id""")


def snapshot(session: Session, district_code: str) -> dict[int, dict]:
    """project id → ``{"code", "name", "deleted", "towns": [{"code", "name", "share"}]}`` (shares to 4 places).

    Deleted projects too: they get the history entry and the new version (a restore brings them
    back as they are now), but no town is told about them.
    """
    return {pid: {"code": code, "name": name, "deleted": deleted, "towns": towns}
            for pid, code, name, deleted, towns in session.execute(_SNAPSHOT, {"district_code": district_code})}


def describe(towns: list[dict]) -> str:
    """``西镇`` or ``东街道 60%、西镇 40%`` (shares only when there are several)."""
    if not towns:
        return "（不在任何镇街）"
    return "、".join(t["name"] + (f" {float(t['share']):.0%}" if len(towns) > 1 else "") for t in towns)


def _key(towns: list[dict]) -> list[tuple]:
    return [(t["code"], float(t["share"])) for t in towns]


def record(session: Session, before: dict[int, dict], after: dict[int, dict], *, district_code: str,
           boundary_version: int, source: str, actor: str) -> list[dict]:
    """Trace every project whose towns changed between the snapshots; returns them, by code.

    Each item: ``{"id", "code", "name", "before": [towns], "after": [towns]}``.
    """
    moved = [{"id": pid, "code": now["code"], "name": now["name"],
              "before": before[pid]["towns"], "after": now["towns"]}
             for pid, now in after.items() if pid in before and _key(before[pid]["towns"]) != _key(now["towns"])]
    moved.sort(key=lambda m: m["code"])
    if not moved:
        return moved
    session.execute(text("UPDATE projects SET version = version + 1 WHERE id = ANY(:ids)"),
                    {"ids": [m["id"] for m in moved]})
    # before/after read as the history page shows them; the shares themselves go in details.
    audit.record_many(session, [
        {"actor": actor, "action": ACTION, "entity": "project", "entity_id": item["id"],
         "district_code": district_code, "before": {"towns": describe(item["before"])},
         "after": {"towns": describe(item["after"])},
         "details": {"boundary_version": boundary_version, "file": source,
                     "towns_before": item["before"], "towns_after": item["after"]}} for item in moved])
    _notify_towns(session, [item for item in moved if not after[item["id"]]["deleted"]],
                  district_code=district_code, boundary_version=boundary_version, source=source)
    return moved


def _notify_towns(session: Session, moved: list[dict], *, district_code: str, boundary_version: int,
                  source: str) -> None:
    lost: dict[str, list[dict]] = {}
    for item in moved:
        now = {t["code"] for t in item["after"]}
        for town in item["before"]:
            if town["code"] not in now:
                lost.setdefault(town["code"], []).append(
                    {"id": item["id"], "code": item["code"], "name": item["name"],
                     "to": [{"code": t["code"], "name": t["name"]} for t in item["after"]]})
    if not lost:
        return
    session.execute(text("""
        INSERT INTO town_notices (town_code, district_code, kind, boundary_version, source, projects)
        VALUES (:town_code, :district_code, :kind, :boundary_version, :source, :projects)""").bindparams(
            bindparam("projects", type_=JSONB)),
        [{"town_code": town, "district_code": district_code, "kind": NOTICE_MOVED_OUT,
          "boundary_version": boundary_version, "source": source, "projects": projects}
         for town, projects in sorted(lost.items())])


def recent_notices(session: Session, scope: Scope) -> list[dict]:
    """The notices of a town official's towns from the last ``NOTICE_DAYS`` days, newest first."""
    if scope.role != "town" or not scope.town_codes:
        return []
    rows = session.execute(text("""
        SELECT n.at, n.town_code, coalesce(t.name, n.town_code) AS town_name, n.boundary_version,
               n.projects
        FROM town_notices n
        LEFT JOIN towns t ON t.code = n.town_code AND t.valid_to IS NULL
        WHERE n.town_code = ANY(:towns) AND n.kind = :kind
          AND n.at > now() - make_interval(days => :days)
        ORDER BY n.at DESC, n.id DESC LIMIT :limit"""),
        {"towns": sorted(scope.town_codes), "kind": NOTICE_MOVED_OUT, "days": NOTICE_DAYS,
         "limit": NOTICES_SHOWN}).mappings()
    return [dict(row) for row in rows]
