"""The intake payload of `POST /v1/signals`, validated field by field (contract, "Signals")."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.core.facts import FLAGS_WITHOUT_PEOPLE, AgeBand, Facts, Flag, Gender, People
from services.core.instants import ClientInstant

Source = Literal["maraude", "mairie", "riverain", "partenaire", "police", "transport", "sante", "numero_115", "autre"]
Count = Annotated[int, Field(ge=0, le=500, strict=True)]
MAX_PEOPLE_LIST = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(_Strict):
    """Exactly one of: coordinates (optionally with a postcode), a postcode (optionally with an address),
    an arrondissement number."""

    # Numbers only (strict): "48.8" or true are not coordinates.
    model_config = ConfigDict(
        json_schema_extra={
            "description": "Exactement une forme : {lat, lon} (avec postcode facultatif), {postcode, address?} "
            "ou {arrondissement}"
        }
    )

    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="Latitude WGS84 (un nombre), avec lon"
    )
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="Longitude WGS84 (un nombre), avec lat"
    )
    postcode: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = Field(
        default=None, description="Code postal (5 chiffres)"
    )
    address: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None, description="Adresse, avec un code postal"
    )
    arrondissement: Annotated[int, Field(ge=1, le=20, strict=True)] | None = Field(
        default=None, description="Arrondissement de Paris (1 à 20)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        has_coords = self.lat is not None or self.lon is not None
        if has_coords and (self.lat is None or self.lon is None):
            raise ValueError("lat et lon vont ensemble")
        kinds = sum([has_coords, self.postcode is not None and not has_coords, self.arrondissement is not None])
        if kinds != 1:
            raise ValueError(
                "exactement une forme de localisation : {lat, lon} (avec postcode facultatif), "
                "{postcode, address?} ou {arrondissement}"
            )
        if self.address is not None and self.postcode is None:
            raise ValueError("address accompagne un postcode")
        return self


class PeopleIn(_Strict):
    adults: Count = Field(default=0, description="Nombre d'adultes (0 à 500)")
    children: Count = Field(default=0, description="Nombre d'enfants accompagnés (0 à 500)")
    unaccompanied_minors: Count = Field(default=0, description="Nombre de mineurs non accompagnés (0 à 500)")
    adult_genders: Annotated[list[Gender], Field(max_length=MAX_PEOPLE_LIST)] | None = Field(
        default=None, description="Genre de chaque adulte (au plus autant que d'adultes)"
    )
    adult_age_bands: Annotated[list[AgeBand], Field(max_length=MAX_PEOPLE_LIST)] | None = Field(
        default=None, description="Tranche d'âge de chaque adulte (au plus autant que d'adultes)"
    )

    @model_validator(mode="after")
    def _lists_fit_adults(self) -> Self:
        for name in ("adult_genders", "adult_age_bands"):
            values = getattr(self, name)
            if values is not None and len(values) > self.adults:
                raise ValueError(f"{name} a plus d'entrées ({len(values)}) que d'adultes ({self.adults})")
        return self

    def to_people(self) -> People:
        return People(
            adults=self.adults,
            children=self.children,
            unaccompanied_minors=self.unaccompanied_minors,
            adult_genders=None if self.adult_genders is None else tuple(self.adult_genders),
            adult_age_bands=None if self.adult_age_bands is None else tuple(self.adult_age_bands),
        )


class SignalIn(_Strict):
    observed_at: ClientInstant | None = Field(
        default=None,
        description="Heure d'observation, RFC 3339 avec décalage ; par défaut l'heure de réception ; "
        "entre le 1er janvier 2000 et 10 minutes après la réception",
    )
    location: Location = Field(description="Où la ou les personnes ont été vues")
    place: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Précision du lieu (500 caractères au plus)"
    )
    source: Source = Field(description="Origine du signalement")
    # flags before people: the people check reads them.
    flags: Annotated[list[Flag], Field(max_length=40)] = Field(
        default_factory=list, description="Drapeaux, du vocabulaire des fiches réflexes"
    )
    people: PeopleIn = Field(
        default_factory=PeopleIn,
        validate_default=True,
        description="Les personnes : au moins une, sauf avec le drapeau camp ou deceased",
    )
    description: Annotated[str, StringConstraints(max_length=4000)] | None = Field(
        default=None, description="Description (4000 caractères au plus)"
    )

    @field_validator("people")
    @classmethod
    def _someone_or_a_camp(cls, people: PeopleIn, info: ValidationInfo) -> PeopleIn:
        flags = set(info.data.get("flags") or ())
        if people.adults + people.children + people.unaccompanied_minors == 0 and not FLAGS_WITHOUT_PEOPLE & flags:
            raise ValueError("au moins une personne, sauf avec le drapeau camp ou deceased")
        return people

    def facts(self) -> Facts:
        return Facts(people=self.people.to_people(), flags=frozenset(self.flags))


class SignalAccepted(BaseModel):
    id: str = Field(description="Identifiant du signalement")
    status: Literal["received"] = Field(description="Toujours `received` : le routage suit")
    directives: list[str] = Field(description="Consignes immédiates (ex. `call_115`), triées")
    links: dict[str, str] = Field(description="Liens : `self`, l'adresse du signalement")
