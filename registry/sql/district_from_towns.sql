-- A district's outline is the union of its current towns unless an outline was loaded.
UPDATE districts d
SET geom = u.geom, area_km2 = ST_Area(u.geom::geography) / 1e6, updated_at = now()
FROM (SELECT ST_Multi(ST_CollectionExtract(ST_Union(geom), 3)) AS geom
      FROM towns WHERE district_code = :district_code AND valid_to IS NULL) u
WHERE d.code = :district_code AND d.geom_source <> 'outline' AND u.geom IS NOT NULL
