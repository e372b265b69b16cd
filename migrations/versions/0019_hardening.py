"""hardening: the web role writes no boundary or vocabulary table; a target's district is its code

Two holes an attack pass found behind a (hypothetical) SQL injection:

* ``eqreg_app`` still held INSERT/UPDATE/DELETE on ``districts``, ``towns``, ``town_parts``,
  ``domains``, ``categories`` and ``funding_sources`` (the default privileges of 0001 grant every
  new table). The app never writes them — boundaries and the vocabulary are loaded by the CLI as
  the owner — but a city viewer could move a district into its city
  (``UPDATE districts SET city_code = …``) and so widen its own scope. Revoked.
* The target write policies of 0017 let a district bureau own any jurisdiction whose
  ``parent_code`` is its district, whatever its code: it could insert ``('370481', kind 'zone',
  parent its own district)`` and keep writing that district's targets after the operator loaded
  the real plan. Now only a zone (a code that is not all digits, DESIGN §3) belongs to its parent;
  a district, city or province code belongs to whoever holds that code.

Revision ID: 0019_hardening
Revises: 0018_leveltargets
"""
from alembic import op

revision = '0019_hardening'
down_revision = '0018_leveltargets'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
READ_ONLY = ("districts", "towns", "town_parts", "domains", "categories", "funding_sources")

EDITOR = "(SELECT eqreg_request_role()) IN ('admin', 'bureau')"
DISTRICTS = "(SELECT eqreg_visible_districts())"


def _owned(prefix: str, zone_only: bool) -> str:
    """A jurisdiction (columns ``{prefix}code``, ``{prefix}parent_code``) of the caller's districts:
    the district itself, or (``zone_only``) a zone of one of them."""
    parent = f"{prefix}parent_code = ANY ({DISTRICTS}::text[])"
    if zone_only:
        parent = f"({prefix}code !~ '^[0-9]+$' AND {parent})"
    return f"{prefix}code = ANY ({DISTRICTS}::text[]) OR {parent}"


def _policies(zone_only: bool) -> dict:
    jurisdictions = f"SELECT j.code FROM target_jurisdictions j WHERE {_owned('j.', zone_only)}"
    own_target = f"{DISTRICTS} IS NULL OR jurisdiction_code IN ({jurisdictions})"
    own_entry = (f"{DISTRICTS} IS NULL OR target_id IN (SELECT t.id FROM targets t "
                 f"WHERE t.jurisdiction_code IN ({jurisdictions}))")
    own_jurisdiction = f"{DISTRICTS} IS NULL OR {_owned('', zone_only)}"
    return {  # (table, policy) → (USING, WITH CHECK); None keeps the clause absent
        ("target_jurisdictions", "target_jurisdictions_app_write"): (f"{EDITOR} AND ({own_jurisdiction})",) * 2,
        ("targets", "targets_app_write"): (f"{EDITOR} AND ({own_target})",) * 2,
        ("target_entries", "target_entries_app_append"): (None, f"{EDITOR} AND ({own_entry})"),
    }


def _alter(policies: dict) -> None:
    for (table, policy), (using, check) in policies.items():
        clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"ALTER POLICY {policy} ON {table}{clauses}")


def upgrade() -> None:
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {', '.join(READ_ONLY)} FROM {APP_ROLE}")
    _alter(_policies(zone_only=True))


def downgrade() -> None:
    _alter(_policies(zone_only=False))
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON {', '.join(READ_ONLY)} TO {APP_ROLE}")
