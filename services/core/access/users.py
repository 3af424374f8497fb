"""People who sign in to the web pages: argon2id password hashes, server-side sessions with a CSRF secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from services.core.access.principal import Principal, validate_grant
from services.core.access.secrets import hash_secret, new_secret
from services.core.models import User, WebSession
from services.core.settings import get_settings
from services.core.territory import TerritoryMap

SESSION_PREFIX = "urs_"
MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verifying against this when the name is unknown keeps both answers equally slow (no user enumeration).
_DUMMY_HASH = _hasher.hash("mot de passe factice pour un nom inconnu")


class UserError(ValueError):
    pass


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    leads: list[str],
    territory_map: TerritoryMap,
    now: datetime,
) -> User:
    problem = validate_grant(role, leads, territory_map)
    if problem:
        raise UserError(problem)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"mot de passe trop court (au moins {MIN_PASSWORD_LENGTH} caractères)")
    if session.exec(select(User).where(col(User.username) == username)).first() is not None:
        raise UserError(f"l'utilisateur {username!r} existe déjà")
    user = User(
        username=username, password_hash=_hasher.hash(password), role=role, leads=sorted(set(leads)), created_at=now
    )
    session.add(user)
    session.flush()
    return user


def principal_of(user: User) -> Principal:
    return Principal(id=user.id, kind="user", role=user.role, leads=frozenset(user.leads), name=user.username)


def check_password(session: Session, username: str, password: str) -> User | None:
    user = session.exec(select(User).where(col(User.username) == username)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    return user


@dataclass(frozen=True)
class OpenedSession:
    secret: str  # for the cookie, shown once
    csrf_token: str
    expires_at: datetime


def open_session(session: Session, user: User, now: datetime) -> OpenedSession:
    secret = new_secret(SESSION_PREFIX)
    expires_at = now + timedelta(hours=get_settings().session_hours)
    web = WebSession(
        secret_hash=hash_secret(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(web)
    return OpenedSession(secret=secret, csrf_token=web.csrf_token, expires_at=expires_at)


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    session_id: str
    csrf_token: str


def resume_session(session: Session, secret: str, now: datetime) -> SignedIn | None:
    web = session.exec(select(WebSession).where(col(WebSession.secret_hash) == hash_secret(secret))).first()
    if web is None or web.ended_at is not None or web.expires_at <= now:
        return None
    user = session.get(User, web.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SignedIn(principal=principal_of(user), session_id=web.id, csrf_token=web.csrf_token)


def end_session(session: Session, session_id: str, now: datetime) -> None:
    web = session.get(WebSession, session_id)
    if web is not None and web.ended_at is None:
        web.ended_at = now
        session.add(web)


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))))


def disable_user(session: Session, user_id: str, now: datetime) -> User:
    """The person can no longer sign in, and its open sessions end now (it is kept: timelines name it)."""
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise UserError("utilisateur inconnu")
    if user.disabled_at is None:
        user.disabled_at = now
        session.add(user)
    for web in session.exec(
        select(WebSession).where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))
    ):
        web.ended_at = now
        session.add(web)
    return user
