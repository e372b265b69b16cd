-- Lock the stored projects an import will write, in code order (two imports, or an import and
-- an edit, then never wait on each other in a circle), and return their versions: a version other
-- than the staged expected_version means the project was edited after the row was validated
-- (edit_conflict). New codes that exist by now come back too (expected_version NULL).
-- Returns (row, code, version).
SELECT s.row, p.code, p.version
FROM projects p
JOIN import_staging s ON s.code = p.code
ORDER BY p.code
FOR UPDATE OF p
