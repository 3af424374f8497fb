"""Sending one alert: a signed webhook (HMAC-SHA256) or an e-mail, and keeping its delivery row truthful.

Exactly-once in effect, at-least-once on the wire: the delivery row is locked while it is sent (a second worker
holding a duplicate message skips it), marked delivered only after the receiver said yes, and every copy that
reaches a receiver carries the same `X-Urgence-Delivery-Id` so that the receiver can drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal

import httpx
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from services.core.deadlines import DEADLINE_LABELS
from services.core.models import Delivery, Structure
from services.core.outbox import mark_done, mark_retrying
from services.core.settings import SmtpSecurity

SIGNATURE_HEADER = "X-Urgence-Signature"
DELIVERY_ID_HEADER = "X-Urgence-Delivery-Id"
EVENT_HEADER = "X-Urgence-Event"
USER_AGENT = "urgence-alertes/1"


class DeliveryError(Exception):
    """The receiver did not take the alert; `status` is short and machine-readable (e.g. "http 500")."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Transport:
    """How alerts leave the house, read from the settings at send time."""

    timeout: float
    smtp_host: str | None
    smtp_port: int
    smtp_from: str
    smtp_security: SmtpSecurity = "none"
    smtp_ca_file: Path | None = None
    smtp_login: tuple[str, str] | None = None  # (username, password)


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `"{timestamp}.{body}"`, hex: the receiver recomputes it and checks the timestamp is recent."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (and what tests do); the timestamp's freshness is the receiver's to judge."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))


def send_webhook(
    url: str, secret: str, delivery_id: str, payload: dict[str, Any], *, now: datetime, timeout: float
) -> str:
    body = body_bytes(payload)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        DELIVERY_ID_HEADER: delivery_id,
        EVENT_HEADER: str(payload.get("type", "")),
    }
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException as err:
        raise DeliveryError("timeout", f"pas de réponse en {timeout:g} s") from err
    except httpx.HTTPError as err:
        raise DeliveryError("connection", str(err) or type(err).__name__) from err
    status = f"http {answer.status_code}"
    if not answer.is_success:
        raise DeliveryError(status, answer.text[:300])
    return status


KIND_TITLES = {
    "situation.opened": "Nouvelle situation",
    "situation.requalified": "Situation requalifiée : vous en êtes désormais le pilote",
    "situation.escalated": "Situation escaladée à la Mission Urgence Sociale",
    "situation.resolved": "Situation résolue",
}


def email_message(
    payload: dict[str, Any], *, delivery_id: str, sender: str, recipient: str, now: datetime
) -> EmailMessage:
    """The alert as a French e-mail, with the same (minimal) content as the webhook."""
    situation = payload["situation"]
    title = KIND_TITLES.get(payload["type"], "Alerte")
    message = EmailMessage()
    fiche = f"{situation['primary_fiche']} {situation['fiche_label']}"
    message["Subject"] = f"[urgence] {title} — {fiche} ({situation['sector']})"
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = format_datetime(now)
    # One Message-ID per delivery: a duplicate e-mail is recognisable as such.
    message["Message-ID"] = make_msgid(idstring=delivery_id, domain="urgence.invalid")
    message[DELIVERY_ID_HEADER] = delivery_id
    lines = [
        f"{title}.",
        "",
        f"Situation : {situation['id']}",
        f"Fiche : {situation['primary_fiche']} — {situation['fiche_label']}",
        f"Secteur : {situation['sector']}",
        f"Pilote : {situation['lead']}",
    ]
    lines += [f"Échéance de {DEADLINE_LABELS[k].lower()} : {v}" for k, v in situation["deadlines"].items() if v]
    details = payload.get("details") or {}
    if "reason" in details:
        lines.append(f"Motif : {details['reason']}")
    if "outcome" in details:
        lines.append(f"Issue : {details['outcome']}")
    lines += ["", f"Consulter : {payload['link']}", "", f"Référence d'envoi : {delivery_id}"]
    message.set_content("\n".join(lines))
    return message


def _smtp_session(transport: Transport) -> smtplib.SMTP:
    """A connected session, encrypted and logged in as the settings say (certificate verified)."""
    assert transport.smtp_host is not None
    host, port, timeout = transport.smtp_host, transport.smtp_port, transport.timeout
    context = ssl.create_default_context(cafile=transport.smtp_ca_file)
    if transport.smtp_security == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if transport.smtp_security == "starttls":
            smtp.starttls(context=context)
        if transport.smtp_login is not None:
            smtp.login(*transport.smtp_login)
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_email(address: str, delivery_id: str, payload: dict[str, Any], *, now: datetime, transport: Transport) -> str:
    if not transport.smtp_host:
        raise DeliveryError("smtp_unconfigured", "serveur SMTP non configuré (URGENCE_SMTP_HOST)")
    message = email_message(payload, delivery_id=delivery_id, sender=transport.smtp_from, recipient=address, now=now)
    try:
        with _smtp_session(transport) as smtp:
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as err:
        raise DeliveryError(f"smtp {err.smtp_code}", str(err.smtp_error)[:300]) from err
    except (smtplib.SMTPException, OSError) as err:
        raise DeliveryError("smtp", str(err) or type(err).__name__) from err
    if refused:
        raise DeliveryError("smtp_refused", str(refused)[:300])
    return "smtp 250"


