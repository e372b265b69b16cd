-- Import step 05 (registry.importing). Temp tables read: none; written: import_snapshot (creates the view).
-- What an import's audit entries show of a project, in the shape of registry.projects.snapshot
-- (SNAPSHOT_FIELDS plus the geometry as WKT, EPSG:4326, 7 decimals), for 06_audit_before.sql
-- and 11_audit.sql. to_jsonb of a row is ~2× faster than jsonb_build_object with the same
-- pairs (0.5 s of 100 000 rows). A temporary view: the snapshot is computed only for the rows
-- those statements join.
CREATE OR REPLACE TEMP VIEW import_snapshot AS
SELECT p.id, p.code, p.district_code, p.import_batch_id, to_jsonb(r) AS snap
FROM projects p
CROSS JOIN LATERAL (SELECT {{snapshot|p.@}}, ST_AsText(p.geom, 7) AS geometry) r
