"""Where `/carte/{lead}` draws each open situation: a dot inside its arrondissement, not at its place. The place is
personal data, shown (and its read audited) on the situation page only; the map of a whole queue shows how many
there are and where by arrondissement, which anyone allowed to read the queue may see. The dots fill their
arrondissement from its middle outwards, the most urgent (the queue's order) nearest the middle."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from services.core.stats.charts import project
from services.core.territory import TerritoryMap, grid_inside

# Spacings (SVG units, the map is 640 wide) tried in turn until the arrondissement holds all its dots.
SPACINGS: tuple[float, ...] = (9.0, 7.0, 5.5, 4.5, 3.5)
ASPECT = 1.6  # width / height of the situation page's close-up


def _projected(arrondissement: int, territory_map: TerritoryMap) -> BaseGeometry:
    """The arrondissement's polygon in the map's SVG coordinates."""

    def to_map(coords: np.ndarray) -> np.ndarray:
        x, y = project(coords[:, 0], coords[:, 1], territory_map)  # type: ignore[arg-type]  # elementwise on arrays
        return np.column_stack((x, y))

    return shapely.transform(territory_map.polygon(arrondissement), to_map)


@cache  # per map (a process has one): the map is hashed by identity
def slots(arrondissement: int, spacing: float, territory_map: TerritoryMap) -> tuple[tuple[float, float], ...]:
    """Points of a grid `spacing` apart inside the arrondissement (off its edge), nearest its middle first."""
    shape = _projected(arrondissement, territory_map)
    inner = shape.buffer(-spacing / 2)
    if inner.is_empty:
        inner = shape
    middle = inner.representative_point()
    found = grid_inside(inner, spacing, spacing)
    found.sort(key=lambda p: (p[0] - middle.x) ** 2 + (p[1] - middle.y) ** 2)
    return tuple(found) or ((middle.x, middle.y),)


def dots(arrondissement: int, count: int, territory_map: TerritoryMap) -> tuple[float, Sequence[tuple[float, float]]]:
    """(radius, positions) for `count` dots in the arrondissement: the widest spacing that holds them all (at the
    smallest, positions are reused: the table beside the map gives the counts)."""
    for spacing in SPACINGS:
        found = slots(arrondissement, spacing, territory_map)
        if len(found) >= count:
            return spacing * 0.4, found[:count]
    found = slots(arrondissement, SPACINGS[-1], territory_map)
    return SPACINGS[-1] * 0.4, [found[n % len(found)] for n in range(count)]


@cache
def frame(arrondissement: int, territory_map: TerritoryMap) -> tuple[float, float, float, float]:
    """(x, y, width, height) of an SVG view of the arrondissement and a margin of its neighbours, at the map's
    proportions: the situation page's close-up of the place."""
    shape = _projected(arrondissement, territory_map)
    min_x, min_y, max_x, max_y = shape.bounds
    width, height = (max_x - min_x) * 1.3, (max_y - min_y) * 1.3
    width, height = max(width, height * ASPECT), max(height, width / ASPECT)
    middle_x, middle_y = (min_x + max_x) / 2, (min_y + max_y) / 2
    return middle_x - width / 2, middle_y - height / 2, width, height
