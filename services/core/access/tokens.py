"""Bearer tokens: random secrets shown once, stored as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, select

from services.core.access.principal import ROLES, Principal, validate_lead
from services.core.clock import utc_now
from services.core.models import ApiToken

TOKEN_PREFIX = "urg_"


class TokenError(ValueError):
    pass


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    role: str,
    leads: list[str],
    name: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    if role not in ROLES:
        raise TokenError(f"rôle inconnu : {role!r} (attendu : {', '.join(ROLES)})")
    if role == "coordinator" and not leads:
        raise TokenError("un jeton coordinator demande au moins un --lead (eps:paris-13, cavs:sud, mus)")
    if role != "coordinator" and leads:
        raise TokenError("seuls les jetons coordinator ont des pilotes (--lead)")
    for lead in leads:
        problem = validate_lead(lead)
        if problem:
            raise TokenError(problem)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name,
            role=role,
            leads=sorted(set(leads)),
            secret_hash=hash_secret(secret),
            created_at=now or utc_now(),
            expires_at=expires_at,
        )
    )
    session.flush()
    return secret


def authenticate(session: Session, secret: str, now: datetime) -> Principal | None:
    """The principal behind a bearer secret, or None if unknown, revoked or expired."""
    token = session.exec(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret))).first()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    return Principal(token_id=token.id, role=token.role, leads=frozenset(token.leads), name=token.name)
