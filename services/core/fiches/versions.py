"""The fiches réflexes as published versions, in PostgreSQL: seed, drafts, publish, rollback, history.

A publication is the whole book (every document), validated whole before it is written: a process switches
from one book to the next in one step (`procedures.fiches_in_force`), and a book that fails the checks of
`urgence fiches check` is never written. Publishers take one advisory lock, so two publications never
interleave; a draft records the version it was made from, and publishing it once another version of its
fiche is in force is a conflict (the second of two concurrent drafts of one fiche gets a 409).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import any_, func
from sqlmodel import Session, col, select

from services.core.errors import Conflict, FieldError, InvalidInput, NotFound
from services.core.fiches import FicheBook, FichesInvalid, Problem, content_hash, load_documents, read_fiches
from services.core.fiches.vocabulary import MODIFIERS_FILE, PRECEDENCE_FILE
from services.core.models import FicheDraft, FichePublication
from services.core.procedures import fiches_in_force

log = logging.getLogger(__name__)

# Namespace of the advisory lock that serializes publications (seed, publish, rollback).
PUBLISH_LOCK = 7_310_016
SEED_ACTOR = "fiches_reflexes"
_FICHE_CODE = re.compile(r"^FR\d{2}$")


def file_of(code: str) -> str:
    return f"{code}.yaml"


def book_versions(book: FicheBook) -> dict[str, str]:
    """Every document's version: each fiche's (declared + content hash), the precedence's, the modifiers'."""
    versions = {fiche.code: fiche.version for fiche in book}
    versions[PRECEDENCE_FILE.removesuffix(".yaml")] = book.precedence_version
    versions[MODIFIERS_FILE.removesuffix(".yaml")] = book.modifiers_version
    return versions


def latest_publication(session: Session) -> FichePublication | None:
    return session.exec(select(FichePublication).order_by(col(FichePublication.id).desc()).limit(1)).first()


def _lock(session: Session) -> None:
    session.execute(select(func.pg_advisory_xact_lock(PUBLISH_LOCK)))


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(code for code in after.keys() | before.keys() if before.get(code) != after.get(code))


def _publication(
    session: Session,
    documents: dict[str, Any],
    book: FicheBook,
    previous: FichePublication | None,
    *,
    kind: str,
    actor: str,
    now: datetime,
    reason: str,
    draft_id: str | None = None,
    seed: dict[str, Any] | None = None,
) -> FichePublication:
    versions = book_versions(book)
    publication = FichePublication(
        fingerprint=book.fingerprint,
        documents=documents,
        versions=versions,
        changed=_changed(previous.versions if previous is not None else {}, versions),
        kind=kind,
        published_at=now,
        published_by=actor,
        reason=reason[:1000],
        draft_id=draft_id,
        seed=seed,
    )
    session.add(publication)
    session.flush()  # every decision reads the book in force in its own transaction: nothing to announce
    return publication


def seed_publications(session: Session, directory: Path, *, now: datetime) -> FichePublication | None:
    """Publish `fiches_reflexes/` on first start; on upgrade, publish what the files changed since the last seed,
    except the fiches people have published an edit of since (an edit is never overwritten by a seed). None
    when nothing was published. Raises FichesInvalid when the files themselves are broken."""
    files_book, files = read_fiches(directory)
    _lock(session)
    current = latest_publication(session)
    if current is None:
        return _publication(
            session, files, files_book, None, kind="seed", actor=SEED_ACTOR, now=now, reason="graine", seed=files
        )
    last_seed = session.exec(
        select(FichePublication)
        .where(col(FichePublication.seed).is_not(None))
        .order_by(col(FichePublication.id).desc())
        .limit(1)
    ).first()
    seeded = (last_seed.seed if last_seed is not None else None) or {}
    taken: dict[str, Any] = {}
    for name, document in files.items():
        if name in seeded and content_hash(seeded[name]) == content_hash(document):
            continue  # unchanged in the files since the last seed
        in_force = current.documents.get(name)
        if name in seeded and in_force is not None and content_hash(in_force) != content_hash(seeded[name]):
            log.warning("fiches : %s a été modifiée et publiée depuis la graine ; la graine ne l'écrase pas", name)
            continue
        taken[name] = document
    if not taken:
        return None
    documents = {**current.documents, **taken}
    try:
        book = load_documents(documents)
    except FichesInvalid as invalid:
        log.error("fiches : la nouvelle graine ne s'accorde pas avec les versions publiées : %s", invalid)
        return None
    return _publication(
        session, documents, book, current, kind="seed", actor=SEED_ACTOR, now=now, reason="graine", seed=files
    )


def problem_errors(problems: list[Problem], file: str | None) -> list[FieldError]:
    """Each problem as a field error: the field's path inside the draft, or `<file>.<path>` for another
    document of the book (e.g. FR00's deadlines bound every fiche's)."""
    errors = []
    for problem in problems:
        if file is not None and problem.file == file:
            field = problem.field or "(corps)"
        else:
            field = ".".join(part for part in (problem.file, problem.field) if part)
        errors.append(FieldError(field, "fiche", problem.message))
    return errors


def in_force_publication(session: Session, now: datetime) -> FichePublication:
    """The publication in force; the files are published first when nothing is yet (the seed is the version
    every later one follows)."""
    current = latest_publication(session)
    if current is None:
        from services.core.settings import get_settings

        seed_publications(session, get_settings().fiches_dir, now=now)
        current = latest_publication(session)
    assert current is not None
    return current


def _checked_book(documents: dict[str, Any], file: str | None) -> FicheBook:
    try:
        return load_documents(documents)
    except FichesInvalid as invalid:
        raise InvalidInput(problem_errors(invalid.problems, file)) from None


def create_draft(session: Session, document: Any, *, actor: str, now: datetime) -> FicheDraft:
    """A draft of one fiche (the same shape as its file), checked with the rest of the book in force."""
    if not isinstance(document, dict):
        raise InvalidInput([FieldError("(corps)", "type", "une fiche (table clé: valeur) attendue")])
    code = document.get("code")
    if not isinstance(code, str) or not _FICHE_CODE.match(code):
        raise InvalidInput([FieldError("code", "pattern", "code de fiche attendu, de la forme FR00 à FR99")])
    current = in_force_publication(session, now)
    book = _checked_book({**current.documents, file_of(code): document}, file_of(code))
    draft = FicheDraft(
        code=code,
        document=document,
        version=book.version(code),
        base_version=current.versions.get(code),
        created_at=now,
        created_by=actor,
    )
    session.add(draft)
    session.flush()
    return draft


def get_draft(session: Session, draft_id: str, *, for_update: bool = False) -> FicheDraft:
    draft = session.get(FicheDraft, draft_id, with_for_update=for_update) if len(draft_id) <= 36 else None
    if draft is None:
        raise NotFound("brouillon introuvable")
    return draft


def draft_books(session: Session, draft: FicheDraft, *, now: datetime) -> tuple[FicheBook, FicheBook]:
    """The book in force and the same with the draft in place of its fiche (for the impact)."""
    current = in_force_publication(session, now)
    after = _checked_book({**current.documents, file_of(draft.code): draft.document}, file_of(draft.code))
    return fiches_in_force(session), after  # the same book, from the cache keyed by its content


def publish_draft(session: Session, draft_id: str, *, actor: str, now: datetime, reason: str) -> FichePublication:
    """The draft's fiche in force in a new publication of the whole book, if its fiche has not changed since."""
    _lock(session)
    draft = get_draft(session, draft_id, for_update=True)
    if draft.published_at is not None:
        raise Conflict(f"brouillon déjà publié (publication {draft.publication_id})")
    current = in_force_publication(session, now)
    in_force = current.versions.get(draft.code)
    if in_force != draft.base_version:
        raise Conflict(
            f"la fiche {draft.code} a changé depuis ce brouillon (version en vigueur : {in_force}) : "
            "refaire le brouillon à partir de la version en vigueur"
        )
    documents = {**current.documents, file_of(draft.code): draft.document}
    book = _checked_book(documents, file_of(draft.code))
    publication = _publication(
        session, documents, book, current, kind="publish", actor=actor, now=now, reason=reason, draft_id=draft.id
    )
    draft.published_at, draft.publication_id = now, publication.id
    session.add(draft)
    return publication


