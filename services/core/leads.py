"""A lead: the queue that owns a situation, `eps:<sector>`, `cavs:<zone>` or `mus`. Written and read here only;
everywhere else a lead travels as its text (columns, tokens, URLs)."""

from __future__ import annotations

from dataclasses import dataclass

LEAD_MUS = "mus"


@dataclass(frozen=True)
class Lead:
    kind: str  # eps, cavs or mus (any text for a lead read from outside: check it with `validate_lead`)
    where: str = ""  # the sector of an EPS, the zone of a CAVS; empty for the MUS

    @classmethod
    def parse(cls, text: str) -> Lead:
        if text == LEAD_MUS:
            return MUS
        kind, _, where = text.partition(":")
        return cls(kind, where)

    @classmethod
    def eps(cls, sector: str) -> Lead:
        return cls("eps", sector)

    @classmethod
    def cavs(cls, zone: str) -> Lead:
        return cls("cavs", zone)

    @property
    def is_mus(self) -> bool:
        return self.kind == LEAD_MUS

    def __str__(self) -> str:
        return LEAD_MUS if self.is_mus else f"{self.kind}:{self.where}"


MUS = Lead(LEAD_MUS)
