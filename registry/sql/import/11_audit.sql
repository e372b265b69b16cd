-- Import step 11 (registry.importing). Temp tables read: import_written, import_new_snapshot, import_snapshot, import_before, import_staging; written: none (audit_log).
-- One audit entry per project this import inserted or changed (import_written; unchanged rows
-- are not written, so they get none), shaped like registry.projects' entries:
-- an inserted project's snapshot as "after" (before NULL; made while its chunk was staged,
-- 01_new_snapshots.sql), a changed one's changed fields only, before (06_audit_before.sql) →
-- after (both 05_audit_snapshot.sql). Two branches, so the per-field comparison runs for changed
-- projects only.
-- :batch_id, :actor, :filename, :district_code
INSERT INTO audit_log (actor, action, entity, entity_id, district_code, before, after, details)
SELECT :actor, 'import', 'project', x.id::text, x.district_code, x.before, x.after,
       jsonb_build_object('batch_id', CAST(:batch_id AS bigint), 'filename', CAST(:filename AS text),
                          'row', s.row)
       || CASE WHEN s.stage_reason IS NOT NULL THEN jsonb_build_object('reason', s.stage_reason)
               ELSE '{}' END
FROM (
    SELECT w.id, w.code, CAST(:district_code AS varchar) AS district_code, CAST(NULL AS jsonb) AS before,
           n.snap AS after
    FROM import_written w
    JOIN import_staging si ON si.code = w.code
    JOIN import_new_snapshot n ON n.row = si.row
    WHERE w.inserted
    UNION ALL
    -- changed fields only
    SELECT w.id, w.code, a.district_code, d.before, d.after
    FROM import_written w
    JOIN import_snapshot a ON a.id = w.id
    JOIN import_before b ON b.id = w.id
    CROSS JOIN LATERAL (
        SELECT COALESCE(jsonb_object_agg(e.key, b.snap -> e.key), '{}') AS before,
               COALESCE(jsonb_object_agg(e.key, e.value), '{}') AS after
        FROM jsonb_each(a.snap) e
        WHERE e.value IS DISTINCT FROM b.snap -> e.key
    ) d
    WHERE NOT w.inserted
) x
JOIN import_staging s ON s.code = x.code
ORDER BY x.id
