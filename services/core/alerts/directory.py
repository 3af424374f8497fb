"""The directory of structures alerted about situations: leads and partners, with their channels.

The seed (`data/directory.yaml`) is data, loaded into the `structures` table for codes not there yet; after that
the table is the truth and admins edit it (`PUT /v1/directory/{code}`). Webhook secrets are never in the seed
and never read back through the API.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from services.core.errors import FieldError, InvalidInput, NotFound
from services.core.fiches.vocabulary import PARTNERS
from services.core.leads import LEAD_MUS
from services.core.models import Event, Structure
from services.core.territory import DATA_DIR, SECTORS, TerritoryMap
from services.core.timefmt import rfc3339

SEED_FILE = DATA_DIR / "directory.yaml"
# Partners the fiches name that belong to a sector: `mairie` is the mairie of the situation's sector.
SECTOR_PARTNERS: frozenset[str] = frozenset({"mairie"})
PARIS_WIDE_PARTNERS: tuple[str, ...] = tuple(p for p in PARTNERS if p not in SECTOR_PARTNERS)
MIN_SECRET_LENGTH = 16
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def kind_of(code: str, territory_map: TerritoryMap) -> str | None:
    """The kind of a structure code (`mus`, `eps`, `cavs`, `mairie`, `partner`), None if it names none."""
    if code == LEAD_MUS:
        return LEAD_MUS
    if code in PARIS_WIDE_PARTNERS:
        return "partner"
    kind, _, where = code.partition(":")
    if kind in ("eps", "mairie") and where in SECTORS:
        return kind
    if kind == "cavs" and where in territory_map.cavs_zones:
        return kind
    return None


def partner_code(partner: str, sector: str) -> str:
    """Decisions name partners unqualified; the structure to alert for `mairie` is the sector's."""
    return f"{partner}:{sector}" if partner in SECTOR_PARTNERS else partner


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str | None:
    """None when acceptable, else why not (French). HTTPS, except to this machine (tests, local relays)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "adresse http(s) complète attendue"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "https obligatoire (http seulement vers cette machine)"
    if parts.username or parts.password:
        return "pas d'identifiants dans l'adresse : le secret du webhook suffit"
    return None


def load_seed(territory_map: TerritoryMap, path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """The seed's structures as table rows; a code that names no structure stops the load (bad data)."""
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    rows = []
    for code, entry in (data.get("structures") or {}).items():
        kind = kind_of(str(code), territory_map)
        if kind is None:
            raise ValueError(f"{path} : code de structure inconnu : {code!r}")
        url = entry.get("webhook_url")
        if url is not None and check_webhook_url(url) is not None:
            raise ValueError(f"{path} : {code} : webhook_url invalide : {url!r}")
        rows.append(
            {
                "code": str(code),
                "kind": kind,
                "name": str(entry["name"]),
                "active": bool(entry.get("active", False)),
                "webhook_url": url,
                "webhook_secret": None,
                "email": entry.get("email"),
            }
        )
    return rows


def seed_directory(session: Session, territory_map: TerritoryMap, *, now: datetime, path: Path = SEED_FILE) -> int:
    """Insert the seed's structures whose code is not in the table yet; edits made by admins are kept."""
    rows = [{**row, "updated_at": now, "updated_by": "seed"} for row in load_seed(territory_map, path)]
    if not rows:
        return 0
    inserted = session.execute(
        insert(Structure).values(rows).on_conflict_do_nothing(index_elements=["code"]).returning(col(Structure.code))
    ).all()
    return len(inserted)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class StructureIn(BaseModel):
    """`PUT /v1/directory/{code}`: the whole structure. `webhook_secret` is write-only: omitted, the stored one is
    kept (the API never shows it back)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"description": "La structure entière ; le secret n'est jamais relu"}
    )

    name: Name = Field(description="Nom (200 caractères au plus)")
    active: bool = Field(description="Vrai pour envoyer ses alertes")
    webhook_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = Field(
        default=None, description="URL HTTPS du webhook"
    )
    webhook_secret: Annotated[str, StringConstraints(min_length=MIN_SECRET_LENGTH, max_length=200)] | None = Field(
        default=None, description=f"Secret de signature ({MIN_SECRET_LENGTH} caractères au moins) ; omis : inchangé"
    )
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = Field(
        default=None, description="Adresse électronique"
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (problem := check_webhook_url(value)):
            raise ValueError(problem)
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError("adresse électronique invalide")
        return value


def structure_view(structure: Structure) -> dict[str, Any]:
    return {
        "code": structure.code,
        "kind": structure.kind,
        "name": structure.name,
        "active": structure.active,
        "webhook_url": structure.webhook_url,
        "webhook_secret_set": structure.webhook_secret is not None,
        "email": structure.email,
        "updated_at": rfc3339(structure.updated_at),
        "updated_by": structure.updated_by,
    }


def list_structures(session: Session) -> list[Structure]:
    return list(session.exec(select(Structure).order_by(col(Structure.code))))


def get_structure(session: Session, code: str) -> Structure:
    structure = session.get(Structure, code)
    if structure is None:
        raise NotFound(f"structure inconnue : {code}")
    return structure


def put_structure(
    session: Session, code: str, change: StructureIn, territory_map: TerritoryMap, *, actor: str, now: datetime
) -> Structure:
    """Replace a structure (created if its code is valid but absent, e.g. added to the reference later)."""
    kind = kind_of(code, territory_map)
    if kind is None:
        raise NotFound(
            f"structure inconnue : {code} (attendu eps:<secteur>, cavs:<zone>, mus, mairie:<secteur> "
            "ou un partenaire du référentiel)"
        )
    structure = session.get(Structure, code, with_for_update=True)
    if structure is None:
        structure = Structure(code=code, kind=kind, name=change.name)
    secret = change.webhook_secret or (structure.webhook_secret if change.webhook_url else None)
    errors = []
    if change.webhook_url is not None and secret is None:
        errors.append(
            FieldError(
                "webhook_secret", "missing", f"obligatoire avec webhook_url ({MIN_SECRET_LENGTH} caractères au moins)"
            )
        )
    if change.active and change.webhook_url is None and change.email is None:
        errors.append(FieldError("active", "no_channel", "une structure active a besoin d'un webhook ou d'un e-mail"))
    if errors:
        raise InvalidInput(errors)
    secret_changed = secret != structure.webhook_secret
    structure.name = change.name
    structure.active = change.active
    structure.webhook_url = change.webhook_url
    structure.webhook_secret = secret if change.webhook_url is not None else None
    structure.email = change.email
    structure.updated_at, structure.updated_by = now, actor
    session.add(structure)
    # The directory's history, like the weather plan's: who changed what (never the secret itself).
    session.add(
        Event(
            type="directory_updated",
            actor=actor,
            at=now,
            data={
                "code": code,
                "active": change.active,
                "webhook_url": change.webhook_url,
                "email": change.email,
                "secret_changed": secret_changed,
            },
        )
    )
    session.flush()
    return structure
