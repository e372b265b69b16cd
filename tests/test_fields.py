"""Adding a project field = its declaration (``registry.fields``) + a migration + its label.

Everything else that lists the fields either derives from the declaration (the import template and
its plain text cells' validation, the import's staging table, COPY types and SQL column lists, the
audit snapshot, the API's records and their OpenAPI schemas) or is held to it here (the model, the
table, the Feature properties, the English labels), so a field added in one place and forgotten in
another fails a test.
"""
from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import aliased

from registry.project_features import property_pairs
from geo.sqlfiles import read
from registry import browse, fields, importing, projects, sqlfiles, template
from registry.models import Domain, Project, Town
from registry.progress import field_label
from registry.project_input import ATTRIBUTE
from registry.template import BY_KEY, COLUMNS
from registry.validation import validate_record
from web import i18n
from web.api import openapi

# Feature properties computed from other fields or tables, not stored fields
COMPUTED_PROPERTIES = {"town_name", "towns", "domain_label", "stage_label", "funding_label"}
# Imported fields without a template column of their own: the location comes from 经度/纬度 or
# 几何WKT, and the stage before a suspension is kept by the life-cycle rules
NOT_TEMPLATE_COLUMNS = {"geom", "stage_before_suspension"}
# Fields people see that need no label of their own in the UI
UNLABELLED = {"id", "version", "district_code", "created_at", "updated_at", "created_by", "updated_by"}
_HAN = re.compile(r"[\u4e00-\u9fff]")
IMPORT_SQL = ("01_district", "01_staging", "01_written", "02_reject_outside", "03_insert_new", "03_overtaken",
              "03_partly_outside", "04_lock", "05_audit_snapshot", "06_audit_before", "07_changes", "09_upsert",
              "10_project_towns", "11_audit", "12_town_check")


