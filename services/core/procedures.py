"""The procedures a process routes with: loaded once from `URGENCE_FICHES_DIR`, whole or not at all.

A process keeps the book it loaded at start; edited fiches take effect for new signals when the processes are
restarted (or the worker is sent SIGHUP), never half-applied: a book is validated completely before use.
"""

from __future__ import annotations

from functools import cache

from services.core.fiches import FicheBook, load_fiches
from services.core.settings import get_settings


@cache
def active_fiches() -> FicheBook:
    return load_fiches(get_settings().fiches_dir)
