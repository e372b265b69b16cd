-- Import step 07 (registry.importing). Temp tables read: import_staging, import_before; written: none.
-- The change list of a re-import (DESIGN §4): every field of a stored project that a staged row
-- would change, before → after, in the shape of the audit snapshots (05_audit_snapshot.sql).
-- The stored side is import_before (06_audit_before.sql). Geometry compared as WKT with 7
-- decimals, like the history. Returns (row, code, name, field, before, after), unordered: an
-- ORDER BY row made the planner keep staging's order with a nested loop over import_before.
SELECT s.row, s.code, s.name, e.key AS field, b.snap -> e.key AS before, e.value AS after
FROM import_staging s
JOIN import_before b ON b.code = s.code
CROSS JOIN LATERAL jsonb_each(to_jsonb((SELECT r FROM (SELECT {{changeable_snapshot|s.@}},
    CAST(NULL AS timestamptz) AS deleted_at, ST_AsText(ST_SetSRID(s.geom, 4326), 7) AS geometry) r))) e
WHERE e.value IS DISTINCT FROM b.snap -> e.key
