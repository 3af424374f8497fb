"""Alerts to leads and partners: the directory (admins), signed webhooks to a local receiver, retries, dead
letters, e-mail through a local SMTP server, replays, and a worker killed in the middle of a delivery."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from celery import Celery
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, col, delete, select

from services.core.alerts.directory import PARIS_WIDE_PARTNERS, seed_directory
from services.core.alerts.notify import notify
from services.core.clock import utc_now
from services.core.db import session_scope
from services.core.migrations import upgrade_to_head
from services.core.models import DeadLetter, Delivery, Event, OutboxMessage, Structure
from services.core.outbox import DELIVER_ALERT
from services.core.settings import Settings, get_settings
from services.core.situations.actions import escalate_by_hand, lock_situations
from services.core.territory import SECTORS, default_map
from services.workers.celery_app import celery_config
from tests.integration.conftest import TokenFactory
from tests.integration.test_workflow_helpers import (
    FAST_ALERTS,
    SECRET,
    Received,
    WaitRouted,
    configure,
    deliveries,
    family,
    route_one,
    running_receiver,
    settings_env,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("worker")
EPS_13 = "eps:paris-13"
PERSONAL = ("Famille avec deux enfants", "rue imaginaire", "48.831", "2.3555", "note")


@pytest.fixture
def outreach(token: TokenFactory) -> dict[str, str]:
    return token("outreach")


@pytest.fixture
def admin(token: TokenFactory) -> dict[str, str]:
    return token("admin", name="admin")


@pytest.fixture
def fast_alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with settings_env(monkeypatch, **FAST_ALERTS):
        yield


def delivered(delivery_id: str | None = None, **where: Any) -> list[Delivery] | None:
    rows = deliveries(**where) if delivery_id is None else deliveries(id=delivery_id)
    return rows if rows and all(d.status != "pending" for d in rows) else None


def expected_signature(timestamp: int, body: bytes) -> str:
    return hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def assert_signed(request: Received) -> None:
    parts = dict(item.split("=", 1) for item in request.headers["x-urgence-signature"].split(","))
    timestamp = int(parts["t"])
    assert abs(datetime.now(UTC).timestamp() - timestamp) < 300
    assert hmac.compare_digest(parts["v1"], expected_signature(timestamp, request.body))
    # A body changed on the way would not verify.
    assert parts["v1"] != expected_signature(timestamp, request.body + b" ")


# --- The directory -------------------------------------------------------------------------------------------


def test_upgrading_adds_the_seed_structures_a_release_brings_and_keeps_admin_edits(
    client: TestClient, admin: dict[str, str]
) -> None:
    with session_scope() as session:
        seed_directory(session, default_map(), now=utc_now())
        session.commit()
    configure(client, admin, EPS_13, email="eps-13@example.org")
    with session_scope() as session:  # a code this database has never had: as if a newer seed brought it
        session.execute(delete(Structure).where(col(Structure.code) == "mus"))
        session.commit()

    upgrade_to_head()

    with session_scope() as session:
        mus, eps = session.get(Structure, "mus"), session.get(Structure, EPS_13)
        assert mus is not None and not mus.active and mus.updated_by == "seed"
        assert eps is not None and eps.active and eps.email == "eps-13@example.org"


def test_directory_is_seeded_admin_only_and_never_shows_secrets(
    client: TestClient, token: TokenFactory, admin: dict[str, str]
) -> None:
    with session_scope() as session:
        assert seed_directory(session, default_map(), now=utc_now()) == 53
        assert seed_directory(session, default_map(), now=utc_now()) == 0  # only what is missing
        session.commit()
    items = client.get("/v1/directory", headers=admin).json()["items"]
    zones = sorted(set(default_map().zones.values()))
    expected = {
        "mus",
        *(f"cavs:{z}" for z in zones),
        *(f"eps:{s}" for s in SECTORS),
        *(f"mairie:{s}" for s in SECTORS),
        *PARIS_WIDE_PARTNERS,
    }
    assert {i["code"] for i in items} == expected
    assert not any(i["active"] for i in items)  # placeholders: nothing is sent before an admin says so
    assert all(i["webhook_url"].startswith("https://") and ".example.org/" in i["webhook_url"] for i in items)
    assert all("webhook_secret" not in i for i in items)

    for who in (token("coordinator", leads=["mus"]), token("analyst"), token("outreach")):
        assert client.get(f"/v1/directory/{EPS_13}", headers=who).status_code == 403
        assert (
            client.put(f"/v1/directory/{EPS_13}", json={"name": "x", "active": False}, headers=who).status_code == 403
        )

    def put(code: str, **body: Any) -> Any:
        return client.put(f"/v1/directory/{code}", json={"name": "EPS 13", "active": True, **body}, headers=admin)

    assert put("eps:paris-99", email="a@example.org").status_code == 404
    assert put(EPS_13, webhook_url="https://eps13.example.org/h").json()["errors"][0]["field"] == "webhook_secret"
    assert put(EPS_13, webhook_url="http://eps13.example.org/h", webhook_secret=SECRET).status_code == 422
    assert put(EPS_13, webhook_url="https://eps13.example.org/h", webhook_secret="court").status_code == 422
    assert put(EPS_13, email="pas-une-adresse").status_code == 422
    assert put(EPS_13).json()["errors"][0]["field"] == "active"  # active with no channel
    assert put(EPS_13, email="a@example.org", extra=1).status_code == 422

    saved = put(EPS_13, webhook_url="https://eps13.example.org/h", webhook_secret=SECRET, email="a@example.org")
    assert saved.status_code == 200 and saved.json()["webhook_secret_set"] is True
    assert "webhook_secret" not in saved.json() and SECRET not in saved.text
    # Omitted, the secret is kept (it is never shown back, so a client cannot send it again).
    kept = put(EPS_13, webhook_url="https://eps13.example.org/autre")
    assert kept.status_code == 200 and kept.json()["webhook_url"] == "https://eps13.example.org/autre"
    with session_scope() as session:
        structure = session.get(Structure, EPS_13)
        assert structure is not None and structure.webhook_secret == SECRET and structure.updated_by == "admin:admin"
        history = session.exec(select(Event).where(col(Event.type) == "directory_updated")).all()
        assert len(history) == 2 and all(SECRET not in str(e.data) for e in history)
    assert client.get(f"/v1/directory/{EPS_13}", headers=admin).json()["webhook_url"].endswith("/autre")


# --- Webhooks ------------------------------------------------------------------------------------------------


def test_new_resolved_and_escalated_situations_alert_the_right_structures_with_signed_minimal_webhooks(
    client: TestClient, token: TokenFactory, admin: dict[str, str], outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    with running_receiver() as receiver:
        for code in (EPS_13, "siao-115", "mairie:paris-13", "mus"):
            configure(client, admin, code, url=receiver.url(f"/{code}"))
        configure(client, admin, "uasa", url=receiver.url("/uasa"), active=False)  # inactive: nothing sent
        situation_id = route_one(client, outreach, wait_routed, family())  # FR01: siao-115, uasa, mairie

        opened = wait_for(lambda: delivered(kind="opened"), what="les alertes d'ouverture")
        assert sorted(d.structure_code for d in opened) == [EPS_13, "mairie:paris-13", "siao-115"]
        assert all(d.status == "delivered" and d.attempts == 1 for d in opened)

        eps = token("coordinator", leads=[EPS_13])
        for action, sent in (
            ("escalate", {"reason": "note libre à ne pas diffuser"}),
            ("resolve", {"outcome": "sheltered", "note": "note"}),
        ):
            assert client.post(f"/v1/situations/{situation_id}/{action}", json=sent, headers=eps).status_code == 200
        wait_for(lambda: delivered(kind="resolved") and delivered(kind="escalated"), what="les autres alertes")
        requests = list(receiver.received)

    assert sorted(r.path for r in requests) == sorted(
        ["/eps:paris-13", "/mairie:paris-13", "/siao-115", "/mus", "/eps:paris-13", "/mairie:paris-13", "/siao-115"]
    )
    by_id = {d.id: d for d in deliveries()}
    assert {r.delivery_id for r in requests} == set(by_id)  # one request per delivery: nothing doubled
    for request in requests:
        assert_signed(request)
        body = request.json
        delivery = by_id[request.delivery_id]
        assert body["delivery_id"] == delivery.id and body["recipient"] == request.path[1:]
        assert request.headers["x-urgence-event"] == body["type"] == f"situation.{delivery.kind}"
        # What the receiver needs, and nothing personal.
        assert set(body) == {
            "type",
            "event_id",
            "at",
            "recipient",
            "role",
            "situation",
            "details",
            "link",
            "delivery_id",
        }
        assert set(body["situation"]) == {
            "id",
            "status",
            "primary_fiche",
            "fiche_label",
            "sector",
            "lead",
            "deadlines",
            "escalation_level",
        }
        assert body["situation"]["fiche_label"] == "Famille avec enfant(s) à la rue"
        assert body["link"] == f"/v1/situations/{situation_id}"
        text = request.body.decode()
        assert not [word for word in PERSONAL if word in text], text
    roles = {(r.path, r.json["type"]): r.json["role"] for r in requests}
    assert roles[("/eps:paris-13", "situation.opened")] == "lead"
    assert roles[("/siao-115", "situation.opened")] == "partner"
    assert roles[("/mus", "situation.escalated")] == "mus"
    resolved = next(r.json for r in requests if r.json["type"] == "situation.resolved")
    assert resolved["details"] == {"outcome": "sheltered"}
    escalated = next(r.json for r in requests if r.json["type"] == "situation.escalated")
    assert escalated["details"] == {"reason": "manual"}  # the reason's code, not the person's words


@pytest.mark.usefixtures("fast_alerts")
def test_a_receiver_that_fails_then_recovers_gets_the_alert_once(
    client: TestClient, admin: dict[str, str], outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    with running_receiver(status_for=lambda n: 500 if n < 2 else 200) as receiver:
        configure(client, admin, EPS_13, url=receiver.url())
        route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="la remise après échecs")
        requests = list(receiver.received)

    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 3, "http 200")
    assert [r.status for r in requests] == [500, 500, 200]
    assert {r.delivery_id for r in requests} == {delivery.id}  # the receiver can drop duplicates by this id
    for request in requests:
        assert_signed(request)
    with session_scope() as session:
        outbox = session.get(OutboxMessage, delivery.outbox_id)
        assert outbox is not None and outbox.done_at is not None
        assert session.exec(select(DeadLetter)).all() == []


def test_a_receiver_that_always_fails_ends_as_a_dead_letter_admins_see(
    client: TestClient,
    token: TokenFactory,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        settings_env(monkeypatch, **(FAST_ALERTS | {"alert_max_retries": 2})),
        running_receiver(lambda n: 500) as receiver,
    ):
        configure(client, admin, EPS_13, url=receiver.url())
        situation_id = route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="l'abandon de la remise")
        assert len(receiver.received) == 3  # the first try and two retries, no more

    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 3, "http 500")
    letters = client.get("/v1/dead-letters", headers=admin)
    assert letters.status_code == 200
    (letter,) = letters.json()["items"]
    assert letter["task"] == DELIVER_ALERT and "http 500" in letter["error"]
    assert letter["payload"] == {
        "delivery_id": delivery.id,
        "situation_id": situation_id,
        "structure": EPS_13,
        "channel": "webhook",
        "kind": "opened",
        "attempts": 3,
    }
    assert client.get("/v1/dead-letters", headers=token("coordinator", leads=["mus"])).status_code == 403
    with session_scope() as session:
        outbox = session.get(OutboxMessage, delivery.outbox_id)
        assert outbox is not None and outbox.done_at is not None  # finished: no more retries


def test_the_backoff_grows_is_capped_and_stays_under_the_visibility_timeout() -> None:
    from services.workers.runner import backoff_seconds

    waits = [backoff_seconds(n, base=5, cap=60, visibility_timeout=120) for n in range(10)]
    assert waits == [5, 10, 20, 40, 60, 60, 60, 60, 60, 60]
    assert backoff_seconds(10, base=5, cap=600, visibility_timeout=120) == 60


# --- E-mail --------------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_email_alert_through_a_local_smtp_server(
    client: TestClient,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        smtp_server() as (inbox, port),
        settings_env(monkeypatch, smtp_host="127.0.0.1", smtp_port=port, smtp_from="alertes@urgence.example.org"),
    ):
        configure(client, admin, EPS_13, email="eps-13@example.org")
        situation_id = route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="l'alerte par e-mail")
        ((sender, recipients, raw),) = inbox.messages

    assert (delivery.status, delivery.channel, delivery.last_status) == ("delivered", "email", "smtp 250")
    assert (sender, recipients) == ("alertes@urgence.example.org", ["eps-13@example.org"])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["X-Urgence-Delivery-Id"] == delivery.id
    assert message["Subject"] == "[urgence] Nouvelle situation — FR01 Famille avec enfant(s) à la rue (paris-13)"
    content = message.get_content()
    assert situation_id in content and f"/v1/situations/{situation_id}" in content
    assert "Échéance de prise en compte" in content
    assert not [word for word in PERSONAL if word in content]


class Credentials:
    """Accepts one login, and remembers who logged in."""

    def __init__(self, username: str, password: str) -> None:
        self.expected = (username.encode(), password.encode())
        self.logins: list[bytes] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == self.expected:
            self.logins.append(data.login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextmanager
def tls_smtp_server(ca: trustme.CA, *, implicit: bool, credentials: Credentials) -> Iterator[tuple[Inbox, int]]:
    """A relay that speaks TLS from the start (`implicit`) or only after STARTTLS, and requires a login over it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    inbox, port = Inbox(), free_port()
    tls = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=credentials,
        auth_required=True,
        # aiosmtpd counts only STARTTLS as TLS for this check: with implicit TLS every byte is encrypted anyway.
        auth_require_tls=not implicit,
        **tls,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd, about implicit TLS
