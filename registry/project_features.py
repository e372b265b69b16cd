"""GeoJSON Features of projects, built by PostGIS (DESIGN §5).

One query backs the CLI export and ``GET /api/v1/projects.geojson``: each row is the complete
Feature as JSON text, so Python only concatenates strings and never parses geometry.
Geometry is EPSG:4326 (RFC 7946 longitude/latitude), 7 decimals (~1 cm).
"""
from __future__ import annotations

from sqlalchemy import Numeric, Select, Text, and_, case, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased

from registry.filters import ProjectFilters
from registry.models import Domain, Project, ProjectTown, Town
from registry.scope import Scope, project_clause
from registry.vocab import STAGES

GEOJSON_DECIMALS = 7
SHARE_DECIMALS = 6


def _key(name: str):
    """A JSON key as a SQL literal (fixed identifiers, so no parameter typing issues)."""
    return literal_column(f"'{name}'")


def _object(pairs: list[tuple[str, object]]):
    """``json_build_object`` of (key, expression) pairs, in order."""
    args: list = []
    for key, value in pairs:
        args += [_key(key), value]
    return func.json_build_object(*args)


def _case(column, labels: dict[str, str]):
    """CASE mapping stored codes to Chinese labels (NULL for codes without one)."""
    return case({code: _sql_string(label) for code, label in labels.items()}, value=column)


def _sql_string(value: str):
    """A constant string from our own vocabulary as a SQL literal."""
    return literal_column("'" + value.replace("'", "''") + "'")


def towns_json():
    """Correlated subquery: the project's town shares ``[{"code", "name", "share"}]``, largest first.

    The name is that of the boundary version the share was computed against.
    """
    share_town = aliased(Town)
    item = _object([("code", ProjectTown.town_code), ("name", share_town.name),
                    ("share", func.round(cast(ProjectTown.share, Numeric), SHARE_DECIMALS))])
    ordered = aggregate_order_by(item, ProjectTown.share.desc(), ProjectTown.town_code)
    return (select(func.coalesce(func.json_agg(ordered), literal_column("'[]'::json")))
            .select_from(ProjectTown).join(share_town, share_town.id == ProjectTown.town_id)
            .where(ProjectTown.project_id == Project.id)
            .scalar_subquery())


def property_pairs(primary_town, domain) -> list[tuple[str, object]]:
    """The Feature properties: the API contract first, then every other template field.

    Vocabulary stays as codes (``domain``, ``stage``, ``funding``) with Chinese labels beside them
    (``domain_label``, ``stage_label``, ``funding_label`` joined with ``；``); ``funding`` and
    ``responsible_units`` are arrays.
    """
    return [
        ("id", Project.id), ("code", Project.code), ("name", Project.name),
        ("domain", Project.domain_code), ("category", Project.category), ("stage", Project.stage),
        ("total_investment", Project.total_investment),
        ("equipment_investment", Project.equipment_investment),
        ("completed_investment", Project.completed_investment),
        ("town_code", Project.primary_town_code), ("town_name", primary_town.name),
        ("towns", towns_json()),
        ("domain_label", func.coalesce(domain.label_zh, Project.domain_code)),
        ("stage_label", func.coalesce(_case(Project.stage, {c: v[0] for c, v in STAGES.items()}),
                                      Project.stage)),
        ("district_code", Project.district_code), ("owner", Project.owner),
        ("credit_code", Project.credit_code), ("declared_town", Project.declared_town),
        ("address", Project.address), ("funding", Project.funding), ("funding_label", funding_labels()),
        ("planned_start", Project.planned_start), ("planned_end", Project.planned_end),
        ("actual_start", Project.actual_start), ("actual_end", Project.actual_end),
        ("lead_unit", Project.lead_unit),
        ("responsible_units", Project.responsible_units),
        ("is_key", Project.is_key), ("quantity", Project.quantity), ("unit", Project.unit),
        ("remarks", Project.remarks), ("length_km", func.round(cast(Project.length_km, Numeric), 3)),
        ("area_km2", func.round(cast(Project.area_km2, Numeric), 6)),
        ("source_crs", Project.source_crs), ("version", Project.version),
        ("updated_at", Project.updated_at),
    ]


