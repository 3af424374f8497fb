"""Driving the real code with the clock set to each step's time: intake, routing and the state machine, in the
caller's session and transaction (no broker: the outbox rows written are marked done, nothing is sent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from services.core.alerts.notify import take_publications
from services.core.fiches import FicheBook
from services.core.models import OutboxMessage, Situation
from services.core.signals.dispatch import route_signal
from services.core.signals.intake import accept_signal
from services.core.signals.schemas import SignalIn
from services.core.situations import actions
from services.core.territory import TerritoryMap

DEMO_ACTOR = "demo"


class Driver:
    def __init__(self, session: Session, fiches: FicheBook, territory_map: TerritoryMap, actor: str = DEMO_ACTOR):
        self.session = session
        self.fiches = fiches
        self.territory_map = territory_map
        self.actor = actor

    def _settle(self, now: datetime, ids: Sequence[int | None] = ()) -> None:
        """Nothing goes to a broker: what was written for one is marked done."""
        done = [m.id for m in take_publications(self.session)] + list(ids)
        wanted = [i for i in done if i is not None]
        if wanted:
            self.session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(wanted), col(OutboxMessage.done_at).is_(None))
                .values(done_at=now)
            )

    def signal(
        self,
        when: datetime,
        *,
        source: str = "maraude",
        people: dict[str, Any] | None = None,
        flags: Sequence[str] = (),
        point: tuple[float, float] | None = None,
        arrondissement: int | None = None,
        postcode: str | None = None,
        observed_at: datetime | None = None,
    ) -> tuple[str, str | None]:
        """Receive and route one signal at `when`: (signal id, situation id or None out of territory)."""
        if point is not None:
            location: dict[str, Any] = {"lat": point[0], "lon": point[1]}
        elif postcode is not None:
            location = {"postcode": postcode}
        else:
            location = {"arrondissement": arrondissement}
        payload = SignalIn.model_validate(
            {
                "observed_at": (observed_at or when).isoformat(),
                "location": location,
                "source": source,
                "people": people if people is not None else {"adults": 1},
                "flags": list(flags),
            }
        )
        accepted = accept_signal(
            self.session,
            payload,
            submitted_by=self.actor,
            now=when,
            fiches=self.fiches,
            territory_map=self.territory_map,
        )
        outbox_id = accepted.to_publish[0].id if accepted.to_publish else None
        outcome = route_signal(
            self.session,
            accepted.response["id"],
            now=when,
            fiches=self.fiches,
            territory_map=self.territory_map,
            outbox_id=outbox_id,
        )
        self._settle(when)
        assert outcome is not None
        return outcome.signal_id, outcome.situation_id

    def _locked(self, situation_id: str) -> Situation:
        return actions.lock_situations(self.session, [situation_id])[situation_id]

    def acknowledge(self, situation_id: str, when: datetime) -> None:
        actions.acknowledge(self.session, self._locked(situation_id), actor=self.actor, now=when)
        self._settle(when)

    def contact(self, situation_id: str, when: datetime, result: str = "met") -> None:
        actions.log_contact(
            self.session, self._locked(situation_id), result=result, at=when, note=None, actor=self.actor, now=when
        )
        self._settle(when)

    def resolve(self, situation_id: str, when: datetime, outcome: str) -> None:
        note = "issue synthétique (démonstration)" if outcome == "other" else None
        actions.resolve(
            self.session, self._locked(situation_id), outcome=outcome, note=note, actor=self.actor, now=when
        )
        self._settle(when)

    def escalate(self, situation_id: str, when: datetime, reason: str = "situation complexe") -> None:
        actions.escalate_by_hand(self.session, self._locked(situation_id), reason=reason, actor=self.actor, now=when)
        self._settle(when)

    def status(self, situation_id: str) -> str:
        situation = self.session.get(Situation, situation_id)
        assert situation is not None
        return situation.status
