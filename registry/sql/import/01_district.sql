-- Import step 01 (registry.importing, before staging). Temp tables read: none; written: import_district (creates it).
-- The district's outline, once for the whole import: every staged chunk is compared with it
-- (02_reject_outside.sql, 03_partly_outside.sql). The loaded outline, else the union of the
-- district's current towns. Dropped at commit.
-- :district_code
CREATE TEMP TABLE import_district ON COMMIT DROP AS
SELECT COALESCE(d.geom, (SELECT ST_Multi(ST_Union(t.geom)) FROM towns t
                         WHERE t.district_code = d.code AND t.valid_to IS NULL)) AS geom
FROM districts d
WHERE d.code = :district_code
