"""What a reporter reads about a signal's directives: the numbers to call, in French.

The one mapping directive → words and number: the capture page, its answer and its offline panel all read it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    number: str
    words: str  # « Appelez le 115 »
    why: str  # who answers, in a few words

    @property
    def href(self) -> str:
        return f"tel:{self.number}"


def _call(number: str, why: str) -> Call:
    return Call(number=number, words=f"Appelez le {number}", why=why)


# Directive code (reference, "Directives") → the call the reporter makes now.
DIRECTIVE_CALLS: dict[str, Call] = {
    "call_15": _call("15", "SAMU : urgence médicale"),
    "call_17": _call("17", "Police secours"),
    "call_119": _call("119", "Allô enfance en danger"),
    "call_115": _call("115", "Samusocial : hébergement d'urgence"),
}
# Every directive of the reference has its words: tests/unit/test_capture_words.py.

# The numbers that need no server: shown when the phone is offline (routing will follow once the signal is sent).
SAFETY_CALLS: tuple[Call, ...] = (
    DIRECTIVE_CALLS["call_15"],
    DIRECTIVE_CALLS["call_17"],
    _call("112", "Urgences, depuis tout téléphone en Europe"),
    DIRECTIVE_CALLS["call_115"],
    DIRECTIVE_CALLS["call_119"],
)
# Most urgent first, whatever order the decision lists them in.
_URGENCY = ("call_15", "call_17", "call_119", "call_115")


def calls_for(directives: Iterable[str]) -> list[Call]:
    """The calls to make for a decision's directives, most urgent first (unknown codes are left out)."""
    wanted = set(directives)
    return [DIRECTIVE_CALLS[code] for code in _URGENCY if code in wanted]
