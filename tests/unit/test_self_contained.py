"""The repository stands alone: no tracked file reads or names a path outside it.

A plain clone, with nothing beside it, must pass its tests and carry its documentation (`.ci/run` proves it by
running the suite from a fresh clone in an empty temporary folder). This test catches the mistake earlier and
names the line: a path that climbs out of the checkout (`..` then `shared`), a path into the read-only design
folder that sits beside the working trees, a `Path` built on a `"shared"` component, or an absolute path of this
workplace. It reads the files git tracks, whatever is beside the checkout: the test never looks there.

The patterns are written so that this file does not match them itself.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

OUTSIDE = {
    "a path climbing out of the checkout": re.compile(r"\.\.[/\\]+shared\b"),
    "a path into the design folder beside the checkout": re.compile(
        r"(?<![\w.-])shared[/\\](?:cases|contract|reference|hooks|ARCHITECTURE)"
    ),
    "a path built on a 'shared' component": re.compile(r"[/]\s*[\"']shared[\"']"),
    "an absolute path of the workplace": re.compile(r"(?<![\w.])[/]work[/]"),
}


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, text=True
    ).stdout.split("\0")
    return [name for name in listed if name]


def outside_references(name: str, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in OUTSIDE.items():
            if pattern.search(line):
                found.append(f"{name}:{number}: {what}: {line.strip()[:120]}")
    return found


def test_the_checks_find_what_they_look_for() -> None:
    # Each pattern catches its own kind of line (built here so that this file's text never holds one).
    up, beside = ".." + "/", "shared" + "/"
    samples = [
        f"see {up}{beside}contract/api-v1.md",
        f"Référence : `{beside}reference/fiches-reflexes.md`",
        'CASES = REPO.parent / "' + 'shared" / "cases"',
        "cp /" + "work/" + "x .",
    ]
    for sample in samples:
        assert outside_references("sample", sample), sample
    assert not outside_references("sample", "shared_buffers = 256MB  # helpers shared by the routers")


def test_no_tracked_file_reads_or_names_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert "tests/data/routing-cases.json" in files  # the listing is the repository's, not an empty one
    found: list[str] = []
    for name in files:
        path = REPO / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        found.extend(outside_references(name, path.read_bytes().decode("utf-8", errors="replace")))
    assert not found, "des fichiers suivis visent un chemin hors du dépôt :\n" + "\n".join(found)


def test_the_repository_carries_its_documentation() -> None:
    contract = (REPO / "docs/contract/api-v1.md").read_text("utf-8")
    assert contract.startswith("# Public contract, version 1") and "## Additions in 1.1" in contract
    assert (REPO / "docs/contract/pages-v1.md").read_text("utf-8").startswith("# Web pages, version 1")
    assert "## The fiches" in (REPO / "docs/reference/fiches-reflexes.md").read_text("utf-8")
    assert "## Invariants" in (REPO / "docs/architecture.md").read_text("utf-8")
    # The polygons shipped are the ones the reference describes, credited: the documented digest is theirs.
    polygons = REPO / "services/core/data/paris-arrondissements.geojson"
    reference = (REPO / "docs/reference/README.md").read_text("utf-8")
    assert hashlib.sha256(polygons.read_bytes()).hexdigest() in reference
    assert "Ville de Paris" in reference and "ODbL" in reference
