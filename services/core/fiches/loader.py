"""Read a fiches directory, validate everything, and build the FicheBook (or say every problem found)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from services.core.deadlines import DEADLINE_KINDS, Deadlines
from services.core.fiches.book import Fiche, FicheBook, Modifier, OutOfTerritory
from services.core.fiches.conditions import Condition, Issue, compile_condition
from services.core.fiches.problems import FichesInvalid, Problem
from services.core.fiches.schema import FicheModel, ModifiersModel, PrecedenceModel
from services.core.fiches.vocabulary import FALLBACK_CODE, MODIFIERS_FILE, NOT_FICHES, PRECEDENCE_FILE

Model = TypeVar("Model", bound=BaseModel)
_CODE = re.compile(r"^FR\d{2}$")

_PYDANTIC_MESSAGES = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "clé inconnue",
    "string_type": "texte attendu (entre guillemets si la valeur ressemble à une date ou à un nombre)",
    "int_type": "entier attendu",
    "list_type": "liste attendue",
    "model_type": "table (clé: valeur) attendue",
    "dict_type": "table (clé: valeur) attendue",
    "string_too_short": "texte vide",
    "too_short": "liste vide",
}


def check_fiches(directory: Path) -> list[Problem]:
    """Every problem of the directory, sorted by file and field; empty when the fiches are valid."""
    try:
        load_fiches(directory)
    except FichesInvalid as invalid:
        return invalid.problems
    return []


def load_fiches(directory: Path) -> FicheBook:
    """The fiches of `directory`; raises FichesInvalid listing every problem found."""
    return read_fiches(directory)[0]


def read_fiches(directory: Path) -> tuple[FicheBook, dict[str, Any]]:
    """The fiches of `directory` and its parsed documents (file name → document), the seed of the published
    versions; raises FichesInvalid listing every problem found."""
    loader = _Loader(directory)
    book = loader.load()
    if loader.problems or book is None:
        raise FichesInvalid(sorted(set(loader.problems)))
    return book, dict(loader.raw)


def load_documents(documents: Mapping[str, Any]) -> FicheBook:
    """The book made of parsed documents (file name → document, as `read_fiches` gives them and the database
    keeps them): the same checks as a directory's, so a draft is refused for what `urgence fiches check` would
    refuse in a file. Raises FichesInvalid listing every problem found."""
    loader = _Loader(Path("."), documents=documents)
    book = loader.load()
    if loader.problems or book is None:
        raise FichesInvalid(sorted(set(loader.problems)))
    return book


def content_hash(data: Any) -> str:
    """sha256 of the canonical JSON of a parsed document: comments and layout do not count, content does."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def effective_version(declared: str, data: dict[str, Any]) -> str:
    """`<declared>+<8 hex>`: the hash covers everything but the declared version itself."""
    return f"{declared}+{content_hash({k: v for k, v in data.items() if k != 'version'})[:8]}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys silently; a fiche with two `deadlines:` must be refused."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"clé en double : {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    where = f" (ligne {mark.line + 1}, colonne {mark.column + 1})" if mark is not None else ""
    reason = getattr(err, "problem", None) or str(err)
    return f"YAML invalide{where} : {reason}"


