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
JOIN projects p ON p.code = s.code AND s.expected_version IS NOT NULL  -- new codes: 03_insert_new.sql
JOIN import_snapshot v ON v.id = p.id
WHERE p.deleted_at IS NOT NULL
   OR (p.district_code, {{changeable|p.@}})
      IS DISTINCT FROM (CAST(:district_code AS varchar), {{changeable|s.@}})
