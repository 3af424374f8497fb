"""Alerts for the events that concern a structure, written as outbox rows in the event's own transaction.

Who is alerted: a new situation → its lead and partners; requalified → the new lead; escalated → the MUS;
resolved → the lead and partners. One delivery per (event, structure, channel), unique, so that a replay cannot
double it. An alert carries what its receiver needs to act and no more: ids, fiche code and label, sector, lead,
deadlines, a link. Never a description, a place, coordinates or a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from services.core.alerts.directory import partner_code
from services.core.db import transaction_memo
from services.core.deadlines import DEADLINE_KINDS
from services.core.fiches import FicheBook
from services.core.models import Delivery, Event, Situation, Structure
from services.core.outbox import DELIVER_ALERT, QUEUE_NOTIFICATIONS, enqueue
from services.core.procedures import fiches_in_force
from services.core.timefmt import rfc3339

CHANNELS: tuple[str, ...] = ("webhook", "email")


def fiche_label(code: str, fiches: FicheBook) -> str:
    try:
        return fiches.label(code)
    except KeyError:
        return code


def situation_summary(situation: Situation, fiches: FicheBook) -> dict[str, Any]:
    """The situation as an alert shows it: no personal data."""
    return {
        "id": situation.id,
        "status": situation.status,
        "primary_fiche": situation.primary_fiche,
        "fiche_label": fiche_label(situation.primary_fiche, fiches),
        "sector": situation.sector,
        "lead": situation.lead,
        "deadlines": {kind: rfc3339(getattr(situation, f"{kind}_due")) for kind in DEADLINE_KINDS},
        "escalation_level": situation.escalation_level,
    }


def alert_payload(
    situation: Situation,
    event: Event,
    *,
    recipient: str,
    role: str,
    fiches: FicheBook,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "type": f"situation.{event.type}",
        "event_id": event.id,
        "at": rfc3339(event.at),
        "recipient": recipient,
        "role": role,  # lead, partner or mus: why this structure receives it
        "situation": situation_summary(situation, fiches),
        "details": details or {},
        "link": f"/v1/situations/{situation.id}",
    }


def lead_and_partners(situation: Situation) -> list[tuple[str, str]]:
    partners = [partner_code(p, situation.sector) for p in situation.decision.get("partners", [])]
    return [(situation.lead, "lead"), *((code, "partner") for code in partners)]


def _channels(structure: Structure) -> list[str]:
    return [
        channel
        for channel, usable in (
            ("webhook", structure.webhook_url is not None and structure.webhook_secret is not None),
            ("email", structure.email is not None),
        )
        if usable
    ]


def _active_structures(session: Session, codes: Iterable[str]) -> list[Structure]:
    """The active structures among `codes`. The whole active directory (a few dozen rows) is read at the first
    need of a transaction and kept for it: a batch of signals in several sectors alerts several leads, and each
    lead read on its own would cost a round trip."""
    memo = transaction_memo(session)
    active: dict[str, Structure] | None = memo.get("structures")
    if active is None:
        # Nothing of this session's pending changes is needed to read the directory: no flush for it.
        with session.no_autoflush:
            found = session.exec(select(Structure).where(col(Structure.active).is_(True))).all()
        active = memo["structures"] = {structure.code: structure for structure in found}
    return [structure for code in codes if (structure := active.get(code)) is not None]


def notify(
    session: Session,
    situation: Situation,
    event: Event,
    recipients: Iterable[tuple[str, str]],
    *,
    now: datetime,
    details: dict[str, Any] | None = None,
    fiches: FicheBook | None = None,
) -> list[Delivery]:
    """Write a delivery and its outbox row for each channel of each active recipient structure. `fiches`: the
    book the event's decision was made with, when the caller holds it (else the one in force is read)."""
    wanted = dict(recipients)  # code → role; one alert per structure even if named twice
    if not wanted:
        return []
    structures = _active_structures(session, wanted)
    reachable = [(structure, _channels(structure)) for structure in sorted(structures, key=lambda s: s.code)]
    reachable = [(structure, channels) for structure, channels in reachable if channels]
    if not reachable:
        return []
    session.flush()  # the event's id is the deliveries' key
    assert event.id is not None
    written: list[Delivery] = []
    # The labels of the book the event's decision was made with: the one in force in this transaction.
    fiches = fiches or fiches_in_force(session)
    for structure, channels in reachable:
        payload = alert_payload(
            situation, event, recipient=structure.code, role=wanted[structure.code], fiches=fiches, details=details
        )
        for channel in channels:
            delivery = Delivery(
                event_id=event.id,
                situation_id=situation.id,
                structure_code=structure.code,
                channel=channel,
                kind=event.type,
                payload=payload,
                created_at=now,
            )
            inserted = session.execute(
                insert(Delivery)
                .values(**delivery.model_dump(exclude={"outbox_id"}))
                .on_conflict_do_nothing(constraint="uq_deliveries_event_structure_channel")
                .returning(col(Delivery.id))
            ).scalar_one_or_none()
            if inserted is None:
                continue  # already written for this event: a replay
            outbox_id = enqueue(
                session,
                task=DELIVER_ALERT,
                queue=QUEUE_NOTIFICATIONS,
                payload={"delivery_id": delivery.id},
                now=now,
            )
            session.execute(update(Delivery).where(col(Delivery.id) == delivery.id).values(outbox_id=outbox_id))
            delivery.outbox_id = outbox_id
            written.append(delivery)
    return written
