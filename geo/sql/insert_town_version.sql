-- A new current version of a town (the previous one was retired in the same transaction).
INSERT INTO towns (district_code, code, name, level, version, geom, area_km2, source)
SELECT :district_code, :code, :name, :level,
       COALESCE((SELECT max(version) FROM towns WHERE code = :code), 0) + 1,
       g.geom, ST_Area(g.geom::geography) / 1e6, :source
FROM (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS geom) g
