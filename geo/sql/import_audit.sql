-- One audit entry per project this import inserted or changed (import_written; the upsert leaves
-- unchanged rows alone, so they get none), shaped like registry.projects' entries:
-- an inserted project's snapshot as "after" (before NULL), a changed one's changed fields only,
-- before (import_audit_before.sql) → after (both import_audit_snapshot.sql).
-- :batch_id, :actor, :filename
INSERT INTO audit_log (actor, action, entity, entity_id, district_code, before, after, details)
SELECT :actor, 'import', 'project', a.id::text, a.district_code,
       CASE WHEN b.id IS NOT NULL THEN d.before END,
       CASE WHEN b.id IS NOT NULL THEN d.after ELSE a.snap END,
       jsonb_build_object('batch_id', CAST(:batch_id AS bigint), 'filename', CAST(:filename AS text),
                          'row', s.row)
       || CASE WHEN s.stage_reason IS NOT NULL THEN jsonb_build_object('reason', s.stage_reason)
               ELSE '{}' END
FROM import_written w
JOIN import_snapshot a ON a.id = w.id
JOIN import_staging s ON s.code = w.code
LEFT JOIN import_before b ON b.id = w.id
-- changed fields only; nothing to compare for an inserted project
CROSS JOIN LATERAL (
    SELECT COALESCE(jsonb_object_agg(e.key, b.snap -> e.key), '{}') AS before,
           COALESCE(jsonb_object_agg(e.key, e.value), '{}') AS after
    FROM jsonb_each(a.snap) e
    WHERE b.id IS NOT NULL AND e.value IS DISTINCT FROM b.snap -> e.key
) d
ORDER BY w.id