def test_email_through_an_encrypted_relay_with_a_login(
    client: TestClient,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    security: str,
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    credentials = Credentials("urgence", "mot de passe")
    smtp = {
        "smtp_host": "127.0.0.1",
        "smtp_security": security,
        "smtp_ca_file": ca_file,
        "smtp_username": "urgence",
        "smtp_password": "mot de passe",
    }
    with (
        tls_smtp_server(ca, implicit=security == "tls", credentials=credentials) as (inbox, port),
        settings_env(monkeypatch, smtp_port=port, **smtp),
    ):
        configure(client, admin, EPS_13, email="eps-13@example.org")
        route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="l'alerte par e-mail chiffré")
        assert (delivery.status, delivery.last_status) == ("delivered", "smtp 250")
        assert len(inbox.messages) == 1 and credentials.logins == [b"urgence"]


def test_email_to_a_relay_whose_certificate_is_not_trusted_fails_visibly(
    client: TestClient,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials = Credentials("urgence", "mot de passe")
    smtp = {
        "smtp_host": "127.0.0.1",
        "smtp_security": "starttls",
        "smtp_username": "urgence",
        "smtp_password": "mot de passe",
    }
    with (
        tls_smtp_server(trustme.CA(), implicit=False, credentials=credentials) as (inbox, port),
        settings_env(monkeypatch, smtp_port=port, **smtp, **(FAST_ALERTS | {"alert_max_retries": 0})),
    ):
        configure(client, admin, EPS_13, email="eps-13@example.org")
        route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="l'échec de l'e-mail")
    # The system's CAs do not know this relay: nothing sent, no password given away.
    assert (delivery.status, delivery.last_status) == ("failed", "smtp")
    assert "CERTIFICATE_VERIFY_FAILED" in (delivery.last_error or "")
    assert inbox.messages == [] and credentials.logins == []


