"""`urgence fiches check [DIR]`: exit 0 when valid, else every problem with file and field and exit 1."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from services.cli import app

REAL = Path(__file__).resolve().parents[2] / "fiches_reflexes"


def test_check_the_real_fiches() -> None:
    result = CliRunner().invoke(app, ["fiches", "check", str(REAL)])
    assert result.exit_code == 0, result.output
    assert "fiches valides" in result.output


def test_check_defaults_to_the_project_fiches() -> None:
    result = CliRunner().invoke(app, ["fiches", "check"])
    assert result.exit_code == 0, result.output


def test_check_broken_copies(tmp_path: Path) -> None:
    broken = Path(shutil.copytree(REAL, tmp_path / "fiches"))
    fr01 = broken / "FR01.yaml"
    fr01.write_text(fr01.read_text("utf-8").replace("ack: PT1H", "ack: une heure"), "utf-8")
    fr05 = broken / "FR05.yaml"
    fr05.write_text(fr05.read_text("utf-8").replace("partners: [samu, emsp]", "partners: [samu, pompiers]"), "utf-8")
    (broken / "FR00.yaml").unlink()

    result = CliRunner().invoke(app, ["fiches", "check", str(broken)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("FR01.yaml: deadlines.ack: durée ISO 8601 invalide") for line in lines), lines
    assert any(line.startswith("FR05.yaml: partners.1: partenaire inconnu") for line in lines), lines
    assert "FR00.yaml: fichier manquant : la procédure générale FR00 est requise" in lines
    assert "fiches valides" not in result.output


def test_check_a_missing_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fiches", "check", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "introuvable" in result.output