def funding_labels():
    """The funding sources as Chinese labels joined with ``；`` (codes without a label kept)."""
    return literal_column(
        "array_to_string(ARRAY(SELECT coalesce(fs.label_zh, u.f) FROM unnest(projects.funding) "
        "WITH ORDINALITY AS u(f, n) LEFT JOIN funding_sources fs ON fs.code = u.f ORDER BY u.n), '；')")


def visible_projects(scope: Scope, filters: ProjectFilters) -> list:
    """WHERE clauses on ``Project``: the scope's projects that pass the filters."""
    return [project_clause(scope), *filters.clauses()]


def from_visible_projects(statement: Select, primary_town, scope: Scope, filters: ProjectFilters) -> Select:
    """Add FROM projects (+ the primary town ``primary_town`` and the domain), the scope and
    filter clauses and the id order to ``statement``."""
    return (statement.select_from(Project)
            .outerjoin(primary_town, and_(primary_town.code == Project.primary_town_code,
                                          primary_town.valid_to.is_(None)))
            .outerjoin(Domain, Domain.code == Project.domain_code)
            .where(*visible_projects(scope, filters))
            .order_by(Project.id))


def feature_query(scope: Scope, filters: ProjectFilters) -> Select:
    """One row per visible project: its GeoJSON Feature as text, ordered by project id.

    Parameters
    ----------
    scope
        Whose view: town users see only projects with a share in their towns.
    filters
        Town, domain, stage, year, bbox and text filters (``registry.filters``).

    Returns
    -------
    Select
        A single text column ``feature``; execute with ``stream_results`` for large exports.
    """
    primary_town = aliased(Town)
    properties = _object(property_pairs(primary_town, Domain))
    feature = (literal_column("""'{"type":"Feature","id":'""").op("||")(cast(Project.id, Text))
               .op("||")(literal_column("""',"geometry":'"""))
               .op("||")(func.ST_AsGeoJSON(Project.geom, GEOJSON_DECIMALS))
               .op("||")(literal_column("""',"properties":'"""))
               .op("||")(cast(properties, Text))
               .op("||")(literal_column("'}'")))
    return from_visible_projects(select(feature.label("feature")), primary_town, scope, filters)


def property_query(scope: Scope, filters: ProjectFilters) -> Select:
    """The same projects and properties as ``feature_query``, one column per property.

    ``towns`` is JSON text, lists (funding codes, responsible units) joined with ``；`` and the
    funding labels beside the codes in ``funding_label``; the geometry comes
    as ``wkb`` (EPSG:4326, full precision). Used by the GeoPackage export.
    """
    primary_town = aliased(Town)
    flat = {"towns": lambda expr: cast(expr, Text), "funding": lambda expr: func.array_to_string(expr, "；"),
            "responsible_units": lambda expr: func.array_to_string(expr, "；")}
    columns = [flat.get(key, lambda expr: expr)(expr).label(key)
               for key, expr in property_pairs(primary_town, Domain)]
    columns.append(func.ST_AsBinary(Project.geom).label("wkb"))
    return from_visible_projects(select(*columns), primary_town, scope, filters)


WHOLE_REGISTRY_SQL = "features_all"  # registry/sql/features_all.sql


def whole_registry_sql() -> str:
    """``feature_query`` for the whole registry (system scope, no filters) as plain SQL text.

    ``registry/sql/features_all.sql`` holds this text so that ``eqreg projects export --format
    geojson`` without filters can run it with psycopg alone (``registry.copy_export``), without
    loading SQLAlchemy; ``tests/test_export_fast.py`` keeps the file equal to this. Regenerate with
    ``python -c "from registry.project_features import whole_registry_sql as s; print(s())" > registry/sql/features_all.sql``.
    """
    from sqlalchemy.dialects import postgresql

    statement = feature_query(Scope.system(), ProjectFilters())
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