def test_smtp_credentials_are_never_sent_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URGENCE_SMTP_USERNAME", "urgence")
    monkeypatch.setenv("URGENCE_SMTP_PASSWORD", "mot de passe")
    with pytest.raises(ValidationError, match="jamais en clair"):
        Settings()
    monkeypatch.setenv("URGENCE_SMTP_SECURITY", "starttls")
    assert Settings().smtp_username == "urgence"


def test_email_without_smtp_configured_fails_visibly(
    client: TestClient,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with settings_env(monkeypatch, **(FAST_ALERTS | {"alert_max_retries": 0})):
        configure(client, admin, EPS_13, email="eps-13@example.org")
        route_one(client, outreach, wait_routed, family())
        (delivery,) = wait_for(lambda: delivered(structure_code=EPS_13), what="l'échec de l'e-mail")
    assert (delivery.status, delivery.last_status) == ("failed", "smtp_unconfigured")
    assert client.get("/v1/dead-letters", headers=admin).json()["items"][0]["payload"]["channel"] == "email"


# --- Replays, lost messages, killed workers ------------------------------------------------------------------


def test_a_replayed_event_cannot_double_its_alerts(
    client: TestClient, admin: dict[str, str], outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    configure(client, admin, EPS_13, email="eps-13@example.org")
    situation_id = route_one(client, outreach, wait_routed, family())
    (first,) = deliveries(situation_id=situation_id)
    with session_scope() as session:
        situation = lock_situations(session, [situation_id])[situation_id]
        event = session.get(Event, first.event_id)
        assert event is not None
        rows_before = len(session.exec(select(OutboxMessage)).all())
        again = notify(session, situation, event, [(EPS_13, "lead")], now=utc_now())
        assert again == [] and len(session.exec(select(OutboxMessage)).all()) == rows_before
        session.commit()
    assert [d.id for d in deliveries(situation_id=situation_id)] == [first.id]


def _outbox_of_new_alerts(session: Session, before: int) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.id) > before)))


