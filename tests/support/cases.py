"""The shared routing cases (`../shared/cases/routing-cases.json`, beside the checkout)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = REPO_ROOT.parent / "shared" / "cases" / "routing-cases.json"


@cache
def routing_cases() -> list[dict[str, Any]]:
    if not CASES_FILE.exists():
        raise FileNotFoundError(f"cas de routage introuvables : {CASES_FILE} (shared/ doit être à côté du dépôt)")
    return list(json.loads(CASES_FILE.read_text("utf-8"))["cases"])
