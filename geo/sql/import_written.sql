-- The projects one import inserted or changed (filled by import_upsert.sql, RETURNING): what
-- import_project_towns.sql and import_audit.sql start from. Dropped at commit.
CREATE TEMP TABLE import_written (
    id bigint PRIMARY KEY,
    code varchar(24) NOT NULL,
    inserted boolean NOT NULL
) ON COMMIT DROP
