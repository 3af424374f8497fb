"""Bearer tokens: random secrets shown once, stored hashed, with an expiry; revocable."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final, Literal

from sqlmodel import Session, col, select

from services.core.access.principal import Principal, validate_grant
from services.core.access.secrets import hash_secret, new_secret
from services.core.clock import utc_now
from services.core.errors import NotFound
from services.core.models import ApiToken
from services.core.settings import get_settings
from services.core.territory import TerritoryMap

TOKEN_PREFIX = "urg_"
# Authenticating every request costs a query; a token's answer is kept this long in each process, which is
# also how long a revocation may take to reach every API process.
CACHE_SECONDS = 5.0


class TokenError(ValueError):
    pass


def create_token(
    session: Session,
    *,
    role: str,
    leads: list[str],
    territory_map: TerritoryMap,
    name: str | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """A new token's secret (shown once). Expires after `URGENCE_TOKEN_DAYS` unless told otherwise."""
    problem = validate_grant(role, leads, territory_map)
    if problem:
        raise TokenError(problem)
    now = now or utc_now()
    secret = new_secret(TOKEN_PREFIX)
    session.add(
        ApiToken(
            name=name,
            role=role,
            leads=sorted(set(leads)),
            secret_hash=hash_secret(secret),
            created_at=now,
            expires_at=expires_at or now + timedelta(days=get_settings().token_days),
        )
    )
    session.flush()
    return secret


def token_of_secret(session: Session, secret: str) -> ApiToken | None:
    return session.exec(select(ApiToken).where(col(ApiToken.secret_hash) == hash_secret(secret))).first()


def revoke_token(session: Session, token_id: str, now: datetime) -> ApiToken:
    token = session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise NotFound(f"jeton inconnu : {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
    _cache.clear()
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at))))


@dataclass(frozen=True)
class _Answer:
    cached_until: float  # monotonic
    principal: Principal | None
    expires_at: datetime | None


class _AnswerCache:
    """Recent answers for secrets (by hash), so a busy client costs one query per few seconds."""

    def __init__(self) -> None:
        self._entries: dict[str, _Answer] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> _Answer | None:
        answer = self._entries.get(key)
        return answer if answer is not None and answer.cached_until > time.monotonic() else None

    def put(self, key: str, principal: Principal | None, expires_at: datetime | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = _Answer(time.monotonic() + CACHE_SECONDS, principal, expires_at)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _AnswerCache()


class _Recall(Enum):
    MISSING = "missing"  # no recent answer for this secret: the database must be asked


NOT_REMEMBERED: Final = _Recall.MISSING


def remembered_principal(secret: str, now: datetime) -> Principal | Literal[_Recall.MISSING] | None:
    """The recent answer for a secret without touching the database: a principal, None (refused), or
    NOT_REMEMBERED."""
    answer = _cache.get(hash_secret(secret))
    if answer is None:
        return NOT_REMEMBERED
    return _valid(answer, now)


def authenticate(session: Session, secret: str, now: datetime) -> Principal | None:
    """The principal behind a bearer secret, or None if unknown, revoked or expired."""
    key = hash_secret(secret)
    answer = _cache.get(key)
    if answer is None:
        token = session.exec(select(ApiToken).where(col(ApiToken.secret_hash) == key)).first()
        principal = None
        if token is not None and token.revoked_at is None:
            principal = Principal(
                id=token.id, kind="token", role=token.role, leads=frozenset(token.leads), name=token.name
            )
        answer = _Answer(0.0, principal, token.expires_at if token else None)
        _cache.put(key, principal, answer.expires_at)
    return _valid(answer, now)


def _valid(answer: _Answer, now: datetime) -> Principal | None:
    if answer.expires_at is not None and answer.expires_at <= now:
        return None
    return answer.principal