def parse_document(text: str) -> Any:
    """One document written as a file of the directory is (YAML, two equal keys refused); raises ValueError
    saying where and why, in French."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ValueError(_yaml_problem(err)) from None


def _field(loc: tuple[int | str, ...]) -> str:
    # Pydantic adds the validator's name to some locations (e.g. "function-after[...]"); people need the path.
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def _message(error: Any) -> str:
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "string_pattern_mismatch":
        return f"format invalide : {error['input']!r} (motif attendu : {error['ctx']['pattern']})"
    return _PYDANTIC_MESSAGES.get(error["type"], f"valeur invalide ({error['type']})")


class _Loader:
    def __init__(self, directory: Path, documents: Mapping[str, Any] | None = None) -> None:
        self.directory = directory
        # Already parsed documents stand in for the directory's files (published versions, drafts).
        self.documents = documents
        self.problems: list[Problem] = []
        self.raw: dict[str, Any] = {}  # file name → parsed document, for the fingerprint
        # Fiche files present, valid or not: a broken FR07.yaml is reported once, not again as "unknown FR07".
        self.present: set[str] = set()

    def problem(self, file: str, field: str, message: str) -> None:
        self.problems.append(Problem(file, field, message))

    def names(self) -> list[str]:
        if self.documents is not None:
            return sorted(name for name in self.documents if name.endswith(".yaml"))
        return [path.name for path in sorted(self.directory.glob("*.yaml"))]

    def load(self) -> FicheBook | None:
        if self.documents is None and not self.directory.is_dir():
            self.problem(str(self.directory), "", "dossier des fiches introuvable")
            return None
        strays = sorted(self.documents) if self.documents is not None else [p.name for p in self.directory.glob("*")]
        for stray in strays:
            if stray.endswith(".yml"):
                self.problem(stray, "", "extension .yml : nommer le fichier en .yaml")
        fiches = self.load_fiches()
        precedence = self.parse(PRECEDENCE_FILE, PrecedenceModel)
        modifiers = self.load_modifiers()
        fallback = fiches.get(FALLBACK_CODE)
        if fallback is None and FALLBACK_CODE not in self.present:
            self.problem(f"{FALLBACK_CODE}.yaml", "", "fichier manquant : la procédure générale FR00 est requise")
        elif fallback is not None:
            self.check_fallback(fallback, fiches)
        ordered = self.check_precedence(precedence, fiches) if precedence is not None else None
        if self.problems or fallback is None or ordered is None or modifiers is None or precedence is None:
            return None
        return FicheBook(
            fiches=MappingProxyType(dict(sorted(fiches.items()))),
            ordered=ordered,
            fallback=fallback,
            modifiers=modifiers[0],
            out_of_territory=modifiers[1],
            precedence_version=f"{precedence.version}+{content_hash(precedence.order)[:8]}",
            modifiers_version=modifiers[2],
            fingerprint=content_hash(self.raw)[:16],
        )

    def read(self, name: str) -> dict[str, Any] | None:
        """The document `name`, given or else the directory's file: a table, kept in `raw` (the book's
        fingerprint); None once what is wrong with it is said."""
        path = self.directory / name
        present = name in self.documents if self.documents is not None else path.is_file()
        if not present:
            self.problem(name, "", "fichier manquant")
            return None
        if self.documents is not None:
            data = self.documents[name]
        else:
            try:
                data = yaml.load(path.read_text("utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
            except UnicodeDecodeError:
                self.problem(name, "", "le fichier n'est pas en UTF-8")
                return None
            except yaml.YAMLError as err:
                self.problem(name, "", _yaml_problem(err))
                return None
        if not isinstance(data, dict):
            self.problem(name, "", "le document doit être une table (clé: valeur)")
            return None
        self.raw[name] = data
        return data

    def parse(self, name: str, model: type[Model], data: dict[str, Any] | None = None) -> Model | None:
        data = self.read(name) if data is None else data
        if data is None:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as err:
            for error in err.errors():
                self.problem(name, _field(error["loc"]), _message(error))
            return None

    def compile(self, name: str, raw: Any, path: str) -> Condition | None:
        issues: list[Issue] = []
        condition = compile_condition(raw, path, issues)
        for field, message in issues:
            self.problem(name, field, message)
        return condition

    def load_fiches(self) -> dict[str, Fiche]:
        fiches: dict[str, Fiche] = {}
        owners: dict[str, str] = {}
        for name in self.names():
            if name in NOT_FICHES:
                continue
            stem = name.removesuffix(".yaml")
            if _CODE.match(stem):
                self.present.add(stem)
            data = self.read(name)
            model = self.parse(name, FicheModel, data) if data is not None else None
            if model is None or data is None:
                continue
            if model.code in owners:
                self.problem(name, "code", f"code en double : {model.code} est déjà dans {owners[model.code]}")
                self.present.discard(stem)  # a copy, not a fiche of its own: its problem says enough
                continue
            owners[model.code] = name
            if stem != model.code:
                self.problem(name, "code", f"le fichier de la fiche {model.code} doit s'appeler {model.code}.yaml")
                continue
            fiche = self.build_fiche(name, model, data)
            if fiche is not None:
                fiches[model.code] = fiche
        return fiches

    def build_fiche(self, name: str, model: FicheModel, data: dict[str, Any]) -> Fiche | None:
        applies: Condition | None = None
        ok = True
        if model.code == FALLBACK_CODE:
            if model.applies_when is not None:
                self.problem(
                    name,
                    "applies_when",
                    "FR00 s'applique quand aucune autre fiche ne s'applique : pas de règle",
                )
                ok = False
        elif model.applies_when is None:
            self.problem(name, "applies_when", "champ obligatoire manquant (règle d'application de la fiche)")
            ok = False
        else:
            applies = self.compile(name, model.applies_when, "applies_when")
            ok = applies is not None
        always: set[str] = set()
        conditional: list[tuple[str, Condition]] = []
        for i, directive in enumerate(model.directives):
            if directive.when is None:
                always.add(directive.code)
                continue
            when = self.compile(name, directive.when, f"directives.{i}.when")
            if when is None:
                ok = False
            else:
                conditional.append((directive.code, when))
        if not ok:
            return None
        deadlines = model.deadlines
        return Fiche(
            code=model.code,
            label=model.label,
            summary=model.summary,
            declared_version=model.version,
            version=effective_version(model.version, data),
            lead=model.lead,
            partners=frozenset(model.partners),
            directives=frozenset(always),
            conditional_directives=tuple(conditional),
            deadlines=Deadlines(deadlines.ack, deadlines.contact, deadlines.resolve),
            checklist=tuple(model.checklist),
            applies=applies,
        )

    def check_fallback(self, fallback: Fiche, fiches: dict[str, Fiche]) -> None:
        # FR00 must be the slowest: otherwise a flag that makes a fiche apply (and FR00 stop applying) would
        # lengthen a deadline, and a situation could get less urgent by learning more.
        for code, fiche in sorted(fiches.items()):
            for kind in DEADLINE_KINDS:
                if getattr(fiche.deadlines, kind) > getattr(fallback.deadlines, kind):
                    self.problem(
                        f"{code}.yaml",
                        f"deadlines.{kind}",
                        f"plus long que celui de la procédure générale {FALLBACK_CODE} ; "
                        f"allonger celui de {FALLBACK_CODE} ou raccourcir celui-ci",
                    )

    def check_precedence(self, precedence: PrecedenceModel, fiches: dict[str, Fiche]) -> tuple[Fiche, ...] | None:
        ordered: list[Fiche] = []
        for i, code in enumerate(precedence.order):
            if code == FALLBACK_CODE:
                self.problem(PRECEDENCE_FILE, f"order.{i}", "FR00 ne figure pas dans l'ordre : elle s'applique seule")
            elif code not in fiches:
                if code in self.present:
                    continue  # its own file's problems say why
                self.problem(
                    PRECEDENCE_FILE,
                    f"order.{i}",
                    f"fiche inconnue : {code} (aucun fichier {code}.yaml valide)",
                )
            else:
                ordered.append(fiches[code])
        for code in sorted((set(fiches) | self.present) - set(precedence.order) - {FALLBACK_CODE}):
            self.problem(PRECEDENCE_FILE, "order", f"fiche absente de l'ordre de priorité : {code}")
        return tuple(ordered) if len(ordered) == len(precedence.order) else None

    def load_modifiers(self) -> tuple[tuple[Modifier, ...], OutOfTerritory, str] | None:
        data = self.read(MODIFIERS_FILE)
        model = self.parse(MODIFIERS_FILE, ModifiersModel, data) if data is not None else None
        if model is None or data is None:
            return None
        modifiers: list[Modifier] = []
        seen: set[str] = set()
        for i, (raw, modifier) in enumerate(zip(data["modifiers"], model.modifiers, strict=True)):
            if modifier.code in seen:
                self.problem(MODIFIERS_FILE, f"modifiers.{i}.code", f"code en double : {modifier.code}")
            seen.add(modifier.code)
            when = self.compile(MODIFIERS_FILE, modifier.when, f"modifiers.{i}.when")
            if when is None:
                continue
            modifiers.append(
                Modifier(
                    code=modifier.code,
                    label=modifier.label,
                    version=effective_version(model.version, raw),
                    when=when,
                    partners=frozenset(modifier.partners),
                    directives=frozenset(modifier.directives),
                    checklist=tuple(modifier.checklist),
                )
            )
        outside = OutOfTerritory(frozenset(model.out_of_territory.directives), tuple(model.out_of_territory.checklist))
        return tuple(modifiers), outside, effective_version(model.version, data)
