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
    result: ContactResult
    at: ClientInstant | None = None
    note: Note | None = None


class ResolveIn(_Strict):
    outcome: Outcome
    note: Note | None = None


class ReasonIn(_Strict):
    """`reopen` and `escalate`."""

    reason: Reason


class RequalifyIn(_Strict):
    add_flags: Flags = Field(default_factory=list)
    remove_flags: Flags = Field(default_factory=list)


class MergeIn(_Strict):
    into: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]
