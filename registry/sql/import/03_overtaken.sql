-- Import step 03, per chunk (registry.importing's staging worker, after 03_insert_new.sql). Temp tables read: import_chunk_new; written: import_staging.
-- The chunk's new codes 03_insert_new.sql could not insert: someone registered the code after the
-- row was checked (or it is registered where this session cannot see, under row-level security).
-- Their rows leave the staging table and come back as edit_conflict errors; the project stays as
-- its owner wrote it. Returns (row, code).
-- {first}, {last}: psycopg.sql.Literal
DELETE FROM import_staging s
WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL
  AND NOT EXISTS (SELECT 1 FROM import_chunk_new c WHERE c.row = s.row)
RETURNING s.row, s.code
