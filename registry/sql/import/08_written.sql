-- Import step 08 (registry.importing). Temp tables read: none; written: import_written (creates it).
-- Runs after the town matching (geo.matching.match_staged: import_staging, import_before →
-- match_shares), before 09_upsert.sql.
-- The projects one import inserted or changed (filled by 09_upsert.sql, RETURNING): what
-- 10_project_towns.sql and 11_audit.sql start from. Dropped at commit.
CREATE TEMP TABLE import_written (
    id bigint PRIMARY KEY,
    code varchar(24) NOT NULL,
    inserted boolean NOT NULL
) ON COMMIT DROP
