"""What every answer model shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema


class Answer(BaseModel):
    """An answer's shape, exactly: a key the route writes and the model does not name is an error (in tests, a
    500), so the document cannot silently fall behind the code."""

    model_config = ConfigDict(extra="forbid")


# Instants are written by `rfc3339` (UTC, `Z`): kept as the route wrote them, documented as date-time.
Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
