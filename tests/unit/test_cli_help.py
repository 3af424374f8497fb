"""The CLI's help is French throughout: `urgence --help` and every command's and group's (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from services.cli import app

ENGLISH = ("Usage:", "Show this message and exit", "Commands", "[default:", "[required]", "Try '")


def _commands() -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(command: Any, path: list[str]) -> None:
        found[" ".join(path)] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: path or "urgence")
def test_help_is_french(path: str) -> None:
    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Utilisation :" in result.output and "Affiche cette aide et quitte." in result.output
    for english in ENGLISH:
        assert english not in result.output, f"{english!r} in:\n{result.output}"
    assert COMMANDS[path].help, "the command says what it does"
    for param in COMMANDS[path].params:
        assert getattr(param, "help", None), f"{param.name} of « {path} » has no help"
