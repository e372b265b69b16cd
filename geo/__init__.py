"""Geometry only: CRS names and conversion, boundary loading and repair, administrative codes,
the rule that matches a geometry to towns and apportions it. Knows nothing of projects or users
and imports nothing from ``registry`` or ``web`` (docs/architecture.md). Coordinates are
EPSG:4326 (lng, lat) unless a docstring says otherwise."""
