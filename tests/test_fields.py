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

from geo.features import property_pairs
from registry import browse, fields, importing, projects, sqlfiles
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
IMPORT_SQL = ("01_staging", "02_reject_outside", "03_partly_outside", "04_lock", "05_audit_snapshot",
              "06_audit_before", "07_changes", "08_written", "09_upsert", "10_project_towns", "11_audit",
              "12_town_check")


def _table_columns(session, table: str) -> dict[str, tuple[str, bool]]:
    return {name: (sql_type, not_null) for name, sql_type, not_null in session.execute(text(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped"),
        {"table": table})}


def test_every_column_of_the_model_is_a_declared_field_or_explicitly_not_one():
    columns = {column.name for column in Project.__table__.columns}
    assert columns == {field.name for field in fields.FIELDS} | fields.NOT_FIELDS


def test_the_table_the_migrations_make_has_the_declared_types(db):
    table = _table_columns(db, "projects")
    assert {name: table[name] for name in fields.BY_NAME} == {
        field.name: (field.sql_type, field.not_null) for field in fields.FIELDS}


def test_the_staging_table_holds_the_imported_fields_with_the_tables_types(db):
    db.execute(sqlfiles.load("import/01_staging"))
    staging, table = _table_columns(db, "import_staging"), _table_columns(db, "projects")
    assert {name: staging[name] for name in fields.IMPORTED} == {name: table[name] for name in fields.IMPORTED}
    assert set(staging) == set(importing.STAGING_COLUMNS)


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


def test_the_feature_properties_are_the_exported_fields_and_the_computed_ones():
    """geo.features.property_pairs is written out (its order is the export's): it must name every
    exported field, under its property name, and nothing else but the computed properties."""
    pairs = dict(property_pairs(aliased(Town), Domain))
    assert set(pairs) - COMPUTED_PROPERTIES == set(fields.PROPERTIES)
    for prop, name in fields.PROPERTIES.items():
        assert re.search(rf"\bprojects\.{name}\b", str(pairs[prop].expression)), prop


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


def test_every_field_people_see_has_a_label_in_both_languages():
    """The Chinese label is the declaration's; the English one (and its translation) lives with
    the UI's other labels (web.i18n.RECORD_FIELDS)."""
    shown = set(fields.SNAPSHOT_FIELDS) | set(fields.DETAIL_FIELDS) - {"id", "version", "district_code",
                                                                       "created_at", "updated_at",
                                                                       "created_by", "updated_by"}
    for name in shown:
        assert field_label(name) == fields.LABELS[name], name
        assert re.search(r"[\u4e00-\u9fff]", fields.LABELS[name]), name
        assert name in i18n.RECORD_FIELDS, name
