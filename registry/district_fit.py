"""Where a project may go: the district an import or a new project belongs to, and the warning
for a line or area that reaches past the district's edge. Shared by the importer and the edit
form (``registry.projects``), so neither depends on the other."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.errors import Forbidden, InvalidInput


def resolve_district(session: Session, district_code: str | None,
                     allowed: frozenset[str] | None = None) -> str:
    """The district to import into: the given code, else the only district (of ``allowed``, when
    given) that has towns. A district outside ``allowed`` is ``Forbidden``."""
    if district_code is not None and allowed is not None and district_code not in allowed:
        raise Forbidden(f"无权导入行政区 {district_code}：它不在您的管辖范围内")
    if district_code is not None:
        found = session.execute(text(
            "SELECT d.code FROM districts d WHERE d.code = :code AND (d.geom IS NOT NULL OR EXISTS "
            "(SELECT 1 FROM towns t WHERE t.district_code = d.code AND t.valid_to IS NULL))"),
            {"code": district_code}).scalar()
        if found is None:
            raise InvalidInput(f"行政区 {district_code} 不存在或尚无边界，请先加载行政区划边界")
        return found
    codes = session.execute(text(
        "SELECT DISTINCT district_code FROM towns WHERE valid_to IS NULL ORDER BY 1")).scalars().all()
    if allowed is not None:
        codes = [c for c in codes if c in allowed]
        if not codes:
            raise Forbidden("您的管辖范围内没有已加载边界的行政区，无法导入")
    if not codes:
        raise InvalidInput("请先加载行政区划边界（eqreg boundaries load …）再导入项目")
    if len(codes) > 1:
        raise InvalidInput("库中有多个行政区（" + "、".join(codes) + "），请指定导入到哪个区县（网页上选择“区县”，命令行用 --district，接口用 district 参数）")
    return codes[0]


def importable_districts(session: Session, allowed: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """``(code, name)`` of the districts with current towns that an account limited to ``allowed``
    (None: any) may import into, by code: the web import's district picker."""
    rows = session.execute(text(
        "SELECT d.code, d.name FROM districts d WHERE EXISTS (SELECT 1 FROM towns t "
        "WHERE t.district_code = d.code AND t.valid_to IS NULL) ORDER BY d.code")).all()
    return [(code, name) for code, name in rows if allowed is None or code in allowed]


# below these a geometry drawn along the boundary is not "outside" (10 m, 1 000 m²)
_OUTSIDE_KM, _OUTSIDE_KM2 = 0.01, 0.001


def partly_outside_message(outside_km: float | None, outside_km2: float | None) -> str | None:
    """The ``partly_outside`` warning for the part of a line (km) or polygon (km²) outside the
    district (geodesic), or ``None`` when it lies inside."""
    if outside_km is not None and outside_km >= _OUTSIDE_KM:
        return f"线路有一部分在本行政区之外：区外长度约 {outside_km:.2f} 公里，只有区内部分计入各镇街，请核对"
    if outside_km2 is not None and outside_km2 >= _OUTSIDE_KM2:
        return f"范围有一部分在本行政区之外：区外面积约 {outside_km2:.3f} 平方公里，只有区内部分计入各镇街，请核对"
    return None
