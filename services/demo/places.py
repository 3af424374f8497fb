"""Points inside an arrondissement, for synthetic signals (tests and the demo)."""

from __future__ import annotations

import math
import random
from functools import cache

from shapely.geometry import Point

from services.core.territory import TerritoryMap, grid_inside

METRES_PER_DEGREE_LAT = 111_320.0


@cache
def grid_points(
    territory_map: TerritoryMap, arrondissement: int, spacing_metres: float = 200.0
) -> tuple[tuple[float, float], ...]:
    """(lat, lon) points of a regular grid inside the arrondissement, `spacing_metres` apart: signals placed on
    different points never join by distance (the join radius is 150 m)."""
    polygon = territory_map.polygon(arrondissement)
    _, min_lat, _, max_lat = polygon.bounds
    step_lat = spacing_metres / METRES_PER_DEGREE_LAT
    step_lon = step_lat / math.cos(math.radians((min_lat + max_lat) / 2))
    return tuple((round(lat, 6), round(lon, 6)) for lon, lat in grid_inside(polygon, step_lon, step_lat))


def random_point(rng: random.Random, territory_map: TerritoryMap, arrondissement: int) -> tuple[float, float]:
    """A point drawn uniformly inside the arrondissement (rejection sampling in its bounding box)."""
    polygon = territory_map.polygon(arrondissement)
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    while True:
        lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
        if polygon.contains(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)
