"""Bodies of the actions `POST /v1/situations/{id}/<action>` (contract, "Situations and queues")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.core.facts import Flag
from services.core.instants import ClientInstant

MAX_NOTE = 2000
MAX_REASON = 500

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON)]
Flags = Annotated[list[Flag], Field(max_length=40)]
ContactResult = Literal["met", "not_found", "refused"]
Outcome = Literal[
    "sheltered",
    "hospitalized",
    "oriented",
    "refused",
    "not_found",
    "already_supported",
    "deceased",
    "left_area",
    "other",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(_Strict):
    result: ContactResult = Field(description="`met` (rencontrée), `not_found` (non trouvée) ou `refused`")
    at: ClientInstant | None = Field(
        default=None, description="Heure du contact, RFC 3339, de 2000 à réception + 10 min ; par défaut maintenant"
    )
    note: Note | None = Field(default=None, description=f"Note ({MAX_NOTE} caractères au plus)")


class ResolveIn(_Strict):
    outcome: Outcome = Field(description="Issue de la situation")
    note: Note | None = Field(
        default=None, description=f"Note, obligatoire pour `other` ({MAX_NOTE} caractères au plus)"
    )


class ReasonIn(_Strict):
    """`reopen` and `escalate`."""

    model_config = ConfigDict(json_schema_extra={"description": "Rouvrir ou escalader : la raison"})

    reason: Reason = Field(description=f"Raison (1 à {MAX_REASON} caractères)")


class RequalifyIn(_Strict):
    add_flags: Flags = Field(default_factory=list, description="Drapeaux à ajouter")
    remove_flags: Flags = Field(default_factory=list, description="Drapeaux à retirer")


class MergeIn(_Strict):
    into: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)] = Field(
        description="Identifiant de la situation qui reçoit les signalements"
    )
