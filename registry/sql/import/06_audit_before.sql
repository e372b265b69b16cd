-- Import step 06 (registry.importing). Temp tables read: import_staging, import_snapshot; written: import_before (creates it).
-- Before the upsert (09_upsert.sql): the stored projects whose staged row really changes
-- them (or restores them), with their snapshots (05_audit_snapshot.sql), so that
-- 11_audit.sql can audit each change before → after. Staged rows equal to their project are
-- left out: the upsert, the change list and the audit skip them. geom_same: the geometry (and
-- district) stays, so the town matching, the primary town and the shares stay too.
-- Taken after the projects are locked (04_lock.sql), so "before" is what the import
-- overwrites; also the stored side of the change list (07_changes.sql). Dropped at commit.
-- :district_code
CREATE TEMP TABLE import_before ON COMMIT DROP AS
SELECT p.id, p.code, p.primary_town_code,
       p.deleted_at IS NULL AND p.district_code = :district_code
           AND p.geom = ST_SetSRID(s.geom, 4326) AS geom_same,
       v.snap
FROM import_staging s
JOIN projects p ON p.code = s.code
JOIN import_snapshot v ON v.id = p.id
WHERE p.deleted_at IS NOT NULL
   OR (p.district_code, p.name, p.domain_code, p.category, p.owner, p.credit_code, p.declared_town,
       p.address, p.geom, p.source_crs, p.total_investment, p.equipment_investment,
       p.completed_investment, p.funding, p.stage, p.planned_start, p.planned_end, p.actual_start,
       p.actual_end, p.lead_unit, p.responsible_units, p.is_key, p.quantity, p.unit, p.remarks,
       p.stage_before_suspension)
      IS DISTINCT FROM
      (CAST(:district_code AS varchar), s.name, s.domain_code, s.category, s.owner, s.credit_code,
       s.declared_town, s.address, ST_SetSRID(s.geom, 4326), s.source_crs, s.total_investment,
       s.equipment_investment, s.completed_investment, s.funding, s.stage, s.planned_start,
       s.planned_end, s.actual_start, s.actual_end, s.lead_unit, s.responsible_units, s.is_key,
       s.quantity, s.unit, s.remarks, s.stage_before_suspension)