def _last_outbox_id(session: Session) -> int:
    return max((m.id or 0 for m in session.exec(select(OutboxMessage))), default=0)


def test_an_alert_whose_message_was_lost_is_sent_by_the_sweep(
    client: TestClient, token: TokenFactory, admin: dict[str, str], outreach: dict[str, str], wait_routed: WaitRouted
) -> None:
    situation_id = route_one(client, outreach, wait_routed, family())
    with running_receiver() as receiver:
        configure(client, admin, "mus", url=receiver.url())
        # Published long ago and never finished: the message was lost with the broker.
        with session_scope() as session:
            before = _last_outbox_id(session)
            situation = lock_situations(session, [situation_id])[situation_id]
            escalate_by_hand(session, situation, reason="motif", actor="test", now=utc_now())
            (message,) = _outbox_of_new_alerts(session, before)
            message.published_at, message.publish_count = utc_now() - timedelta(hours=1), 1
            session.add(message)
            session.commit()

        (delivery,) = wait_for(lambda: delivered(kind="escalated"), what="la remise après balayage")
        assert delivery.status == "delivered" and len(receiver.received) == 1
    with session_scope() as session:
        republished = session.get(OutboxMessage, message.id)
        assert republished is not None and republished.publish_count == 2 and republished.done_at is not None


