-- Before the upsert (import_upsert.sql): the snapshots (import_audit_snapshot.sql) of the
-- projects whose codes are staged, so that import_audit.sql can audit each change before → after.
-- Taken after the projects are locked (import_lock.sql), so "before" is what the import
-- overwrites; also the stored side of the change list (import_changes.sql). Dropped at commit.
CREATE TEMP TABLE import_before ON COMMIT DROP AS
SELECT v.id, v.code, v.snap
FROM import_snapshot v
JOIN import_staging s ON s.code = v.code
