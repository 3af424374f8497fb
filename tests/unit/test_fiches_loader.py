"""The loader refuses every kind of broken fiche, naming the file and the field; versions follow content."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.core.fiches import FicheBook, FichesInvalid, Problem, check_fiches, load_fiches

REAL = Path(__file__).resolve().parents[2] / "fiches_reflexes"
Edit = Callable[[Path], None]


@pytest.fixture
def fiches_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REAL, tmp_path / "fiches"))


def change(name: str, mutate: Callable[[dict[str, Any]], None]) -> Edit:
    """An edit of one file through its parsed content (comments are lost, which changes no content)."""

    def edit(directory: Path) -> None:
        path = directory / name
        data = yaml.safe_load(path.read_text("utf-8"))
        mutate(data)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")

    return edit


def write(name: str, text: str) -> Edit:
    def edit(directory: Path) -> None:
        (directory / name).write_text(text, "utf-8")

    return edit


def delete(name: str) -> Edit:
    def edit(directory: Path) -> None:
        (directory / name).unlink()

    return edit


def copy_as(source: str, target: str) -> Edit:
    def edit(directory: Path) -> None:
        shutil.copy(directory / source, directory / target)

    return edit


def set_key(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def drop_key(*path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


BROKEN: list[tuple[str, Edit, str, str, str]] = [
    # (id, edit, file, field, part of the message)
    ("yaml_syntax", write("FR01.yaml", "code: FR01\nlabel: [pas fermé\n"), "FR01.yaml", "", "YAML invalide"),
    ("yaml_duplicate_key", write("FR01.yaml", "code: FR01\ncode: FR02\n"), "FR01.yaml", "", "clé en double"),
    ("not_a_mapping", write("FR01.yaml", "- FR01\n"), "FR01.yaml", "", "table"),
    ("unknown_key", change("FR01.yaml", set_key("colour", value="rouge")), "FR01.yaml", "colour", "clé inconnue"),
    (
        "missing_key",
        change("FR01.yaml", drop_key("deadlines", "resolve")),
        "FR01.yaml",
        "deadlines.resolve",
        "manquant",
    ),
    ("wrong_type_label", change("FR02.yaml", set_key("label", value=3)), "FR02.yaml", "label", "texte attendu"),
    ("wrong_type_partners", change("FR02.yaml", set_key("partners", value="pmi")), "FR02.yaml", "partners", "liste"),
    ("version_as_date", write("FR03.yaml", "version: 2026-11-29\n"), "FR03.yaml", "version", "texte attendu"),
    (
        "bad_duration",
        change("FR01.yaml", set_key("deadlines", "ack", value="1 heure")),
        "FR01.yaml",
        "deadlines.ack",
        "durée ISO 8601 invalide",
    ),
    (
        "months_duration",
        change("FR01.yaml", set_key("deadlines", "resolve", value="P1M")),
        "FR01.yaml",
        "deadlines.resolve",
        "durée ISO 8601 invalide",
    ),
    (
        "number_duration",
        change("FR01.yaml", set_key("deadlines", "ack", value=3600)),
        "FR01.yaml",
        "deadlines.ack",
        "durée ISO 8601",
    ),
    (
        "deadlines_order",
        change("FR05.yaml", set_key("deadlines", "ack", value="PT2H")),
        "FR05.yaml",
        "deadlines",
        "ack ≤ contact ≤ resolve",
    ),
    (
        "unknown_flag",
        change("FR02.yaml", set_key("applies_when", "any", 0, "flag", value="enceinte")),
        "FR02.yaml",
        "applies_when.any.0.flag",
        "drapeau inconnu",
    ),
    (
        "unknown_condition",
        change("FR01.yaml", set_key("applies_when", value={"kids": 1})),
        "FR01.yaml",
        "applies_when.kids",
        "condition inconnue",
    ),
    (
        "bad_count_bound",
        change("FR01.yaml", set_key("applies_when", "min", value="1")),
        "FR01.yaml",
        "applies_when.min",
        "entier",
    ),
    (
        "unknown_count",
        change("FR01.yaml", set_key("applies_when", "count", value="enfants")),
        "FR01.yaml",
        "applies_when.count",
        "compte inconnu",
    ),
    (
        "unknown_gender",
        change("FR07.yaml", set_key("applies_when", "all", 3, "genders_all", value="femme")),
        "FR07.yaml",
        "applies_when.all.3.genders_all",
        "valeur inconnue",
    ),
    (
        "weather_level_out_of_range",
        change("FR11.yaml", set_key("applies_when", "any", 2, "all", 1, "weather", "canicule", value=5)),
        "FR11.yaml",
        "applies_when.any.2.all.1.weather.canicule",
        "niveau",
    ),
    ("no_rule", change("FR13.yaml", drop_key("applies_when")), "FR13.yaml", "applies_when", "manquant"),
    (
        "rule_on_fr00",
        change("FR00.yaml", set_key("applies_when", value={"flag": "camp"})),
        "FR00.yaml",
        "applies_when",
        "aucune autre fiche",
    ),
    (
        "unknown_partner",
        change("FR01.yaml", set_key("partners", 0, value="croix-rouge")),
        "FR01.yaml",
        "partners.0",
        "partenaire inconnu",
    ),
    (
        "duplicate_partner",
        change("FR01.yaml", set_key("partners", 1, value="siao-115")),
        "FR01.yaml",
        "partners",
        "double",
    ),
    (
        "unknown_directive",
        change("FR01.yaml", set_key("directives", 0, value="call_18")),
        "FR01.yaml",
        "directives.0.code",
        "consigne inconnue",
    ),
    (
        "bad_directive_condition",
        change("FR06.yaml", set_key("directives", 0, "when", value={"flag": "suicide"})),
        "FR06.yaml",
        "directives.0.when.flag",
        "drapeau inconnu",
    ),
    ("unknown_lead", change("FR01.yaml", set_key("lead", value="samu")), "FR01.yaml", "lead", "type de pilote inconnu"),
    ("empty_checklist", change("FR01.yaml", set_key("checklist", value=[])), "FR01.yaml", "checklist", "liste vide"),
    ("bad_code", change("FR01.yaml", set_key("code", value="F1")), "FR01.yaml", "code", "format invalide"),
    ("file_name_mismatch", change("FR01.yaml", set_key("code", value="FR21")), "FR01.yaml", "code", "FR21.yaml"),
    ("duplicate_code", copy_as("FR01.yaml", "FR15.yaml"), "FR15.yaml", "code", "code en double"),
    ("fr00_missing", delete("FR00.yaml"), "FR00.yaml", "", "fichier manquant"),
    ("fiche_file_missing", delete("FR07.yaml"), "precedence.yaml", "order.9", "fiche inconnue : FR07"),
    ("precedence_missing", delete("precedence.yaml"), "precedence.yaml", "", "fichier manquant"),
    ("modifiers_missing", delete("modifiers.yaml"), "modifiers.yaml", "", "fichier manquant"),
    (
        "fiche_not_in_precedence",
        change("precedence.yaml", lambda d: d["order"].remove("FR13")),
        "precedence.yaml",
        "order",
        "absente de l'ordre de priorité : FR13",
    ),
    (
        "precedence_unknown_fiche",
        change("precedence.yaml", lambda d: d["order"].append("FR99")),
        "precedence.yaml",
        "order.14",
        "fiche inconnue : FR99",
    ),
    (
        "precedence_duplicate",
        change("precedence.yaml", lambda d: d["order"].append("FR01")),
        "precedence.yaml",
        "order",
        "double",
    ),
    (
        "fr00_in_precedence",
        change("precedence.yaml", lambda d: d["order"].append("FR00")),
        "precedence.yaml",
        "order.14",
        "FR00",
    ),
    (
        "slower_than_fr00",
        change("FR13.yaml", set_key("deadlines", "resolve", value="P30D")),
        "FR13.yaml",
        "deadlines.resolve",
        "FR00",
    ),
    (
        "modifier_unknown_flag",
        change("modifiers.yaml", set_key("modifiers", 0, "when", "flag", value="danger")),
        "modifiers.yaml",
        "modifiers.0.when.flag",
        "drapeau inconnu",
    ),
    (
        "modifier_unknown_partner",
        change("modifiers.yaml", set_key("modifiers", 2, "partners", 0, value="spa")),
        "modifiers.yaml",
        "modifiers.2.partners.0",
        "partenaire inconnu",
    ),
    (
        "out_of_territory_directive",
        change("modifiers.yaml", set_key("out_of_territory", "directives", 0, value="call_116")),
        "modifiers.yaml",
        "out_of_territory.directives.0",
        "consigne inconnue",
    ),
    ("stray_yml", copy_as("FR01.yaml", "FR16.yml"), "FR16.yml", "", ".yaml"),
]


def test_the_real_fiches_are_valid() -> None:
    assert check_fiches(REAL) == []
    book = load_fiches(REAL)
    assert book.codes == tuple(f"FR{n:02d}" for n in range(15))
    assert book.precedence[0] == "FR14"
    assert book.label("FR01") == "Famille avec enfant(s) à la rue"
    assert [m.code for m in book.modifiers] == ["immediate_danger", "child_in_danger", "animals"]


@pytest.mark.parametrize(("edit", "file", "field", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_each_kind_of_error_is_named_with_file_and_field(
    fiches_dir: Path, edit: Edit, file: str, field: str, message: str
) -> None:
    edit(fiches_dir)
    problems = check_fiches(fiches_dir)
    matching = [p for p in problems if p.file == file and p.field == field]
    assert matching, f"aucun problème {file}: {field} parmi {[str(p) for p in problems]}"
    assert any(message in p.message for p in matching), [str(p) for p in matching]
    with pytest.raises(FichesInvalid) as raised:
        load_fiches(fiches_dir)
    assert raised.value.problems == problems


def test_a_broken_fiche_is_reported_once(fiches_dir: Path) -> None:
    change("FR07.yaml", set_key("deadlines", "ack", value="2h"))(fiches_dir)
    assert [str(p) for p in check_fiches(fiches_dir)] == [
        "FR07.yaml: deadlines.ack: durée ISO 8601 invalide : '2h' (exemples : PT30M, PT4H, P1D, P14D)"
    ]


def test_every_problem_is_reported_not_just_the_first(fiches_dir: Path) -> None:
    change("FR01.yaml", set_key("lead", value="x"))(fiches_dir)
    change("FR02.yaml", set_key("partners", 0, value="y"))(fiches_dir)
    delete("modifiers.yaml")(fiches_dir)
    assert {p.file for p in check_fiches(fiches_dir)} == {"FR01.yaml", "FR02.yaml", "modifiers.yaml"}


def test_missing_directory() -> None:
    problems = check_fiches(Path("/nonexistent/fiches"))
    assert [str(p) for p in problems] == ["/nonexistent/fiches: dossier des fiches introuvable"]


def test_problem_str() -> None:
    assert str(Problem("FR01.yaml", "deadlines.ack", "durée ISO 8601 invalide")) == (
        "FR01.yaml: deadlines.ack: durée ISO 8601 invalide"
    )
    assert str(Problem("FR00.yaml", "", "fichier manquant")) == "FR00.yaml: fichier manquant"


def versions(book: FicheBook) -> dict[str, str]:
    return {fiche.code: fiche.version for fiche in book}


def test_changing_content_changes_the_version_even_with_the_same_declared_version(fiches_dir: Path) -> None:
    before = load_fiches(fiches_dir)
    change("FR01.yaml", set_key("deadlines", "ack", value="PT45M"))(fiches_dir)
    after = load_fiches(fiches_dir)
    assert after.fiche("FR01").declared_version == before.fiche("FR01").declared_version
    assert after.version("FR01") != before.version("FR01")
    assert after.version("FR01").startswith(before.fiche("FR01").declared_version + "+")
    assert {c: v for c, v in versions(after).items() if c != "FR01"} == {
        c: v for c, v in versions(before).items() if c != "FR01"
    }
    assert after.fingerprint != before.fingerprint


def test_changing_a_checklist_step_changes_the_version(fiches_dir: Path) -> None:
    before = load_fiches(fiches_dir).version("FR12")
    change("FR12.yaml", lambda d: d["checklist"].append("Prévenir la préfecture."))(fiches_dir)
    assert load_fiches(fiches_dir).version("FR12") != before


def test_comments_and_layout_do_not_change_the_version(fiches_dir: Path) -> None:
    before = load_fiches(fiches_dir)
    path = fiches_dir / "FR06.yaml"
    text = path.read_text("utf-8")
    path.write_text("# une remarque\n" + text.replace("lead: cavs", "lead:   cavs   # pilote"), "utf-8")
    change("FR09.yaml", lambda d: None)(fiches_dir)  # re-dumped: other layout, same content
    after = load_fiches(fiches_dir)
    assert versions(after) == versions(before)
    assert after.fingerprint == before.fingerprint


def test_changing_only_the_declared_version_changes_the_version(fiches_dir: Path) -> None:
    before = load_fiches(fiches_dir).version("FR03")
    change("FR03.yaml", set_key("version", value="2026-12-01.1"))(fiches_dir)
    after = load_fiches(fiches_dir).version("FR03")
    assert after.startswith("2026-12-01.1+")
    assert after.split("+")[1] == before.split("+")[1]


def test_precedence_and_modifier_changes_change_the_fingerprint(fiches_dir: Path) -> None:
    before = load_fiches(fiches_dir)

    def swap(data: dict[str, Any]) -> None:
        data["order"][0], data["order"][1] = data["order"][1], data["order"][0]

    change("precedence.yaml", swap)(fiches_dir)
    swapped = load_fiches(fiches_dir)
    assert swapped.precedence[:2] == ("FR05", "FR14")
    assert versions(swapped) == versions(before)
    assert swapped.fingerprint != before.fingerprint
    assert swapped.precedence_version != before.precedence_version

    change("modifiers.yaml", set_key("modifiers", 2, "partners", value=["accueil-animaux", "uasa"]))(fiches_dir)
    modified = load_fiches(fiches_dir)
    assert modified.modifiers[2].version != before.modifiers[2].version
    assert modified.modifiers[0].version == before.modifiers[0].version
    assert modified.fingerprint != swapped.fingerprint


def test_the_book_is_immutable() -> None:
    book = load_fiches(REAL)
    with pytest.raises(TypeError):
        book.fiches["FR99"] = book.fallback  # type: ignore[index]
    with pytest.raises(AttributeError):
        book.fingerprint = "x"  # type: ignore[misc]
