"""Geometry work: CRS conversion, boundary loading and repair, town matching and apportioning,
aggregation SQL. Coordinates are EPSG:4326 (lng, lat) unless a docstring says otherwise."""
