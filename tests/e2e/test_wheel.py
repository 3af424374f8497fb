"""The distribution as installed from its wheel: everything it reads at run time is inside it, so the one
command works away from a checkout (the procedures by default included)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from services.core.settings import PROJECT_ROOT


def test_the_installed_wheel_carries_the_fiches_and_checks_them_by_default(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "uv est requis pour construire la distribution"
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(PROJECT_ROOT)], check=True)
    (wheel,) = (tmp_path / "dist").glob("urgence-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(installed)

    shipped = {path.name for path in (installed / "services" / "fiches_reflexes").iterdir()}
    in_checkout = {path.name for path in (PROJECT_ROOT / "fiches_reflexes").iterdir()}
    assert shipped == in_checkout
    assert (installed / "services" / "core" / "data" / "paris-arrondissements.geojson").is_file()

    # Run from the unpacked wheel, away from the checkout: the default fiches are the packaged ones.
    env = {k: v for k, v in os.environ.items() if k != "URGENCE_FICHES_DIR"} | {"PYTHONPATH": str(installed)}
    script = "import sys, services; print(services.__file__); from services.cli import app; app()"
    checked = subprocess.run(
        [sys.executable, "-c", script, "fiches", "check"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[0].startswith(str(installed))