def _mark_done(session: Session, outbox_id: int | None, delivery_id: str, now: datetime) -> None:
    """Finish the outbox row this message came from, if it is this delivery's (never someone else's row)."""
    mark_done(session, outbox_id, now, item={"delivery_id": delivery_id})


Outcome = Literal["delivered", "failed", "already_done", "busy", "missing", "inactive"]


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    status: str | None = None
    error: str | None = None


Sender = Callable[[Delivery, Structure, datetime, Transport], str]


def _send(delivery: Delivery, structure: Structure, now: datetime, transport: Transport) -> str:
    body = {**delivery.payload, "delivery_id": delivery.id}
    if delivery.channel == "webhook":
        if not structure.webhook_url or not structure.webhook_secret:
            raise DeliveryError("no_channel", "webhook retiré de l'annuaire")
        return send_webhook(
            structure.webhook_url, structure.webhook_secret, delivery.id, body, now=now, timeout=transport.timeout
        )
    if not structure.email:
        raise DeliveryError("no_channel", "adresse électronique retirée de l'annuaire")
    return send_email(structure.email, delivery.id, body, now=now, transport=transport)


def attempt_delivery(
    session: Session,
    delivery_id: str,
    *,
    now: datetime,
    transport: Transport,
    outbox_id: int | None,
    sender: Sender = _send,
) -> Attempt:
    """Send one delivery once, holding its row lock during the send. The caller commits what this records
    (success or the failed attempt) and decides whether to retry."""
    delivery = session.exec(
        select(Delivery).where(col(Delivery.id) == delivery_id).with_for_update(skip_locked=True)
    ).first()
    if delivery is None:
        if session.get(Delivery, delivery_id) is not None:
            # Another worker is sending this very delivery (a redelivered message): its outcome decides.
            return Attempt("busy")
        _mark_done(session, outbox_id, delivery_id, now)
        return Attempt("missing")
    if delivery.status != "pending":
        _mark_done(session, outbox_id, delivery_id, now)
        return Attempt("already_done", delivery.last_status)
    # The channel is read now, not when the alert was written: an admin fixing an address fixes pending retries.
    structure = session.get(Structure, delivery.structure_code)
    if structure is None or not structure.active:
        delivery.status, delivery.last_status = "failed", "inactive"
        delivery.last_error = "structure retirée ou désactivée dans l'annuaire"
        session.add(delivery)
        _mark_done(session, outbox_id, delivery_id, now)
        return Attempt("inactive", "inactive", delivery.last_error)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    try:
        status = sender(delivery, structure, now, transport)
    except DeliveryError as err:
        delivery.last_status, delivery.last_error = err.status, err.detail[:2000]
        session.add(delivery)
        # A retry is on its way: the sweep need not republish this row before it comes.
        mark_retrying(session, outbox_id, now, str(err), item={"delivery_id": delivery_id})
        return Attempt("failed", err.status, err.detail)
    delivery.status, delivery.last_status, delivery.last_error = "delivered", status, None
    delivery.delivered_at = now
    session.add(delivery)
    _mark_done(session, outbox_id, delivery_id, now)
    return Attempt("delivered", status)


def give_up(session: Session, delivery_id: str, error: str) -> dict[str, Any] | None:
    """Sending is abandoned (retries exhausted, or its message published too often): the delivery is `failed`,
    and the ids and codes an admin needs to find the alert come back for its dead letter (no personal data).
    None when the delivery is no longer pending (or gone): nothing to give up. A plain UPDATE by id: it works
    even on a row the ORM could not load. The receiver's last answer stays in `last_error` when there was one."""
    failed = (
        session.connection()
        .execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "pending")
            .values(status="failed", last_error=func.coalesce(col(Delivery.last_error), error[:2000]))
            .returning(
                col(Delivery.id),
                col(Delivery.situation_id),
                col(Delivery.structure_code),
                col(Delivery.channel),
                col(Delivery.kind),
                col(Delivery.attempts),
            )
        )
        .first()
    )
    if failed is None:
        return None
    return {
        "delivery_id": failed.id,
        "situation_id": failed.situation_id,
        "structure": failed.structure_code,
        "channel": failed.channel,
        "kind": failed.kind,
        "attempts": failed.attempts,
    }
