-- Import step 04 (registry.importing). Temp tables read: import_staging; written: none (locks the stored projects).
-- Lock the stored projects an import will write, in code order (two imports, or an import and
-- an edit, then never wait on each other in a circle), and return those whose version is not the
-- staged expected_version: the project was edited after the row was validated (edit_conflict).
-- Only rows of stored codes: the staged rows of new codes are the projects this import inserted
-- chunk by chunk (03_insert_new.sql). Every matching project is locked (the CTE is materialised,
-- so the filter cannot skip locks).
-- Returns (row, code, version, expected_version).
WITH locked AS MATERIALIZED (
    SELECT s.row, p.code, p.version, s.expected_version
    FROM projects p
    JOIN import_staging s ON s.code = p.code AND s.expected_version IS NOT NULL
    ORDER BY p.code
    FOR UPDATE OF p
)
SELECT row, code, version, expected_version
FROM locked
WHERE expected_version IS DISTINCT FROM version
