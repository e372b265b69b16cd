"""The project's stored fields, declared once (STYLE 16): adding a field is a line here, a migration
(with the model's column) and its English label (``web.i18n.RECORD_FIELDS``).

Each ``Field`` is a column of ``projects`` with its PostgreSQL type, its Chinese label, its import
template column (``template``: parser, required, aliases; the header is the label) and what it
takes part in (``uses``):

``import``
    staged by the import (the staging table, its COPY types) and written by its upsert;
``key``
    the import's key (the project code): staged but never changed by a re-import;
``audit``
    in the audit snapshot (before → after of edits and imports, the import's change list);
``export``
    a property of the GeoJSON Features and GeoPackage rows (``exported_as`` names it when it differs);
``list`` / ``detail``
    in the API's project list (and detail) or only in the detail; also the OpenAPI schemas.

The import's SQL (``registry/sql/import/``) names the lists as ``{{list|pattern}}``, filled by
``fill`` when the file is loaded (``registry.sqlfiles``): ``@`` in the pattern is the field name.
Lists, each in declaration order: ``imported``, ``changeable`` (imported, not the key),
``snapshot`` (audited, without the geometry, which snapshots hold as WKT under ``geometry``),
``changeable_snapshot``; ``{{staging_columns}}`` is the staging table's column definitions.
The template (``registry.template.COLUMNS``), the API's records (``registry.browse``), the audit
snapshot (``registry.projects``) and the OpenAPI schemas derive from here too;
``tests/test_fields.py`` holds the model, the table, the Feature properties
(``registry.project_features.property_pairs``, written out for the export's order) and the labels to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

USES = frozenset({"import", "key", "audit", "export", "list", "detail"})


@dataclass(frozen=True)
class Cell:
    """How the import template carries a field: its column, headed by the field's label."""
    parser: str = "text"  # how registry.validation reads it: text, money, number, date, list, flag, special
    required: bool = False  # for new codes (DESIGN §9)
    aliases: tuple[str, ...] = ()  # other headers people write
    key: str | None = None  # the template's English key when it is not the field name


@dataclass(frozen=True)
class Field:
    name: str  # the column of ``projects``
    sql_type: str  # as PostgreSQL spells it (``format_type``); the staging column has the same
    label: str  # Chinese: the template's header, the history's and the change list's label
    not_null: bool
    uses: frozenset[str]
    exported_as: str | None = None  # the Feature property when it is not ``name``
    template: Cell | None = None  # the import template's column (``registry.template``)

    def __post_init__(self) -> None:
        unknown = self.uses - USES
        if unknown:
            raise ValueError(f"{self.name}: unknown uses {sorted(unknown)}")

    @property
    def copy_type(self) -> str:
        """The type psycopg's COPY sends the staged value as (text for text, arrays as their
        literal and geometry as hex EWKB)."""
        base = self.sql_type.split("(")[0]
        if self.sql_type.endswith("[]"):
            return "text"
        return {"integer": "int4", "bigint": "int8", "numeric": "numeric", "date": "date",
                "boolean": "bool"}.get(base, "text")

    @property
    def is_array(self) -> bool:
        return self.sql_type.endswith("[]")

    @property
    def is_geometry(self) -> bool:
        return self.sql_type.startswith("geometry")


def _f(name: str, sql_type: str, label: str, uses: str, *, not_null: bool = False,
       exported_as: str | None = None, template: Cell | None = None) -> Field:
    return Field(name, sql_type, label, not_null, frozenset(uses.split()), exported_as, template)


def _column(parser: str = "text", *aliases: str, required: bool = False, key: str | None = None) -> Cell:
    return Cell(parser, required, aliases, key)


_VARCHAR = "character varying"
_MONEY = "numeric(14,2)"
_TIME = "timestamp with time zone"
_ALL = "import audit export list"  # what a person records and everyone sees

