-- Import step 05 (registry.importing). Temp tables read: none; written: import_snapshot (creates the view).
-- What an import's audit entries show of a project, in the shape of registry.projects.snapshot
-- (SNAPSHOT_FIELDS plus the geometry as WKT, EPSG:4326, 7 decimals), for 06_audit_before.sql
-- and 11_audit.sql. to_jsonb of a row is ~2× faster than jsonb_build_object with the same
-- 28 pairs (0.5 s of 100 000 rows). A temporary view: the snapshot is computed only for the rows
-- those statements join.
CREATE OR REPLACE TEMP VIEW import_snapshot AS
SELECT p.id, p.code, p.district_code, p.import_batch_id, to_jsonb(r) AS snap
FROM projects p
CROSS JOIN LATERAL (SELECT
    p.code, p.name, p.domain_code, p.category, p.owner, p.credit_code, p.declared_town, p.address,
    p.source_crs, p.total_investment, p.equipment_investment, p.completed_investment, p.funding,
    p.stage, p.stage_before_suspension, p.planned_start, p.planned_end, p.actual_start,
    p.actual_end, p.lead_unit, p.responsible_units, p.is_key, p.quantity, p.unit, p.remarks,
    p.primary_town_code, p.deleted_at, ST_AsText(p.geom, 7) AS geometry) r
