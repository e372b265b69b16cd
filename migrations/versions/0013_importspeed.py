"""importspeed: set-based reference checks on projects and project_towns; one redundant index less

A foreign key checks every inserted row on its own (one look-up and one row lock per row and per
key): an import of 100 000 projects spent ≈ 1.8 s in the 4 foreign-key triggers below, more than
any other single step (DESIGN §9, issue 13). They become one statement-level trigger per table that
checks every new row's keys at once, over the statement's transition table:

* ``projects.district_code → districts.code``, ``projects.domain_code → domains.code``,
  ``projects.import_batch_id → import_batches.id`` (``eqreg_check_project_refs``),
* ``project_towns.town_id → towns.id`` (``eqreg_check_project_town_refs``).

Like a foreign key, the check locks the referenced rows ``FOR KEY SHARE`` (a concurrent delete
waits for the writer's commit), then looks for keys that are missing (so a delete that committed
meanwhile is seen: READ COMMITTED takes a new snapshot per statement), and raises SQLSTATE 23503
(``foreign_key_violation``) naming the old constraint, so callers see the same ``IntegrityError``.
The referenced side keeps its guarantee through ``eqreg_refuse_referenced_change``: deleting a
district, domain, import batch or town that a project (share) still names, or changing its key, is
refused the same way. These reference tables hold a few dozen rows and change rarely, so row-level
triggers there cost nothing. Both run as the definer, as a foreign key's checks do, so row-level
security does not hide referenced rows from them.

``project_towns.project_id`` keeps its real foreign key (``ON DELETE CASCADE``): locking the
100 000 projects of an import set-based costs more than the per-row check.

``ix_projects_district_code`` is dropped: ``ix_projects_district_stage`` (district_code, stage)
serves every look-up by district, and each index costs every insert.

Revision ID: 0013_importspeed
Revises: 0012_apicache
"""
from alembic import op

revision = '0013_importspeed'
down_revision = '0012_apicache'
branch_labels = None
depends_on = None

# (constraint, table, column, referenced table, referenced column, key type)
FOREIGN_KEYS = (
    ("fk_projects_district_code_districts", "projects", "district_code", "districts", "code", "varchar"),
    ("fk_projects_domain_code_domains", "projects", "domain_code", "domains", "code", "varchar"),
    ("fk_projects_import_batch_id_import_batches", "projects", "import_batch_id", "import_batches", "id",
     "bigint"),
    ("fk_project_towns_town_id_towns", "project_towns", "town_id", "towns", "id", "integer"),
)

# one body per referencing key: lock the referenced rows, then find a key that is missing
_KEY_CHECK = """
    PERFORM 1 FROM {ref_table} r WHERE r.{ref_column} = ANY(keys_{column}) FOR KEY SHARE;
    SELECT k::text INTO missing FROM unnest(keys_{column}) k
    WHERE NOT EXISTS (SELECT 1 FROM {ref_table} r WHERE r.{ref_column} = k) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "{table}" violates foreign key constraint "{name}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}', TABLE = '{table}',
                  COLUMN = '{column}',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{ref_table}".', missing);
    END IF;"""


def _check_function(function: str, table: str) -> str:
    keys = [fk for fk in FOREIGN_KEYS if fk[1] == table]
    declare = "\n".join(f"    keys_{column} {key_type}[];" for _n, _t, column, _r, _c, key_type in keys)
    gather = ", ".join(f"ARRAY(SELECT DISTINCT n.{column} FROM new_rows n WHERE n.{column} IS NOT NULL)"
                       for _n, _t, column, *_rest in keys)
    into = ", ".join(f"keys_{column}" for _n, _t, column, *_rest in keys)
    checks = "".join(_KEY_CHECK.format(name=name, table=table, column=column, ref_table=ref_table,
                                       ref_column=ref_column)
                     for name, table, column, ref_table, ref_column, _type in keys)
    return f"""
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
{declare}
    missing text;
BEGIN
    SELECT {gather} INTO {into};
{checks}
    RETURN NULL;
END $$"""


_REFUSE_REFERENCED_CHANGE = """
CREATE FUNCTION eqreg_refuse_referenced_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
-- TG_ARGV: referenced column, referencing table, referencing column, constraint name
DECLARE
    still_used boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%1$I IS NOT DISTINCT FROM ($2).%1$I', TG_ARGV[0])
            INTO still_used USING OLD, NEW;
        IF still_used THEN
            RETURN NULL;
        END IF;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I x WHERE x.%I = ($1).%I)',
                   TG_ARGV[1], TG_ARGV[2], TG_ARGV[0])
        INTO still_used USING OLD;
    IF still_used THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
                        TG_TABLE_NAME, TG_ARGV[3], TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[3], TABLE = TG_ARGV[1];
    END IF;
    RETURN NULL;
END $$"""

CHECKS = (("eqreg_check_project_refs", "projects"), ("eqreg_check_project_town_refs", "project_towns"))


def upgrade() -> None:
    for name, table, *_rest in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for function, table in CHECKS:
        op.execute(_check_function(function, table))
        # a trigger with transition tables fires on one event only
        for event in ("insert", "update"):
            op.execute(f"CREATE TRIGGER {table}_refs_{event} AFTER {event.upper()} ON {table} "
                       f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    op.execute(_REFUSE_REFERENCED_CHANGE)
    for name, table, column, ref_table, ref_column, _type in FOREIGN_KEYS:
        op.execute(f"CREATE TRIGGER {ref_table}_in_use_{table} AFTER DELETE OR UPDATE OF {ref_column} "
                   f"ON {ref_table} FOR EACH ROW EXECUTE FUNCTION "
                   f"eqreg_refuse_referenced_change('{ref_column}', '{table}', '{column}', '{name}')")
    op.execute("DROP INDEX ix_projects_district_code")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_projects_district_code ON projects (district_code)")
    for name, table, column, ref_table, ref_column, _type in FOREIGN_KEYS:
        op.execute(f"DROP TRIGGER {ref_table}_in_use_{table} ON {ref_table}")
    op.execute("DROP FUNCTION eqreg_refuse_referenced_change()")
    for function, table in CHECKS:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {table}_refs_{event} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
    for name, table, column, ref_table, ref_column, _type in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
                   f"REFERENCES {ref_table} ({ref_column})")
