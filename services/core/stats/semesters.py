"""Semesters and days in Paris time: [1 Jan, 1 Jul) and [1 Jul, 1 Jan), by signal reception time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.core.errors import FieldError, InvalidInput

PARIS = ZoneInfo("Europe/Paris")
_SEMESTER = re.compile(r"^(\d{4})-S([12])$")


def paris_midnight(day: date) -> datetime:
    """The instant a Paris day starts (aware): 23:00 or 22:00 UTC the day before, depending on DST."""
    return datetime.combine(day, time(0), tzinfo=PARIS)


def paris_day(instant: datetime) -> date:
    return instant.astimezone(PARIS).date()


@dataclass(frozen=True, order=True)
class Semester:
    year: int
    half: int  # 1: January–June, 2: July–December

    @classmethod
    def parse(cls, text: str, *, field: str = "semester") -> Semester:
        found = _SEMESTER.match(text)
        if found is None or not 2000 <= int(found.group(1)) <= 2100:
            raise InvalidInput([FieldError(field, "format", "semestre attendu sous la forme AAAA-S1 ou AAAA-S2")])
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, instant: datetime) -> Semester:
        day = paris_day(instant)
        return cls(day.year, 1 if day.month <= 6 else 2)

    @property
    def code(self) -> str:
        return f"{self.year}-S{self.half}"

    @property
    def label(self) -> str:
        return f"{'1er' if self.half == 1 else '2e'} semestre {self.year}"

    @property
    def first_day(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def end_day(self) -> date:
        """The first day after the semester."""
        return date(self.year, 7, 1) if self.half == 1 else date(self.year + 1, 1, 1)

    @property
    def start(self) -> datetime:
        return paris_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return paris_midnight(self.end_day)

    def previous(self) -> Semester:
        return Semester(self.year, 1) if self.half == 2 else Semester(self.year - 1, 2)

    def days(self) -> list[date]:
        return days_between(self.first_day, self.end_day)

    def __str__(self) -> str:
        return self.code


def days_between(first: date, end: date) -> list[date]:
    """Days in [first, end)."""
    return [first + timedelta(days=n) for n in range((end - first).days)]
