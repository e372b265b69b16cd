-- A new current version of a town (the previous one was retired in the same transaction).
INSERT INTO towns (district_code, code, name, level, version, geom, area_km2, source)
SELECT :district_code, c.code, :name, :level,
       COALESCE((SELECT max(t.version) FROM towns t WHERE t.code = c.code), 0) + 1,
       g.geom, ST_Area(g.geom::geography) / 1e6, :source
FROM (SELECT CAST(:code AS varchar) AS code) c,
     (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS geom) g
