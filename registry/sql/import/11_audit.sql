-- Import step 11 (registry.importing). Temp tables read: import_written, import_snapshot, import_before, import_staging; written: none (audit_log).
-- One audit entry per stored project this import changed (import_written; unchanged rows are not
-- written, so they get none; the inserted ones got theirs chunk by chunk, 03_insert_new.sql),
-- shaped like registry.projects' entries: the changed fields only, before (06_audit_before.sql)
-- → after (both 05_audit_snapshot.sql).
-- :batch_id, :actor, :filename
INSERT INTO audit_log (actor, action, entity, entity_id, district_code, before, after, details)
SELECT :actor, 'import', 'project', w.id::text, a.district_code, d.before, d.after,
       jsonb_build_object('batch_id', CAST(:batch_id AS bigint), 'filename', CAST(:filename AS text),
                          'row', s.row)
       || CASE WHEN s.stage_reason IS NOT NULL THEN jsonb_build_object('reason', s.stage_reason)
               ELSE '{}' END
FROM import_written w
JOIN import_snapshot a ON a.id = w.id
JOIN import_before b ON b.id = w.id
JOIN import_staging s ON s.code = w.code
CROSS JOIN LATERAL (
    SELECT COALESCE(jsonb_object_agg(e.key, b.snap -> e.key), '{}') AS before,
           COALESCE(jsonb_object_agg(e.key, e.value), '{}') AS after
    FROM jsonb_each(a.snap) e
    WHERE e.value IS DISTINCT FROM b.snap -> e.key
) d
WHERE NOT w.inserted
ORDER BY w.id