# In the order of the table (migrations); the order of every derived list.
FIELDS: tuple[Field, ...] = (
    _f("id", "bigint", "项目编号", "export list", not_null=True),
    _f("district_code", f"{_VARCHAR}(6)", "行政区", "export detail", not_null=True),
    _f("code", f"{_VARCHAR}(24)", "项目代码", "key " + _ALL, not_null=True,
       template=_column("special", "投资项目统一代码", "项目统一代码", "project_code", required=True)),
    _f("name", "text", "项目名称", _ALL, not_null=True,
       template=_column("text", "project_name", required=True)),
    _f("domain_code", f"{_VARCHAR}(32)", "领域", _ALL, not_null=True, exported_as="domain",
       template=_column("special", "所属领域", "domain_code", required=True, key="domain")),
    _f("category", "text", "子类", _ALL, template=_column("text", "类别", "项目类别")),
    _f("owner", "text", "建设单位", _ALL, not_null=True,
       template=_column("text", "项目单位", "业主单位", required=True)),
    _f("credit_code", f"{_VARCHAR}(18)", "统一社会信用代码", "import audit export detail",
       template=_column("special", "信用代码")),
    _f("declared_town", "text", "所属镇街", "import audit export detail",  # as written in the source
       template=_column("text", "镇街", "所属镇（街道）", "所在镇街", "town_code", key="town")),
    _f("address", "text", "详细地址", "import audit export detail", template=_column("text", "地址", "建设地点")),
    # the Feature's geometry and the detail's ``geometry`` (GeoJSON), not a property; in the
    # template 经度/纬度 or 几何WKT (registry.template.LOCATION_COLUMNS)
    _f("geom", "geometry(Geometry,4326)", "位置（几何）", "import audit", not_null=True),
    _f("source_crs", f"{_VARCHAR}(10)", "坐标系", "import audit export detail", not_null=True,
       template=_column("special", "坐标系统", key="crs")),
    _f("total_investment", _MONEY, "总投资（万元）", _ALL, not_null=True,
       template=_column("money", "总投资", "计划总投资", "total", required=True)),
    _f("equipment_investment", _MONEY, "设备投资（万元）", _ALL,
       template=_column("money", "设备投资", "设备购置投资")),
    _f("completed_investment", _MONEY, "已完成投资（万元）", _ALL,
       template=_column("money", "已完成投资", "累计完成投资", "完成投资")),
    _f("funding", "text[]", "资金来源", "import audit export detail", not_null=True,
       template=_column("special", "funding_sources")),
    _f("stage", f"{_VARCHAR}(16)", "项目阶段", _ALL, not_null=True,
       template=_column("special", "阶段", "建设阶段", "项目状态", required=True)),
    # kept by the life-cycle rules (registry.lifecycle), not typed in
    _f("stage_before_suspension", f"{_VARCHAR}(16)", "暂缓前阶段", "import audit detail"),
    _f("planned_start", "date", "计划开工", _ALL, template=_column("date", "计划开工时间", "计划开工日期")),
    _f("planned_end", "date", "计划竣工", _ALL, template=_column("date", "计划竣工时间", "计划竣工日期")),
    _f("actual_start", "date", "实际开工", _ALL, template=_column("date", "实际开工时间", "实际开工日期")),
    _f("actual_end", "date", "实际竣工", _ALL, template=_column("date", "实际竣工时间", "实际竣工日期")),
    _f("lead_unit", "text", "牵头单位", "import audit export detail", template=_column()),
    _f("responsible_units", "text[]", "责任单位", "import audit export detail", not_null=True,
       template=_column("list")),
    _f("is_key", "boolean", "重点项目", _ALL, not_null=True,
       template=_column("flag", "是否重点项目", "key_project")),
    _f("quantity", "numeric(16,3)", "数量", "import audit export detail", template=_column("number")),
    _f("unit", "text", "计量单位", "import audit export detail", template=_column("text", "单位")),
    _f("remarks", "text", "备注", "import audit export detail", template=_column("text", "说明")),
    _f("length_km", "double precision", "长度（公里）", "export detail"),  # geodesic, lines
    _f("area_km2", "double precision", "面积（平方公里）", "export detail"),  # geodesic, polygons
    _f("primary_town_code", f"{_VARCHAR}(9)", "主要镇街", "audit export list", exported_as="town_code"),
    _f("version", "integer", "版本", "export list", not_null=True),
    _f("created_at", _TIME, "登记时间", "detail", not_null=True),
    _f("updated_at", _TIME, "更新时间", "export list", not_null=True),
    _f("created_by", "text", "登记人", "detail"),
    _f("updated_by", "text", "修改人", "detail"),
    _f("deleted_at", _TIME, "删除时间", "audit"),
)
# Columns of ``projects`` that are bookkeeping, not fields of a project.
NOT_FIELDS = frozenset({"import_batch_id"})
_PLACEHOLDER = re.compile(r"\{\{(\w+)(?:\|([^}]*))?\}\}")


