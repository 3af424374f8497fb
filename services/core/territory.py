"""Territory: arrondissement from coordinates, postcode or number; sector; CAVS zone.

Polygons: Ville de Paris open data, "Arrondissements" (ODbL), copied in `data/`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from shapely import STRtree, prepare
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).parent / "data"
CENTRE_ARRONDISSEMENTS = (1, 2, 3, 4)
SECTORS: tuple[str, ...] = ("paris-centre", *(f"paris-{n:02d}" for n in range(5, 21)))
_POSTCODE = re.compile(r"^\d{5}$")

LocationSource = Literal["coordinates", "postcode", "arrondissement"]


def sector_of(arrondissement: int) -> str:
    return "paris-centre" if arrondissement in CENTRE_ARRONDISSEMENTS else f"paris-{arrondissement:02d}"


def arrondissements_of(sector: str) -> tuple[int, ...]:
    if sector == "paris-centre":
        return CENTRE_ARRONDISSEMENTS
    return (int(sector.removeprefix("paris-")),)


def grid_inside(area: BaseGeometry, step_x: float, step_y: float) -> list[tuple[float, float]]:
    """(x, y) points of a regular grid inside `area`, row by row from the corner of its bounds (half a step in):
    places spread evenly over an arrondissement, for synthetic signals and for the dots of a map."""
    min_x, min_y, max_x, max_y = area.bounds
    found = []
    y = min_y + step_y / 2
    while y < max_y:
        x = min_x + step_x / 2
        while x < max_x:
            if area.contains(Point(x, y)):
                found.append((x, y))
            x += step_x
        y += step_y
    return found


def arrondissement_from_postcode(postcode: str) -> int | None:
    """`750NN` → NN for 01..20, and `75116` → 16; anything else is not Paris."""
    if not _POSTCODE.match(postcode):
        return None
    if postcode == "75116":
        return 16
    if postcode.startswith("750") and 1 <= int(postcode[3:]) <= 20:
        return int(postcode[3:])
    return None


@dataclass(frozen=True)
class Territory:
    """Where a signal is, as routing needs it. `arrondissement is None` means out of territory."""

    arrondissement: int | None
    sector: str | None
    cavs_zone: str | None
    source: LocationSource
    # Recorded oddities, e.g. a postcode that disagrees with the coordinates (coordinates win).
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def in_paris(self) -> bool:
        return self.arrondissement is not None


class TerritoryMap:
    """The arrondissement polygons and the sector → CAVS zone mapping, loaded once."""

    def __init__(self, polygons: dict[int, BaseGeometry], zones: dict[str, str]) -> None:
        missing = set(SECTORS) - set(zones)
        if missing:
            raise ValueError(f"secteurs sans zone CAVS : {sorted(missing)}")
        self._numbers = list(polygons)
        self._geoms = list(polygons.values())
        for geom in self._geoms:
            prepare(geom)
        self._tree = STRtree(self._geoms)
        self.zones = zones
        self.cavs_zones: frozenset[str] = frozenset(zones.values())

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> TerritoryMap:
        collection = json.loads((data_dir / "paris-arrondissements.geojson").read_text("utf-8"))
        polygons = {int(f["properties"]["c_ar"]): shape(f["geometry"]) for f in collection["features"]}
        raw_zones = yaml.safe_load((data_dir / "cavs_zones.yaml").read_text("utf-8"))
        zones = {sector: zone for zone, sectors in raw_zones.items() for sector in sectors}
        return cls(polygons, zones)

    def arrondissement_at(self, lat: float, lon: float) -> int | None:
        point = Point(lon, lat)
        for index in self._tree.query(point):
            if self._geoms[index].covers(point):
                return self._numbers[int(index)]
        return None

    def polygon(self, arrondissement: int) -> BaseGeometry:
        return self._geoms[self._numbers.index(arrondissement)]

    def _make(self, arrondissement: int | None, source: LocationSource, notes: tuple[str, ...]) -> Territory:
        if arrondissement is None:
            return Territory(None, None, None, source, notes)
        sector = sector_of(arrondissement)
        return Territory(arrondissement, sector, self.zones[sector], source, notes)

    def locate(
        self,
        *,
        lat: float | None = None,
        lon: float | None = None,
        postcode: str | None = None,
        arrondissement: int | None = None,
    ) -> Territory:
        """Coordinates win over a postcode; a disagreement is recorded in `notes`."""
        if lat is not None and lon is not None:
            found = self.arrondissement_at(lat, lon)
            notes: tuple[str, ...] = ()
            if postcode is not None:
                from_postcode = arrondissement_from_postcode(postcode)
                if from_postcode != found:
                    notes = (f"postcode_disagrees:{postcode}",)
            return self._make(found, "coordinates", notes)
        if postcode is not None:
            return self._make(arrondissement_from_postcode(postcode), "postcode", ())
        if arrondissement is not None:
            return self._make(arrondissement if 1 <= arrondissement <= 20 else None, "arrondissement", ())
        raise ValueError("une localisation est requise")


@cache
def default_map() -> TerritoryMap:
    """The map of the package's data, loaded once per process: only composition roots (startup, CLI, the API's
    dependency for routes and pages, `decisions.in_force`, the migrations' seeding) call it; core takes the map
    as a parameter."""
    return TerritoryMap.load()
