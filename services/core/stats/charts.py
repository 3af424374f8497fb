"""Geometry of the dashboard's charts and map, computed on the server (the page has no script): bars as
rectangles, the map as SVG paths projected from the arrondissement polygons (Ville de Paris, ODbL)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from shapely import union_all
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from services.core.territory import TerritoryMap, arrondissements_of, sector_of

MAP_WIDTH = 640.0
MAP_MARGIN = 8.0
# Blues from light to dark (each readable against the next, and black text on the first three).
PALETTE: tuple[str, ...] = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
HIDDEN_FILL = "#d9d9d9"


@dataclass(frozen=True)
class Bar:
    label: str
    key: str
    value: float | None  # None: hidden (small count) or nothing to measure
    text: str  # what is written beside the bar
    width: float  # in percent of the chart's bar area
    y: float


def bars(items: list[tuple[str, str, float | None, str]], *, row_height: float = 22.0) -> list[Bar]:
    """(key, label, value, text) → horizontal bars scaled to the largest value."""
    largest = max((value for _, _, value, _ in items if value is not None), default=0.0)
    return [
        Bar(
            label=label,
            key=key,
            value=value,
            text=text,
            width=0.0 if value is None or largest <= 0 else 100.0 * value / largest,
            y=index * row_height,
        )
        for index, (key, label, value, text) in enumerate(items)
    ]


@dataclass(frozen=True)
class MapArea:
    arrondissement: int
    sector: str
    path: str  # SVG path data


@dataclass(frozen=True)
class MapLabel:
    sector: str
    text: str
    x: float
    y: float


@dataclass(frozen=True)
class ParisMap:
    width: float
    height: float
    areas: tuple[MapArea, ...]
    labels: tuple[MapLabel, ...]


def _rings(geometry: BaseGeometry) -> list[list[tuple[float, float]]]:
    polygons = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else [geometry]
    rings: list[list[tuple[float, float]]] = []
    for polygon in polygons:
        assert isinstance(polygon, Polygon)
        rings.append([(x, y) for x, y in polygon.exterior.coords])
        rings.extend([(x, y) for x, y in interior.coords] for interior in polygon.interiors)
    return rings


@cache
def _shapes(territory_map: TerritoryMap) -> dict[int, BaseGeometry]:
    return {n: territory_map.polygon(n).simplify(0.00015, preserve_topology=True) for n in range(1, 21)}


@cache
def _frame(territory_map: TerritoryMap) -> tuple[float, float, float, float, float]:
    """(min_lon, max_lat, shrink, scale, height) of the projection."""
    shapes = _shapes(territory_map)
    min_lon = min(s.bounds[0] for s in shapes.values())
    min_lat = min(s.bounds[1] for s in shapes.values())
    max_lon = max(s.bounds[2] for s in shapes.values())
    max_lat = max(s.bounds[3] for s in shapes.values())
    shrink = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = (MAP_WIDTH - 2 * MAP_MARGIN) / ((max_lon - min_lon) * shrink)
    return min_lon, max_lat, shrink, scale, (max_lat - min_lat) * scale + 2 * MAP_MARGIN


def project(lon: float, lat: float, territory_map: TerritoryMap) -> tuple[float, float]:
    """A point of Paris in the map's SVG box (the places of situations on the pages' maps)."""
    min_lon, max_lat, shrink, scale, _ = _frame(territory_map)
    return MAP_MARGIN + (lon - min_lon) * shrink * scale, MAP_MARGIN + (max_lat - lat) * scale


@cache
def paris_map(territory_map: TerritoryMap) -> ParisMap:
    """The 20 arrondissements, projected (equirectangular, longitudes shrunk by cos(latitude), right at
    Paris's size) into an SVG box `MAP_WIDTH` wide, north up."""
    shapes = _shapes(territory_map)
    height = _frame(territory_map)[4]
    areas = []
    for number, shape in shapes.items():
        parts = []
        for ring in _rings(shape):
            points = [project(lon, lat, territory_map) for lon, lat in ring]
            parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points) + " Z")
        areas.append(MapArea(number, sector_of(number), " ".join(parts)))
    labels = []
    for sector in sorted({sector_of(n) for n in shapes}):
        members = [shapes[n] for n in arrondissements_of(sector)]
        point = union_all(members).representative_point()
        x, y = project(point.x, point.y, territory_map)
        text = "Centre" if sector == "paris-centre" else f"{int(sector[-2:])}e"
        labels.append(MapLabel(sector, text, x, y))
    return ParisMap(MAP_WIDTH, height, tuple(areas), tuple(labels))


def classes(values: list[int]) -> list[int]:
    """Upper bounds of up to len(PALETTE) classes of equal width, rounded up (for the map's legend)."""
    largest = max(values, default=0)
    if largest <= 0:
        return [0]
    step = max(1, math.ceil(largest / len(PALETTE)))
    return [step * (n + 1) for n in range(len(PALETTE))]


def fill(value: int | str, bounds: list[int]) -> str:
    if isinstance(value, str):
        return HIDDEN_FILL
    for colour, upper in zip(PALETTE, bounds, strict=False):
        if value <= upper:
            return colour
    return PALETTE[-1]
