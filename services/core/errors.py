"""Domain errors, mapped to HTTP problem details by the API and to messages by the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path in the request body, e.g. "people.adults"
    rule: str  # machine-readable rule, e.g. "max_length", "future"
    message: str  # French, for people


class DomainError(Exception):
    """Base: `title` says what kind of problem it is, in French."""

    title = "Requête refusée"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class InvalidInput(DomainError):
    errors: list[FieldError] = field(default_factory=list)
    title = "Données invalides"

    def __post_init__(self) -> None:
        detail = "; ".join(f"{e.field} : {e.message}" for e in self.errors)
        DomainError.__init__(self, detail)


class NotFound(DomainError):
    title = "Introuvable"


class Conflict(DomainError):
    title = "Conflit"


class Forbidden(DomainError):
    title = "Accès refusé"