def _table_columns(session, table: str) -> dict[str, tuple[str, bool]]:
    return {name: (sql_type, not_null) for name, sql_type, not_null in session.execute(text(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"),
        {"table": table})}


# --- the places still written by hand, each checked against a declaration ---

def model_drift(declared: fields.Declaration) -> set[str]:
    """Fields without a model column, and model columns neither declared nor excluded."""
    columns = {column.name for column in Project.__table__.columns} - fields.NOT_FIELDS
    return set(declared.by_name) ^ columns


def table_drift(session, declared: fields.Declaration) -> dict:
    """Declared fields whose column the migrations made otherwise (or not at all): name → column."""
    table = _table_columns(session, "projects")
    return {f.name: table.get(f.name) for f in declared.fields if table.get(f.name) != (f.sql_type, f.not_null)}


def property_drift(declared: fields.Declaration) -> set[str]:
    """Exported fields missing from the Feature properties (``registry.project_features.property_pairs``, written
    out for the export's order), properties that are neither declared nor computed, and properties
    that do not read their field."""
    pairs = dict(property_pairs(aliased(Town), Domain))
    drift = set(declared.properties) ^ (set(pairs) - COMPUTED_PROPERTIES)
    return drift | {prop for prop, name in declared.properties.items()
                    if prop in pairs and not re.search(rf"\bprojects\.{name}\b", str(pairs[prop].expression))}


def label_drift(declared: fields.Declaration) -> set[str]:
    """Fields people see (history, change list, detail) without a Chinese label or an English one
    (``web.i18n.RECORD_FIELDS``, translated like the UI's other text)."""
    shown = set(declared.snapshot_fields) | (set(declared.detail_fields) - UNLABELLED)
    return {name for name in shown if not _HAN.search(declared.labels[name]) or name not in i18n.RECORD_FIELDS}


def test_every_column_of_the_model_is_a_declared_field_or_explicitly_not_one():
    assert model_drift(fields.PROJECT) == set()


def test_the_table_the_migrations_make_has_the_declared_types(db):
    assert table_drift(db, fields.PROJECT) == {}


def test_the_feature_properties_are_the_exported_fields_and_the_computed_ones():
    assert property_drift(fields.PROJECT) == set()


def test_every_field_people_see_has_a_label_in_both_languages():
    assert label_drift(fields.PROJECT) == set()
    for name in fields.SNAPSHOT_FIELDS:
        assert field_label(name) == fields.LABELS[name], name


def test_the_staging_table_holds_the_imported_fields_with_the_tables_types(db):
    db.execute(sqlfiles.load("import/01_staging"))
    staging, table = _table_columns(db, "import_staging"), _table_columns(db, "projects")
    assert {name: staging[name] for name in fields.IMPORTED} == {name: table[name] for name in fields.IMPORTED}
    assert set(staging) == set(importing.STAGING_COLUMNS)


# --- a throw-away field ---

THROW_AWAY = fields.Field("contact_person", "text", "联系人", False,
                          frozenset({"import", "audit", "export", "detail"}),
                          template=fields.Cell(aliases=("项目联系人",)))
CODE = "2024-370499-42-01-000001"


def _run_import_sql(session, declared: fields.Declaration, district: str) -> None:
    """The import's statements as ``declared`` fills them, on one staged row of a new code (no
    town matching): what the staging worker runs for a chunk."""
    def script(name: str, **values: str) -> str:
        sql = declared.fill(read("registry", f"import/{name}"))
        for key, value in values.items():
            sql = sql.replace("{" + key + "}", value)
        return sql
    # the town matching's result, empty: the project gets no primary town and no shares
    session.execute(text("CREATE TEMP TABLE IF NOT EXISTS match_shares (key bigint, town_id integer, "
                         "town_code text, district_code text, share float8, length_km float8, area_km2 float8, "
                         "is_primary boolean) ON COMMIT DELETE ROWS"))
    session.execute(text(script("01_staging")))
    session.connection().exec_driver_sql(script("01_written"))
    session.execute(text(
        "INSERT INTO import_staging (row, code, name, domain_code, owner, geom, source_crs, total_investment, "
        "funding, stage, responsible_units, is_key, contact_person, restore) VALUES (2, :code, '项目', 'industry', "
        "'公司', ST_GeomFromText('POINT(117.05 35.05)', 4326), 'WGS84', 10, '{}', 'reserve', '{}', false, "
        "'张三', false)"), {"code": CODE})
    session.connection().exec_driver_sql(script(
        "03_insert_new", first="2", last="2", district_code=f"'{district}'", batch_id="NULL", actor="'test'",
        filename="'f.csv'"))


def test_a_throw_away_field_reaches_the_import_the_audit_and_the_api_and_the_drift_tests_name_the_rest(
        db, grid_district):
    declared = fields.Declaration(fields.FIELDS + (THROW_AWAY,))
    # the import: its template column, its staging column and COPY type, the SQL's column lists
    assert template.columns_of(declared)[-1] == template.Column("contact_person", "联系人", False, "text",
                                                               ("项目联系人",))
    assert declared.by_name["contact_person"].copy_type == "text"
    upsert = declared.fill(read("registry", "import/09_upsert"))
    assert "s.contact_person" in upsert and "contact_person = EXCLUDED.contact_person" in upsert
    assert "s.contact_person" in declared.fill(read("registry", "import/07_changes"))
    # the audit of edits, and the API's record and schema
    assert "contact_person" in declared.snapshot_fields and "contact_person" in declared.detail_fields
    assert openapi.project_schemas(declared)[1]["contact_person"] == {
        "type": "string", "description": "联系人", "nullable": True}
    # what is written by hand: the migration (and the model), the Feature property, the English label
    assert model_drift(declared) == {"contact_person"}
    assert table_drift(db, declared) == {"contact_person": None}
    assert property_drift(declared) == {"contact_person"}
    assert label_drift(declared) == {"contact_person"}
    # once the column exists, the import's SQL writes the field and audits it
    db.execute(text("ALTER TABLE projects ADD COLUMN contact_person text"))
    assert table_drift(db, declared) == {}
    _run_import_sql(db, declared, grid_district)
    stored = db.execute(text("SELECT contact_person FROM projects WHERE code = :code"), {"code": CODE}).scalar()
    assert stored == "张三"
    after = db.execute(text("SELECT after FROM audit_log WHERE entity = 'project' AND action = 'import' "
                            "ORDER BY id DESC LIMIT 1")).scalar()
    assert after["contact_person"] == "张三" and after["code"] == CODE


def test_copy_sends_each_staged_field_as_its_type():
    copy_types = dict(zip(importing.STAGING_COLUMNS, importing._STAGING_TYPES))
    assert copy_types["total_investment"] == "numeric" and copy_types["planned_start"] == "date"
    assert copy_types["is_key"] == "bool" and copy_types["funding"] == "text"
    assert {name: copy_types[name] for name in fields.IMPORTED} == {
        name: fields.BY_NAME[name].copy_type for name in fields.IMPORTED}
    assert set(importing._ARRAY_COLUMNS) == {"funding", "responsible_units"}


def test_the_import_sql_names_no_field_list_by_hand():
    """The column lists of the upsert, the change list and the audit are filled from the
    declaration: no placeholder is left, and every changeable field is written and compared."""
    for name in IMPORT_SQL:
        assert "{{" not in sqlfiles.source(f"import/{name}"), name
    upsert = sqlfiles.source("import/09_upsert")
    before = sqlfiles.source("import/06_audit_before")
    insert_new = sqlfiles.source("import/03_insert_new")
    for name in fields.IMPORTED:
        assert f"s.{name}" in insert_new, name
    for name in fields.CHANGEABLE:
        assert re.search(rf"\b{name} = EXCLUDED\.{name}\b", upsert), name
        assert f"p.{name}" in before and f"s.{name}" in before, name


def test_a_re_import_can_change_only_what_the_audit_and_the_change_list_show():
    assert set(fields.IMPORTED) <= set(fields.names("audit"))
    assert fields.SNAPSHOT_KEYS.index("geometry") == fields.SNAPSHOT_KEYS.index("address") + 1


def test_the_audit_snapshot_of_edits_is_the_declared_one():
    assert projects.SNAPSHOT_FIELDS == fields.SNAPSHOT_FIELDS
    assert "geom" not in projects.SNAPSHOT_FIELDS and "deleted_at" in projects.SNAPSHOT_FIELDS


def test_the_template_has_a_column_for_every_imported_field_people_type_in():
    """The template's columns are the declared cells (headed by the label) and the location's."""
    template_fields = {ATTRIBUTE.get(key, key): column for key, column in BY_KEY.items()
                      if key not in ("lng", "lat", "wkt")}
    assert set(template_fields) == set(fields.IMPORTED) - NOT_TEMPLATE_COLUMNS
    assert {name: column.header for name, column in template_fields.items()} == {
        name: fields.LABELS[name] for name in template_fields}
    assert [column.key for column in COLUMNS][7:12] == ["address", "lng", "lat", "wkt", "crs"]


def test_a_plain_text_field_is_validated_without_code_of_its_own():
    typed, problems = validate_record({"code": "2024-370403-42-01-00234X", "name": "项目", "domain": "工业",
                                       "owner": "公司", "lng": "117.3", "lat": "34.8", "total_investment": "10",
                                       "stage": "在建", "town": "陶庄镇", "remarks": "备注"}, row=2)
    assert problems == []
    text_fields = [fields.FIELD_OF_TEMPLATE_KEY[c.key] for c in COLUMNS if c.parser == "text"]
    assert {name: typed[name] for name in text_fields} == {
        "name": "项目", "category": None, "owner": "公司", "declared_town": "陶庄镇", "address": None,
        "lead_unit": None, "unit": None, "remarks": "备注"}


def test_the_api_records_and_their_schema_are_the_declared_fields():
    assert browse.LIST_FIELDS == fields.LIST_FIELDS and browse.DETAIL_FIELDS == fields.DETAIL_FIELDS
    listed = openapi.SCHEMAS["Project"]["properties"]
    detail = openapi.SCHEMAS["ProjectDetail"]["allOf"][1]["properties"]
    assert set(listed) == set(fields.LIST_FIELDS) | {"domain_label", "stage_label", "town_name"}
    assert set(listed) | set(detail) == set(fields.DETAIL_FIELDS) | {
        "domain_label", "stage_label", "town_name", "geometry", "towns"}
    assert listed["equipment_investment"] == {"type": "number", "description": "设备投资（万元）",
                                              "nullable": True}
    assert detail["funding"]["type"] == "array" and "nullable" not in detail["funding"]