class Declaration:
    """The lists derived from a tuple of fields, each in declaration order.

    The registry uses ``PROJECT`` (``FIELDS``) through the module's names below; a test may derive
    the same lists from a declaration with a throw-away field.
    """

    def __init__(self, declared: tuple[Field, ...]):
        self.fields = declared
        self.by_name = {field.name: field for field in declared}
        self.labels = {field.name: field.label for field in declared}
        # the import template's key of a field → the field (``domain`` → ``domain_code``)
        self.field_of_template_key = {f.template.key or f.name: f.name for f in declared if f.template}
        self.imported = self.names("import")
        self.changeable = self.names("import", without=("key",))
        # what an audit entry shows of a project; the geometry is added beside them as WKT
        self.snapshot_fields = tuple(n for n in self.names("audit") if not self.by_name[n].is_geometry)
        # the snapshot's keys in order (the order of the import's change list)
        self.snapshot_keys = tuple("geometry" if self.by_name[n].is_geometry else n
                                   for n in self.names("audit"))
        self.list_fields = self.names("list")
        self.detail_fields = self.list_fields + self.names("detail", without=("list",))
        # Feature properties that come straight from a field: property → field
        self.properties = {f.exported_as or f.name: f.name for f in declared if "export" in f.uses}
        self._lists = {"imported": self.imported, "changeable": self.changeable,
                       "snapshot": self.snapshot_fields,
                       "changeable_snapshot": tuple(n for n in self.changeable if n in self.snapshot_fields)}

    def names(self, use: str, *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The names of the fields with ``use``, less those with a use in ``without``."""
        return tuple(f.name for f in self.fields if use in f.uses and not f.uses & set(without))

    def staging_columns(self) -> str:
        """The staging table's columns of the imported fields (``import/01_staging.sql``)."""
        return ",\n    ".join(f"{f.name} {f.sql_type}" + (" NOT NULL" if f.not_null else "")
                              for f in self.fields if "import" in f.uses)

    def fill(self, sql: str) -> str:
        """``sql`` with its ``{{list|pattern}}`` placeholders replaced by the field lists."""
        def one(match: re.Match) -> str:
            name, pattern = match.group(1), match.group(2) or "@"
            if name == "staging_columns":
                return self.staging_columns()
            return ", ".join(pattern.replace("@", field) for field in self._lists[name])
        return _PLACEHOLDER.sub(one, sql)


PROJECT = Declaration(FIELDS)
BY_NAME, LABELS, FIELD_OF_TEMPLATE_KEY = PROJECT.by_name, PROJECT.labels, PROJECT.field_of_template_key
IMPORTED, CHANGEABLE = PROJECT.imported, PROJECT.changeable
SNAPSHOT_FIELDS, SNAPSHOT_KEYS = PROJECT.snapshot_fields, PROJECT.snapshot_keys
LIST_FIELDS, DETAIL_FIELDS, PROPERTIES = PROJECT.list_fields, PROJECT.detail_fields, PROJECT.properties
names, fill = PROJECT.names, PROJECT.fill
# What the history shows besides the declared fields (audit entries also record these).
EXTRA_LABELS = {"geometry": "位置（几何）", "towns": "所属镇街（份额）"}


def label(name: str) -> str:
    """The Chinese label of a project field or history entry (the name itself when unknown)."""
    return LABELS.get(name) or EXTRA_LABELS.get(name) or name
