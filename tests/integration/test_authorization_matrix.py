"""The authorization matrix: every `/v1` route × every kind of caller, own and other scope.

The expected answers are written here as data (not derived from `policy.py`), from the contract: no or unknown
token → 401; a role that may never use a route → 403; a situation or signal that exists but is not in the
caller's scope → 403 ("a token without the right"); an id that exists nowhere → 404. Also: analysts and admins
never get personal data; coordinators' personal reads and every action are in the audit trail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.core.models import Signal
from tests.integration.conftest import TokenFactory, family_13

ROLES = ("outreach", "outreach_other", "coord13", "coord14", "mus", "analyst", "admin", "anonymous")
GRANTS: dict[str, tuple[str, list[str]]] = {
    "outreach": ("outreach", []),  # submitted the signal of the 13th
    "outreach_other": ("outreach", []),
    "coord13": ("coordinator", ["eps:paris-13"]),  # the situation's lead
    "coord14": ("coordinator", ["eps:paris-14"]),  # a coordinator of another sector
    "mus": ("coordinator", ["mus"]),
    "analyst": ("analyst", []),
    "admin": ("admin", []),
}
PERSONAL_KEYS = frozenset({"description", "place", "location"})
SIGNAL_14 = {
    "location": {"arrondissement": 14},
    "source": "maraude",
    "people": {"adults": 1, "children": 0, "unaccompanied_minors": 0},
    "flags": [],
}


def _row(
    outreach: int,
    outreach_other: int,
    coord13: int,
    coord14: int,
    mus: int,
    analyst: int,
    admin: int,
    anonymous: int = 401,
) -> dict[str, int]:
    return dict(zip(ROLES, (outreach, outreach_other, coord13, coord14, mus, analyst, admin, anonymous), strict=True))


ADMIN_ONLY = _row(403, 403, 403, 403, 403, 403, 200)

# (method, path template, body) → expected status per caller. `{situation}`: the family's situation (13th);
# `{signal}`: its signal, submitted by "outreach"; `{token}`: a token to revoke.
READS_AND_ADMIN: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("POST", "/v1/signals", SIGNAL_14, _row(202, 202, 202, 202, 202, 403, 202)),
    ("GET", "/v1/signals/{signal}", None, _row(200, 403, 200, 403, 200, 403, 200)),
    ("GET", "/v1/signals/inconnu", None, _row(404, 404, 404, 404, 404, 403, 404)),
    ("GET", "/v1/signals?status=out_of_territory", None, _row(403, 403, 403, 403, 200, 403, 200)),
    # Only the MUS places a signal; this one is routed, not out of territory: a conflict for the MUS.
    ("POST", "/v1/signals/{signal}/assign", {"arrondissement": 14}, _row(403, 403, 403, 403, 409, 403, 403)),
    ("POST", "/v1/signals/inconnu/assign", {"arrondissement": 14}, _row(403, 403, 403, 403, 404, 403, 403)),
    ("GET", "/v1/queues/eps:paris-13", None, _row(403, 403, 200, 403, 200, 403, 200)),
    ("GET", "/v1/queues/eps:paris-14", None, _row(403, 403, 403, 200, 200, 403, 200)),
    ("GET", "/v1/queues/mus", None, _row(403, 403, 403, 403, 200, 403, 200)),
    ("GET", "/v1/situations", None, _row(403, 403, 403, 403, 200, 403, 200)),
    ("GET", "/v1/situations/{situation}", None, _row(403, 403, 200, 403, 200, 403, 200)),
    ("GET", "/v1/situations/inconnue", None, _row(403, 403, 404, 404, 404, 403, 404)),
    ("GET", "/v1/weather-plan", None, _row(200, 200, 200, 200, 200, 403, 200)),
    ("PUT", "/v1/weather-plan", {"kind": "grand_froid", "level": 1}, _row(403, 403, 403, 403, 200, 403, 200)),
    ("DELETE", "/v1/weather-plan", None, _row(403, 403, 403, 403, 204, 403, 204)),
    ("GET", "/v1/stats/semesters/2026-S1", None, _row(403, 403, 403, 403, 200, 200, 200)),
    ("GET", "/v1/stats/semesters/2026-S1?sector=paris-13", None, _row(403, 403, 200, 403, 200, 200, 200)),
    ("GET", "/v1/stats/semesters/2026-S1?sector=paris-14", None, _row(403, 403, 403, 200, 200, 200, 200)),
    ("GET", "/v1/stats/semesters/2026-S1?variant=internal", None, _row(403, 403, 403, 403, 200, 403, 200)),
    ("GET", "/v1/tokens", None, ADMIN_ONLY),
    ("POST", "/v1/tokens", {"role": "analyst", "name": "matrice"}, _row(403, 403, 403, 403, 403, 403, 201)),
    ("DELETE", "/v1/tokens/{token}", None, ADMIN_ONLY),
    ("GET", "/v1/users", None, ADMIN_ONLY),
    (
        "POST",
        "/v1/users",
        {"username": "matrice", "password": "une phrase de passe assez longue", "role": "analyst"},
        _row(403, 403, 403, 403, 403, 403, 201),
    ),
    ("GET", "/v1/audit", None, ADMIN_ONLY),
    ("GET", "/v1/audit?situation_id={situation}", None, ADMIN_ONLY),
    ("PUT", "/v1/directory/eps:paris-13", {"name": "EPS Paris 13", "active": False}, ADMIN_ONLY),
    ("GET", "/v1/directory", None, ADMIN_ONLY),
    ("GET", "/v1/directory/eps:paris-13", None, ADMIN_ONLY),
    ("GET", "/v1/dead-letters", None, ADMIN_ONLY),
    ("POST", "/v1/dead-letters/999999/replay", None, _row(403, 403, 403, 403, 403, 403, 404)),
]

# Actions on the family's situation by those who may not act: nothing changes, whatever the body.
ACTION_BODIES: dict[str, dict[str, Any]] = {
    "acknowledge": {},
    "contacts": {"result": "met", "note": "rencontrés"},
    "escalate": {"reason": "pas de place"},
    "requalify": {"add_flags": ["camp"]},
    "resolve": {"outcome": "sheltered"},
    "reopen": {"reason": "de retour dehors"},
    "merge": {"into": "{other}"},
}
# The lead (coord13) and the MUS act; admins see but may not act, nor may the other sector (403).
ACTION_DENIED = _row(403, 403, 0, 403, 0, 403, 403)


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    situation: str
    other: str  # another situation of the 13th (merge target)
    signal: str
    token: str

    def call(self, role: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        values = {"situation": self.situation, "other": self.other, "signal": self.signal, "token": self.token}
        url = path.format(**values)
        if body is not None:
            body = {k: v.format(**values) if isinstance(v, str) else v for k, v in body.items()}
        return self.client.request(method, url, json=body, headers=self.headers.get(role, {}))


@pytest.fixture
def world(client: TestClient, token: TokenFactory, worker: None, wait_routed: Callable[[str], Signal]) -> World:
    headers = {role: token(role_name, leads=leads, name=role) for role, (role_name, leads) in GRANTS.items()}
    answers = [
        client.post("/v1/signals", json=family_13(), headers=headers["outreach"]),
        # ~500 m away: another situation of the 13th, the merge target.
        client.post("/v1/signals", json=family_13(location={"lat": 48.8265, "lon": 2.3598}), headers=headers["mus"]),
    ]
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    routed = [wait_routed(a.json()["id"]) for a in answers]
    assert [s.sector for s in routed] == ["paris-13", "paris-13"]
    assert routed[0].situation_id and routed[1].situation_id and routed[0].situation_id != routed[1].situation_id
    created = client.post("/v1/tokens", json={"role": "outreach", "name": "à révoquer"}, headers=headers["admin"])
    assert created.status_code == 201
    listed = client.get("/v1/tokens", headers=headers["admin"]).json()["items"]
    revocable = next(t["id"] for t in listed if t["name"] == "à révoquer")
    return World(client, headers, routed[0].situation_id, routed[1].situation_id, routed[0].id, revocable)


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from _keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _keys(inner)


def _actions(world: World, situation_id: str) -> list[str]:
    answer = world.call("admin", "GET", f"/v1/audit?situation_id={situation_id}&limit=500")
    assert answer.status_code == 200
    return [entry["action"] for entry in answer.json()["items"]]


def test_reads_and_administration(world: World) -> None:
    wrong = []
    for method, path, body, expected in READS_AND_ADMIN:
        for role in ROLES:
            answer = world.call(role, method, path, body)
            if answer.status_code != expected[role]:
                wrong.append(f"{method} {path} [{role}]: {answer.status_code} ≠ {expected[role]} {answer.text[:120]}")
            if role == "analyst" and answer.status_code < 300 and answer.content:
                assert not PERSONAL_KEYS & set(_keys(answer.json())), f"{method} {path}: données personnelles"
    assert not wrong, "\n".join(wrong)


def test_actions_refused_to_those_who_may_not_act(world: World) -> None:
    wrong = []
    before = world.call("admin", "GET", "/v1/situations/{situation}").json()
    for action, body in ACTION_BODIES.items():
        for role in ROLES:
            if ACTION_DENIED[role] == 0:
                continue
            answer = world.call(role, "POST", f"/v1/situations/{{situation}}/{action}", body)
            if answer.status_code != ACTION_DENIED[role]:
                wrong.append(f"{action} [{role}]: {answer.status_code} ≠ {ACTION_DENIED[role]} {answer.text[:120]}")
        # An unknown situation is not found for those who may act at all.
        for role in ("coord13", "mus"):
            answer = world.call(role, "POST", f"/v1/situations/inconnue/{action}", body)
            if answer.status_code != 404:
                wrong.append(f"{action} inconnue [{role}]: {answer.status_code} ≠ 404")
    assert not wrong, "\n".join(wrong)
    after = world.call("admin", "GET", "/v1/situations/{situation}").json()
    assert (after["status"], len(after["events"])) == (before["status"], len(before["events"]))
    assert not [a for a in _actions(world, world.situation) if a.startswith("situation.") and a != "situation.read"]


def test_the_lead_and_the_mus_act_and_every_action_is_audited(world: World) -> None:
    steps = [
        ("coord13", "acknowledge"),
        ("mus", "contacts"),
        ("coord13", "escalate"),
        ("mus", "requalify"),
        ("coord13", "resolve"),
        ("mus", "reopen"),
        ("coord13", "merge"),
    ]
    for role, action in steps:
        answer = world.call(role, "POST", f"/v1/situations/{{situation}}/{action}", ACTION_BODIES[action])
        assert answer.status_code == 200, f"{action} [{role}]: {answer.status_code} {answer.text}"
    assert world.call("mus", "GET", "/v1/situations/{situation}").json()["status"] == "merged"
    audited = _actions(world, world.situation)
    for _, action in steps:
        assert f"situation.{action}" in audited, (action, audited)
    entries = world.call("admin", "GET", "/v1/audit?situation_id={situation}&limit=500").json()["items"]
    by_action = {entry["action"]: entry for entry in entries}
    assert by_action["situation.acknowledge"]["role"] == "coordinator"
    # The merge changed the target too: its own trail says so, and from where.
    target = world.call("admin", "GET", f"/v1/audit?situation_id={world.other}").json()["items"]
    assert [(e["action"], e["detail"]) for e in target] == [("situation.merged_into", {"from": world.situation})]


def test_personal_data_and_audited_reads(world: World) -> None:
    situation_path, signal_path = "/v1/situations/{situation}", "/v1/signals/{signal}"
    assert _actions(world, world.situation) == []

    lead = world.call("coord13", "GET", situation_path).json()
    assert lead["signals"] and all(set(s) >= PERSONAL_KEYS for s in lead["signals"])
    assert lead["signals"][0]["description"] == "Famille avec trois enfants"
    assert _actions(world, world.situation) == ["situation.read"]

    signal = world.call("coord13", "GET", signal_path).json()
    assert set(signal) >= PERSONAL_KEYS
    assert _actions(world, world.situation) == ["situation.read", "signal.read"]

    for role in ("mus", "outreach"):  # the MUS and the reporter read personal data: audited too
        assert set(world.call(role, "GET", signal_path).json()) >= PERSONAL_KEYS
    assert set(world.call("mus", "GET", situation_path).json()["signals"][0]) >= PERSONAL_KEYS
    audited = _actions(world, world.situation)
    assert audited.count("signal.read") == 3 and audited.count("situation.read") == 2

    admin = world.call("admin", "GET", situation_path).json()
    assert admin["signals"] and not PERSONAL_KEYS & set(_keys(admin["signals"]))
    assert not PERSONAL_KEYS & set(_keys(world.call("admin", "GET", signal_path).json()))
    for path in ("/v1/situations", "/v1/queues/eps:paris-13", "/v1/queues/mus"):
        assert not PERSONAL_KEYS & set(_keys(world.call("admin", "GET", path).json())), path
    assert _actions(world, world.situation) == audited  # admins read nothing personal: nothing to audit

    for path in (situation_path, signal_path):  # analysts: refused outright
        assert world.call("analyst", "GET", path).status_code == 403
