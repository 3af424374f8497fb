"""The statuses of a situation, and how people read them: the one list (API patterns, queries, pages)."""

from __future__ import annotations

from typing import Literal, get_args

SituationStatus = Literal["new", "acknowledged", "in_progress", "resolved", "merged"]
ALL_STATUSES: tuple[SituationStatus, ...] = get_args(SituationStatus)
# Least to most advanced: a merge keeps the more advanced of the two.
OPEN_STATUSES: tuple[SituationStatus, ...] = ("new", "acknowledged", "in_progress")
# For a query parameter: a pattern, whose refusal names the rule `string_pattern_mismatch`.
STATUS_PATTERN = f"^({'|'.join(ALL_STATUSES)})$"
STATUS_LABELS: dict[str, str] = {
    "new": "Nouvelle",
    "acknowledged": "Prise en compte",
    "in_progress": "En cours",
    "resolved": "Close",
    "merged": "Fusionnée",
}


def status_label(status: str) -> str:
    """« Prise en compte » for `acknowledged`; an unknown status as it is."""
    return STATUS_LABELS.get(status, status)
