"""ISO 8601 durations, the subset that has a fixed length: weeks, days, hours, minutes, seconds.

Years and months are refused: "P1M" has no fixed number of seconds, and a deadline must.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """`PT30M` → 30 minutes; raises ValueError (French message) on anything else."""
    match = _DURATION.match(text)
    # "P", "PT" and "P1DT" match the pattern with no usable component after the designator.
    if match is None or text.endswith(("P", "T")):
        raise ValueError(f"durée ISO 8601 invalide : {text!r} (exemples : PT30M, PT4H, P1D, P14D)")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    if "years" in parts or "months" in parts:
        raise ValueError(f"durée ISO 8601 invalide : {text!r} (années et mois refusés : durée variable)")
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise ValueError(f"durée ISO 8601 invalide : {text!r} (doit être strictement positive)")
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest ISO 8601 spelling of a whole number of seconds, e.g. 90 minutes → `PT1H30M`."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    date = f"{days}D" if days else ""
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + date + (f"T{time}" if time else "") if (date or time) else "PT0S"