def _other_broker(url: str) -> str:
    """The same Redis, another database: the in-process worker of the session consumes every queue of the
    session's broker, so the subprocess workers of this test get a broker of their own."""
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db) + 1) % 16 if db.isdigit() else 1}"


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "worker", "--queues", "notifications", "--concurrency", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the pool child dies with it, as in a crash
        )


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_a_worker_killed_mid_delivery_then_restarted_delivers_once(
    client: TestClient,
    admin: dict[str, str],
    outreach: dict[str, str],
    wait_routed: WaitRouted,
    broker_url: str,
    tmp_path: Path,
) -> None:
    other_broker = _other_broker(broker_url)
    redis.Redis.from_url(other_broker).flushdb()
    situation_id = route_one(client, outreach, wait_routed, family())
    env = {**os.environ, "URGENCE_BROKER_URL": other_broker, "URGENCE_ALERT_TIMEOUT_SECONDS": "30"}
    log = tmp_path / "workers.log"
    publisher = Celery("urgence-test-publisher")
    publisher.config_from_object({**celery_config(get_settings()), "broker_url": other_broker})
    try:
        with running_receiver(hold_first=True) as receiver:
            configure(client, admin, "mus", url=receiver.url())
            with session_scope() as session:
                before = _last_outbox_id(session)
                situation = lock_situations(session, [situation_id])[situation_id]
                escalate_by_hand(session, situation, reason="motif", actor="test", now=utc_now())
                (message,) = _outbox_of_new_alerts(session, before)
                # This test publishes it itself, to the subprocess workers' broker: the relay leaves it alone.
                message.published_at, message.publish_count = utc_now() + timedelta(hours=1), 1
                session.add(message)
                session.commit()
            publisher.send_task(
                DELIVER_ALERT, kwargs={**message.payload, "outbox_id": message.id}, queue="notifications"
            )

            first = _start_worker(env, log)
            try:
                assert receiver.first_arrived.wait(60), log.read_text()
            finally:
                _stop(first, signal.SIGKILL)  # in the middle of the delivery: no answer was read, nothing committed
            receiver.release.set()
            assert deliveries(situation_id=situation_id)[0].status == "pending"

            second = _start_worker(env, log)
            try:
                # Redis gives the killed worker's message back after the visibility timeout.
                (delivery,) = wait_for(lambda: delivered(kind="escalated"), timeout=60, what="la remise après reprise")
            finally:
                _stop(second, signal.SIGTERM)
            requests = list(receiver.received)
    finally:
        publisher.close()
        redis.Redis.from_url(other_broker).flushdb()

    assert delivery.status == "delivered" and delivery.delivered_at is not None
    assert delivery.attempts == 1  # the killed attempt was rolled back with its transaction
    assert len(requests) >= 2, log.read_text()
    assert {r.delivery_id for r in requests} == {delivery.id}  # duplicates are recognisable
    with session_scope() as session:
        assert len(session.exec(select(Delivery).where(col(Delivery.status) == "delivered")).all()) == 1
        outbox = session.get(OutboxMessage, message.id)
        assert outbox is not None and outbox.done_at is not None
