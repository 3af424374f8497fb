"""The routing cases, test data of the repository: `tests/data/routing-cases.json`.

Each case is one signal (`signal`, a body for `POST /v1/signals`) submitted on its own to an empty system, and
what its routing must be (`expect`): status, arrondissement, sector, primary fiche, the set of applicable
fiches, lead, the set of partners (codes without their sector qualifier), the set of directives, and each
deadline in seconds after the signal's reception. Some cases carry a `weather_plan` to set before submitting.

They run as a parametrized test twice: on the pure engine (`tests/unit/test_routing_cases.py`) and end to end
through the API and a worker (`tests/integration/test_routing_flow.py`). They are examples, not the whole
specification: the reference is `docs/reference/fiches-reflexes.md`. Add cases to the file as behaviour is
settled; a case that changes means the reference behaviour changed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "routing-cases.json"


@cache
def routing_cases() -> list[dict[str, Any]]:
    return list(json.loads(CASES_FILE.read_text("utf-8"))["cases"])
