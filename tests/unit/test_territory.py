"""Territory: arrondissement from coordinates, postcode or number; sector; CAVS zone."""

from __future__ import annotations

import pytest

from services.core.territory import (
    SECTORS,
    arrondissement_from_postcode,
    arrondissements_of,
    default_map,
    sector_of,
)

MAP = default_map()


@pytest.mark.parametrize(
    ("place", "lat", "lon", "arrondissement"),
    [
        ("Louvre", 48.8606, 2.3376, 1),
        ("Notre-Dame", 48.8530, 2.3499, 4),
        ("Panthéon", 48.8462, 2.3464, 5),
        ("Tour Eiffel", 48.8584, 2.2945, 7),
        ("Opéra Garnier", 48.8719, 2.3316, 9),
        ("Gare du Nord", 48.8809, 2.3553, 10),
        ("Bois de Vincennes", 48.8283, 2.4333, 12),
        ("Place d'Italie", 48.8310, 2.3555, 13),
        ("Bois de Boulogne", 48.8625, 2.2492, 16),
        ("Sacré-Cœur", 48.8867, 2.3431, 18),
        ("Buttes-Chaumont", 48.8809, 2.3828, 19),
        ("Père-Lachaise", 48.8614, 2.3933, 20),
    ],
)
def test_known_places(place: str, lat: float, lon: float, arrondissement: int) -> None:
    territory = MAP.locate(lat=lat, lon=lon)
    assert territory.arrondissement == arrondissement, place
    assert territory.source == "coordinates"
    assert territory.notes == ()


@pytest.mark.parametrize("arrondissement", range(1, 21))
def test_a_point_inside_each_polygon_is_found_in_it(arrondissement: int) -> None:
    point = MAP.polygon(arrondissement).representative_point()
    assert MAP.arrondissement_at(point.y, point.x) == arrondissement


@pytest.mark.parametrize(("lat", "lon"), [(48.9356, 2.3597), (48.8049, 2.1204), (45.764, 4.8357)])
def test_outside_paris_by_coordinates(lat: float, lon: float) -> None:
    territory = MAP.locate(lat=lat, lon=lon)
    assert not territory.in_paris
    assert (territory.arrondissement, territory.sector, territory.cavs_zone) == (None, None, None)


@pytest.mark.parametrize("number", range(1, 21))
def test_postcodes_75001_to_75020(number: int) -> None:
    territory = MAP.locate(postcode=f"750{number:02d}")
    assert territory.arrondissement == number
    assert territory.sector == sector_of(number)
    assert territory.source == "postcode"


def test_75116_is_the_16th() -> None:
    assert arrondissement_from_postcode("75116") == 16
    assert MAP.locate(postcode="75116").sector == "paris-16"


@pytest.mark.parametrize("postcode", ["93200", "75000", "75021", "75100", "75216", "7502", "750200", "abcde", ""])
def test_postcodes_outside_paris(postcode: str) -> None:
    assert arrondissement_from_postcode(postcode) is None
    assert not MAP.locate(postcode=postcode).in_paris


def test_75020_versus_93200() -> None:
    assert MAP.locate(postcode="75020").cavs_zone == "est"
    assert MAP.locate(postcode="93200").in_paris is False


@pytest.mark.parametrize(("number", "in_paris"), [(0, False), (1, True), (20, True), (21, False), (-3, False)])
def test_arrondissement_given(number: int, in_paris: bool) -> None:
    territory = MAP.locate(arrondissement=number)
    assert territory.in_paris is in_paris
    assert territory.source == "arrondissement"


def test_coordinates_win_over_a_disagreeing_postcode() -> None:
    territory = MAP.locate(lat=48.8310, lon=2.3555, postcode="75005")
    assert territory.arrondissement == 13
    assert territory.source == "coordinates"
    assert territory.notes == ("postcode_disagrees:75005",)


def test_an_agreeing_postcode_leaves_no_note() -> None:
    assert MAP.locate(lat=48.8310, lon=2.3555, postcode="75013").notes == ()


def test_coordinates_outside_paris_with_a_paris_postcode() -> None:
    territory = MAP.locate(lat=48.9356, lon=2.3597, postcode="75018")
    assert not territory.in_paris
    assert territory.notes == ("postcode_disagrees:75018",)


def test_a_location_is_required() -> None:
    with pytest.raises(ValueError):
        MAP.locate()


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_paris_centre(number: int) -> None:
    assert sector_of(number) == "paris-centre"
    assert MAP.locate(arrondissement=number).sector == "paris-centre"


def test_sectors() -> None:
    assert len(SECTORS) == 17
    assert arrondissements_of("paris-centre") == (1, 2, 3, 4)
    assert all(sector_of(n) == f"paris-{n:02d}" for n in range(5, 21))
    assert all(sector in {sector_of(n) for n in arrondissements_of(sector)} for sector in SECTORS)


CAVS_ZONES = {
    "nord": {"paris-09", "paris-10", "paris-17", "paris-18"},
    "est": {"paris-11", "paris-12", "paris-19", "paris-20"},
    "sud": {"paris-05", "paris-13", "paris-14", "paris-15"},
    "ouest": {"paris-centre", "paris-06", "paris-07", "paris-08", "paris-16"},
}


@pytest.mark.parametrize("zone", sorted(CAVS_ZONES))
def test_cavs_zones_follow_the_reference(zone: str) -> None:
    assert {sector for sector, found in MAP.zones.items() if found == zone} == CAVS_ZONES[zone]
    for sector in CAVS_ZONES[zone]:
        assert MAP.locate(arrondissement=arrondissements_of(sector)[0]).cavs_zone == zone
