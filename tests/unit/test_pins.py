"""Every installed distribution is pinned (`[tool.uv] constraint-dependencies`, written by
`scripts/pin_dependencies.py`), and the environment is exactly what the pins say: a dependency added without
running the script, or an environment that drifted from the pins, fails here."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])


def exact(requirement: Requirement) -> str:
    specifiers = list(requirement.specifier)
    assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{requirement} : une version exacte (==)"
    return specifiers[0].version


def pins() -> dict[str, tuple[str, bool]]:
    """name → (version, whether it applies to this environment)."""
    found: dict[str, tuple[str, bool]] = {}
    for line in PYPROJECT["tool"]["uv"]["constraint-dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{name} épinglé deux fois"
        applies = requirement.marker is None or requirement.marker.evaluate()
        found[name] = (exact(requirement), applies)
    return found


def installed() -> dict[str, str]:
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        if name != PROJECT:
            found[name] = distribution.version
    return found


def test_every_installed_distribution_is_pinned_at_its_version() -> None:
    pinned = pins()
    unpinned = sorted(name for name in installed() if name not in pinned)
    assert not unpinned, f"installées sans épingle (lancer scripts/pin_dependencies.py) : {unpinned}"
    differ = {name: (v, pinned[name][0]) for name, v in installed().items() if v != pinned[name][0]}
    assert not differ, f"versions installées ≠ épingles (installée, épinglée) : {differ}"


def test_every_pin_for_this_platform_is_installed() -> None:
    environment = installed()
    missing = sorted(name for name, (_, applies) in pins().items() if applies and name not in environment)
    assert not missing, f"épinglées mais pas installées (épingle en trop ? relancer le script) : {missing}"


def test_the_pins_agree_with_the_declared_dependencies() -> None:
    # Direct dependencies are pinned where they are declared; the generated list must say the same.
    declared = [*PYPROJECT["project"]["dependencies"]]
    for group in PYPROJECT["dependency-groups"].values():
        declared.extend(group)
    pinned = pins()
    for line in declared:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} déclaré mais absent des épingles"
        version = exact(requirement)
        assert pinned[name][0] == version, f"{name} : déclaré {version}, épinglé {pinned[name][0]}"
