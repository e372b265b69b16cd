-- Store a loaded district outline; it then takes precedence over the union of the towns.
INSERT INTO districts (code, name, parent_code, geom, geom_source, area_km2, updated_at)
SELECT :code, :name, :parent_code, g.geom, 'outline', ST_Area(g.geom::geography) / 1e6, now()
FROM (SELECT ST_Multi(ST_GeomFromWKB(:wkb, 4326)) AS geom) g
ON CONFLICT (code) DO UPDATE
SET name = EXCLUDED.name, parent_code = EXCLUDED.parent_code, geom = EXCLUDED.geom,
    geom_source = 'outline', area_km2 = EXCLUDED.area_km2, updated_at = now()
