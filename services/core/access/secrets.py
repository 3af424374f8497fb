"""Secrets shown once, stored as keyed hashes (HMAC-SHA256 with URGENCE_SECRET_KEY)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from services.core.settings import get_settings


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
