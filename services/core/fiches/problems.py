"""What is wrong with a fiches directory, said in French with the file and the field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    file: str  # name inside the directory, e.g. "FR01.yaml" (the directory itself when it is missing)
    field: str  # dotted path, e.g. "deadlines.ack"; "" when the whole file is concerned
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class FichesInvalid(Exception):
    """The fiches cannot be loaded; `problems` says every reason found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("fiches réflexes invalides :\n" + "\n".join(f"  {p}" for p in problems))
