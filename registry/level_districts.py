"""Which districts a province, a city or a district holds: the one place Python answers it.

The roll-up's exports per level (``registry.rollup.narrowed_scope``), the count of districts a
roll-up covers (``registry.rollup.districts_present``) and the readers and 区县合计 of city and
province targets (``registry.target_levels``) all ask here. A district row belongs to its city and
province by ``districts.city_code`` / ``province_code`` (filled from the code, or for a zone from
its parent district, migration 0012); zones are district rows too, so no project counts twice.

The same rule lives twice more in SQL, where Python cannot reach: the area fragments of
``registry.target_sums.AREAS`` (one statement over a level's projects) and the definer function
``eqreg_account_districts`` of the migrations (row-level security).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.models import District

COLUMNS = {"province": District.province_code, "city": District.city_code, "district": District.code}


def districts_of(session: Session, levels: Iterable[str] = ("city", "province"), *,
                 code: str | None = None, within: frozenset[str] | None = None) -> dict[str, list[str]]:
    """Code of each jurisdiction of ``levels`` (``province``, ``city``, ``district``) → the codes
    of its districts in the registry, in code order; only the jurisdiction ``code`` when given,
    and only districts in ``within`` when given (a scope's districts). A jurisdiction without
    such a district is absent."""
    levels = tuple(levels)
    query = select(District.code, District.city_code, District.province_code).order_by(District.code)
    if code is not None:
        query = query.where(or_(*(COLUMNS[level] == code for level in levels)))
    if within is not None:
        query = query.where(District.code.in_(within))
    out: dict[str, list[str]] = defaultdict(list)
    for district, city, province in session.execute(query):
        keys = {"province": province, "city": city, "district": district}
        for level in levels:
            key = keys[level]
            if key and (code is None or key == code):
                out[key].append(district)
    return dict(out)
