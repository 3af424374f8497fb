"""The situation state machine's pure parts: which action each status allows, what each action does to the
projection, the requalification deadline rule, and the alert's wording and signature."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core.alerts.delivery import body_bytes, email_message, signature_header, verify_signature
from services.core.alerts.directory import PARIS_WIDE_PARTNERS, check_webhook_url, kind_of, load_seed, partner_code
from services.core.errors import Conflict, InvalidInput
from services.core.models import Event, Situation
from services.core.situations import actions
from services.core.situations.actions import ALLOWED_FROM, OUTCOMES, can_do, ensure_allowed, requalified_due
from services.core.situations.status import OPEN_STATUSES
from services.core.territory import SECTORS, default_map

T0 = datetime(2026, 1, 14, 21, 40, tzinfo=UTC)
STATUSES = (*OPEN_STATUSES, "resolved", "merged")


class Recorder:
    """Just enough of a session for the projection changes: `record` adds, and no structure is active."""

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.info: dict[str, Any] = {}
        self.no_autoflush = contextlib.nullcontext()

    def add(self, obj: Any) -> None:
        self.added.append(obj)

    def flush(self) -> None:
        for obj in self.added:
            if isinstance(obj, Event) and obj.id is None:
                obj.id = len(self.added)

    def connection(self) -> Any:
        """The live-queue NOTIFY of `timeline.record` goes here (no database in these tests)."""

        class Notifications:
            def execute(self, *_: Any) -> None:
                return None

        return Notifications()

    def exec(self, _: Any) -> Any:
        class Empty:
            def all(self) -> list[Any]:
                return []

        return Empty()

    def events(self) -> list[Event]:
        return [obj for obj in self.added if isinstance(obj, Event)]


def situation(status: str = "new") -> Situation:
    return Situation(
        status=status,
        opened_at=T0,
        opening_received_at=T0,
        updated_at=T0,
        arrondissement=13,
        sector="paris-13",
        lead="eps:paris-13",
        primary_fiche="FR01",
        decision={"partners": ["mairie", "siao-115"], "deadlines": {"ack": 3600, "contact": 14400, "resolve": 86400}},
        facts={"people": {"adults": 2, "children": 2}, "flags": []},
        ack_due=T0 + timedelta(hours=1),
        contact_due=T0 + timedelta(hours=4),
        resolve_due=T0 + timedelta(days=1),
        last_observed_at=T0,
    )


EXPECTED_MATRIX: dict[str, set[str]] = {
    "acknowledge": {"new"},
    "contacts": set(OPEN_STATUSES),
    "resolve": set(OPEN_STATUSES),
    "reopen": {"resolved"},
    "escalate": set(OPEN_STATUSES),
    "requalify": set(OPEN_STATUSES),
    "merge": set(OPEN_STATUSES),
}


@pytest.mark.parametrize("action", sorted(EXPECTED_MATRIX))
@pytest.mark.parametrize("status", STATUSES)
def test_transition_matrix(action: str, status: str) -> None:
    assert can_do(action, status) is (status in EXPECTED_MATRIX[action])
    if not can_do(action, status):
        with pytest.raises(Conflict) as refused:
            ensure_allowed(action, situation(status))
        assert f"« {status} »" in refused.value.detail


def test_merged_is_final() -> None:
    assert not any(can_do(action, "merged") for action in ALLOWED_FROM)


def test_acknowledge_then_met_contact_then_resolve_then_reopen() -> None:
    session, s = Recorder(), situation()
    now = T0 + timedelta(minutes=20)
    actions.acknowledge(session, s, actor="a", now=now)  # type: ignore[arg-type]
    assert (s.status, s.acknowledged_at, s.next_deadline) == ("acknowledged", now, s.contact_due)

    met_at = now - timedelta(minutes=5)
    actions.log_contact(session, s, result="met", at=met_at, note=None, actor="a", now=now)  # type: ignore[arg-type]
    assert (s.status, s.first_contact_at, s.next_deadline) == ("in_progress", met_at, s.resolve_due)

    later = now + timedelta(hours=30)
    actions.resolve(session, s, outcome="sheltered", note=None, actor="a", now=later)  # type: ignore[arg-type]
    assert (s.status, s.outcome, s.resolved_at, s.next_deadline) == ("resolved", "sheltered", later, None)

    reopened = later + timedelta(hours=1)
    actions.reopen(session, s, reason="de retour", actor="a", now=reopened)  # type: ignore[arg-type]
    assert (s.status, s.outcome, s.resolved_at) == ("in_progress", None, None)
    assert s.resolve_due == reopened + timedelta(days=1)  # a fresh window, not born overdue
    assert [e.type for e in session.events()] == ["acknowledged", "contact_logged", "resolved", "reopened"]
    assert session.events()[-1].data["previous_outcome"] == "sheltered"


@pytest.mark.parametrize("result", ["not_found", "refused"])
def test_a_contact_that_did_not_meet_keeps_the_status_but_meets_the_contact_deadline(result: str) -> None:
    session, s = Recorder(), situation()
    actions.log_contact(session, s, result=result, at=None, note="x", actor="a", now=T0)  # type: ignore[arg-type]
    assert (s.status, s.first_contact_at, s.acknowledged_at) == ("new", T0, None)


def test_the_first_contact_is_the_earliest_and_the_future_is_refused() -> None:
    session, s = Recorder(), situation()
    now = T0 + timedelta(hours=2)
    actions.log_contact(session, s, result="refused", at=now, note=None, actor="a", now=now)  # type: ignore[arg-type]
    earlier = now - timedelta(hours=1)
    actions.log_contact(session, s, result="met", at=earlier, note=None, actor="a", now=now)  # type: ignore[arg-type]
    assert s.first_contact_at == earlier
    with pytest.raises(InvalidInput) as refused:
        actions.log_contact(
            session,  # type: ignore[arg-type]
            s,
            result="met",
            at=now + timedelta(minutes=11),
            note=None,
            actor="a",
            now=now,
        )
    assert (refused.value.errors[0].field, refused.value.errors[0].rule) == ("at", "not_future")
    with pytest.raises(InvalidInput) as refused:
        actions.log_contact(
            session,  # type: ignore[arg-type]
            s,
            result="met",
            at=datetime(1, 1, 1, tzinfo=UTC),
            note=None,
            actor="a",
            now=now,
        )
    assert (refused.value.errors[0].field, refused.value.errors[0].rule) == ("at", "too_early")


def test_outcomes_are_the_reference_ones_and_other_needs_a_note() -> None:
    assert set(OUTCOMES) == {
        "sheltered",
        "hospitalized",
        "oriented",
        "refused",
        "not_found",
        "already_supported",
        "deceased",
        "left_area",
        "other",
    }
    for note in (None, "", "   "):
        with pytest.raises(InvalidInput):
            actions.resolve(Recorder(), situation(), outcome="other", note=note, actor="a", now=T0)  # type: ignore[arg-type]
    s = situation()
    actions.resolve(Recorder(), s, outcome="other", note="parti en province", actor="a", now=T0)  # type: ignore[arg-type]
    assert s.outcome == "other" and s.acknowledged_at == T0  # resolving shows the lead took it into account


def test_manual_escalation_once() -> None:
    session, s = Recorder(), situation()
    actions.escalate_by_hand(session, s, reason="complexe", actor="a", now=T0)  # type: ignore[arg-type]
    assert (s.escalation_level, s.escalation_reasons) == (1, ["manual"])
    assert session.events()[-1].data == {"reason": "manual", "level": 1, "note": "complexe"}
    with pytest.raises(Conflict):
        actions.escalate_by_hand(session, s, reason="autre", actor="a", now=T0)  # type: ignore[arg-type]
    assert s.escalation_level == 1


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("current", "duration", "now", "expected"),
    [
        # Looser procedure: as it would have been from the first reception.
        (T0 + 15 * timedelta(minutes=1), 24 * HOUR, T0 + 2 * HOUR, T0 + 24 * HOUR),
        # Tighter: the clock starts now, never in the past…
        (T0 + 24 * HOUR, HOUR, T0 + 3 * HOUR, T0 + 4 * HOUR),
        # …and never later than what already runs.
        (T0 + 90 * timedelta(minutes=1), HOUR, T0 + 2 * HOUR, T0 + 90 * timedelta(minutes=1)),
        # Same procedure: unchanged.
        (T0 + HOUR, HOUR, T0 + 10 * HOUR, T0 + HOUR),
    ],
)
def test_requalified_deadline(current: datetime, duration: timedelta, now: datetime, expected: datetime) -> None:
    assert requalified_due(current, T0, duration, now) == expected


# --- Alerts: directory codes, signature, e-mail --------------------------------------------------------------


def test_seed_names_every_lead_and_partner_with_placeholders_only() -> None:
    rows = load_seed(default_map())
    codes = {row["code"] for row in rows}
    assert {f"eps:{s}" for s in SECTORS} | {f"mairie:{s}" for s in SECTORS} <= codes
    assert {"mus", "cavs:nord", "cavs:est", "cavs:sud", "cavs:ouest", *PARIS_WIDE_PARTNERS} <= codes
    assert len(codes) == len(rows) == 53
    for row in rows:
        assert row["active"] is False and row["webhook_secret"] is None
        assert row["webhook_url"].split("/")[2].endswith(".example.org")
        assert row["email"].endswith(".example.org")


def test_structure_codes() -> None:
    assert partner_code("mairie", "paris-13") == "mairie:paris-13"
    assert partner_code("siao-115", "paris-13") == "siao-115"
    assert [kind_of(c, default_map()) for c in ("mus", "eps:paris-centre", "cavs:sud", "mairie:paris-20", "pmi")] == [
        "mus",
        "eps",
        "cavs",
        "mairie",
        "partner",
    ]
    assert [kind_of(c, default_map()) for c in ("mairie", "eps:paris-01", "cavs:centre", "eps", "")] == [None] * 5
    assert check_webhook_url("https://eps.example.org/h") is None
    assert check_webhook_url("http://127.0.0.1:8080/h") is None
    assert check_webhook_url("http://eps.example.org/h") is not None
    assert check_webhook_url("https://u:p@eps.example.org/h") is not None
    assert check_webhook_url("ftp://eps.example.org") is not None


def test_signature_verifies_and_detects_tampering() -> None:
    body = body_bytes({"type": "situation.opened", "é": 1})
    header = signature_header("s" * 20, 1_768_000_000, body)
    assert header.startswith("t=1768000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("s" * 20, header, body)
    assert not verify_signature("s" * 20, header, body + b" ")
    assert not verify_signature("t" * 20, header, body)
    assert not verify_signature("s" * 20, header.replace("t=1768000000", "t=1768000001"), body)


def test_email_is_french_and_minimal() -> None:
    payload = {
        "type": "situation.escalated",
        "situation": {
            "id": "abc",
            "primary_fiche": "FR01",
            "fiche_label": "Famille avec enfant(s) à la rue",
            "sector": "paris-13",
            "lead": "eps:paris-13",
            "deadlines": {"ack": "2026-01-14T22:40:00Z", "contact": None, "resolve": "2026-01-15T21:40:00Z"},
        },
        "details": {"reason": "ack_overdue"},
        "link": "/v1/situations/abc",
    }
    message = email_message(payload, delivery_id="d-1", sender="a@example.org", recipient="b@example.org", now=T0)
    assert message["Subject"] == (
        "[urgence] Situation escaladée à la Mission Urgence Sociale — FR01 Famille avec enfant(s) à la rue (paris-13)"
    )
    assert message["X-Urgence-Delivery-Id"] == "d-1" and "d-1" in message["Message-ID"]
    text = message.get_content()
    assert "Motif : ack_overdue" in text and "Échéance de prise en compte" in text
    assert "Échéance de premier contact" not in text
