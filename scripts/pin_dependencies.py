"""Pin every distribution the project installs, indirect ones included, without committing a lock file.

`uv run python scripts/pin_dependencies.py` resolves the project (every dependency group, every platform the
resolution covers) with uv and writes the result, one `name==version` per distribution with its environment
marker when it has one, to `[tool.uv] constraint-dependencies` in `pyproject.toml`. uv then installs exactly
these versions on every machine, a week or a year apart. Direct dependencies stay pinned where they are declared
(`[project]`, `[dependency-groups]`); this list adds what they bring.

Run it after adding, removing or changing a dependency. It is idempotent (the current pins are part of the
resolution, so a second run writes the same file) and takes about a second. `--upgrade` resolves again without
the current pins: indirect dependencies move to their newest versions that fit the direct ones.
`tests/unit/test_pins.py` fails when the installed environment and these pins disagree.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
HEADER = (
    "# Every distribution of the resolution, indirect ones included: written by scripts/pin_dependencies.py\n"
    "# (run it after changing a dependency; tests/unit/test_pins.py checks the environment against it).\n"
)
BLOCK = re.compile(r"(?:^#[^\n]*\n)*^constraint-dependencies = \[\n(?:[^\]]*\n)?\]\n", re.MULTILINE)
SECTION = re.compile(r"^\[tool\.uv\]\n", re.MULTILINE)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")


def resolve(upgrade: bool) -> list[str]:
    """`name==version[ ; marker]` for every distribution uv resolves, sorted by name."""
    command = [os.environ.get("UV", "uv"), "export", "--format", "requirements.txt", "--no-hashes"]
    command += ["--no-emit-project", "--all-groups", "--no-header", "--no-annotate", "--quiet"]
    if upgrade:
        command.append("--upgrade")
    done = subprocess.run(command, cwd=PYPROJECT.parent, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit("la résolution a échoué ; si une épingle gêne, relancez avec --upgrade")
    pins = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match is None:
            sys.exit(f"ligne inattendue dans la résolution : {line!r}")
        name, version, marker = match.groups()
        pins.append(f"{name}=={version}" + (f" ; {marker}" if marker else ""))
    return sorted(pins, key=lambda pin: re.split(r"[=; ]", pin, maxsplit=1)[0].lower())


def render(pins: list[str]) -> str:
    items = "".join(f'    "{pin.replace(chr(34), chr(39))}",\n' for pin in pins)
    return f"{HEADER}constraint-dependencies = [\n{items}]\n"


def write(text: str, pins: list[str]) -> str:
    block = render(pins)
    if BLOCK.search(text):
        return BLOCK.sub(lambda _: block, text, count=1)
    section = SECTION.search(text)
    if section is None:
        return text.rstrip("\n") + "\n\n[tool.uv]\n" + block
    # At the end of the [tool.uv] table: before the next table header.
    following = re.compile(r"^\[", re.MULTILINE).search(text, section.end())
    at = following.start() if following else len(text)
    before = text[:at].rstrip("\n") + "\n"
    return before + block + ("\n" + text[at:] if following else "")


def without_pins(text: str) -> str:
    return BLOCK.sub("", text, count=1)


def main() -> None:
    parser = argparse.ArgumentParser(description="Épingle toutes les distributions résolues dans pyproject.toml.")
    parser.add_argument("--upgrade", action="store_true", help="résout sans les épingles actuelles")
    args = parser.parse_args()
    original = PYPROJECT.read_text("utf-8")
    if args.upgrade:
        PYPROJECT.write_text(without_pins(original), "utf-8")
    try:
        pins = resolve(args.upgrade)
    except BaseException:
        PYPROJECT.write_text(original, "utf-8")
        raise
    updated = write(PYPROJECT.read_text("utf-8"), pins)
    tomllib.loads(updated)  # never leave a file uv cannot read
    PYPROJECT.write_text(updated, "utf-8")
    state = "inchangées" if updated == original else "mises à jour"
    print(f"{len(pins)} distributions épinglées ({state}) dans {PYPROJECT.name}")


if __name__ == "__main__":
    main()
