"""The fiches réflexes as data: schema, loading, validation, compiled conditions.

The procedures live in `fiches_reflexes/` (one YAML file per fiche, plus precedence and modifiers); this
package validates them and builds an immutable FicheBook that routing reads. See fiches_reflexes/README.md.
"""

from __future__ import annotations

from services.core.fiches.book import Fiche, FicheBook, Modifier, OutOfTerritory
from services.core.fiches.conditions import Because, Condition, compile_condition
from services.core.fiches.durations import format_duration, parse_duration
from services.core.fiches.loader import (
    check_fiches,
    content_hash,
    effective_version,
    load_documents,
    load_fiches,
    read_fiches,
)
from services.core.fiches.problems import FichesInvalid, Problem
from services.core.fiches.vocabulary import (
    COUNT_FIELDS,
    DIRECTIVES,
    FALLBACK_CODE,
    LEAD_KINDS,
    PARTNERS,
    WEATHER_LEVELS,
)

__all__ = [
    "COUNT_FIELDS",
    "DIRECTIVES",
    "FALLBACK_CODE",
    "LEAD_KINDS",
    "PARTNERS",
    "WEATHER_LEVELS",
    "Because",
    "Condition",
    "Fiche",
    "FicheBook",
    "FichesInvalid",
    "Modifier",
    "OutOfTerritory",
    "Problem",
    "check_fiches",
    "compile_condition",
    "content_hash",
    "effective_version",
    "format_duration",
    "load_documents",
    "load_fiches",
    "parse_duration",
    "read_fiches",
]