def rollback_fiche(session: Session, code: str, to: str, *, actor: str, now: datetime, reason: str) -> FichePublication:
    """Publish again an earlier version of one fiche, the rest of the book as in force."""
    _lock(session)
    current = in_force_publication(session, now)
    if current.versions.get(code) is None:
        raise NotFound(f"fiche inconnue : {code}")
    if current.versions.get(code) == to:
        raise Conflict(f"la version {to} de {code} est déjà en vigueur")
    earlier = session.exec(
        select(FichePublication)
        .where(col(FichePublication.versions)[code].astext == to)
        .order_by(col(FichePublication.id).desc())
        .limit(1)
    ).first()
    if earlier is None or file_of(code) not in earlier.documents:
        raise InvalidInput([FieldError("to", "unknown", f"aucune version publiée {to} de {code}")])
    documents = {**current.documents, file_of(code): earlier.documents[file_of(code)]}
    book = _checked_book(documents, file_of(code))
    return _publication(session, documents, book, current, kind="rollback", actor=actor, now=now, reason=reason)


@dataclass(frozen=True)
class FicheVersion:
    """One version of one fiche as history shows it: when it came in force, by whom, why, and its content with
    the content it replaced (for the diff)."""

    code: str
    version: str
    publication_id: int
    kind: str
    published_at: datetime
    published_by: str
    reason: str
    document: dict[str, Any]
    previous: dict[str, Any] | None
    in_force: bool


def fiche_history(session: Session, code: str) -> list[FicheVersion]:
    """The versions of `code`, newest first: every publication that changed it."""
    rows = list(
        session.exec(
            select(FichePublication)
            .where(any_(col(FichePublication.changed)) == code)
            .order_by(col(FichePublication.id))
        )
    )
    if not rows:
        raise NotFound(f"fiche inconnue : {code}")
    latest = latest_publication(session)
    history: list[FicheVersion] = []
    previous: dict[str, Any] | None = None
    for row in rows:
        document = row.documents.get(file_of(code))
        if document is None:
            continue
        history.append(
            FicheVersion(
                code=code,
                version=row.versions[code],
                publication_id=row.id or 0,
                kind=row.kind,
                published_at=row.published_at,
                published_by=row.published_by,
                reason=row.reason,
                document=document,
                previous=previous,
                in_force=latest is not None and latest.versions.get(code) == row.versions[code],
            )
        )
        previous = document
    # A version published again (a rollback) is in force only in its newest row.
    newest_first: list[FicheVersion] = []
    for version in reversed(history):
        shown_in_force = version.in_force and not any(v.in_force for v in newest_first)
        newest_first.append(replace(version, in_force=shown_in_force))
    return newest_first
