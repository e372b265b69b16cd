-- Import step 01 (registry.importing, before staging). Temp tables read: none; written: import_written, import_chunk_new (creates them).
-- import_written: the projects one import inserted (03_insert_new.sql, chunk by chunk) or changed
-- (09_upsert.sql), from RETURNING: what _WRITTEN counts and 10_project_towns.sql and 11_audit.sql
-- start from. import_chunk_new: the projects one chunk inserted, with their spreadsheet rows
-- (emptied per chunk). Dropped at commit.
CREATE TEMP TABLE import_written (
    id bigint PRIMARY KEY,
    code varchar(24) NOT NULL,
    inserted boolean NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE import_chunk_new (
    row integer PRIMARY KEY,
    id bigint NOT NULL
) ON COMMIT DROP
