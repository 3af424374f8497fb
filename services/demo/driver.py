"""Driving the real code with the clock set to each step's time: intake, routing and the state machine, in the
caller's session and transaction. Nothing goes to a broker: the outbox rows the transaction wrote are marked done
before it commits (`finish_outbox`), so the relay never hands them to workers.

Also here, what lets the demo run fast while going through that same code (`services.demo.semester`): a driver
that is the only writer of its situations, reference tables read once per session, the deadline scan restricted
to a worker's sectors, and ids derived from the run's seed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Connection, event, inspect, literal_column, text
from sqlalchemy.engine import FrozenResult, Result
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, with_loader_criteria
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session, col

from services.core.decisions import DecisionContext
from services.core.fiches import FicheBook
from services.core.models import Situation, Structure, WeatherPlanState
from services.core.models._types import ids_from
from services.core.signals.intake import accept_signal
from services.core.signals.schemas import SignalIn
from services.core.situations import actions
from services.core.situations.orientation import orient_signal
from services.core.territory import TerritoryMap

DEMO_ACTOR = "demo"

# Rows inserted (or changed) by a transaction carry its id in `xmin`: this finishes every outbox row the current
# transaction wrote, however core code wrote it (orient_signal's row, alerts' rows), and no other.
_FINISH_OUTBOX = text(
    "UPDATE outbox SET done_at = created_at WHERE done_at IS NULL AND xmin = pg_current_xact_id()::xid"
)


def finish_outbox(session: Session) -> None:
    """Mark done the outbox rows written in the session's transaction: nothing of the demo goes to a broker."""
    session.flush()
    session.execute(_FINISH_OUTBOX)


class Driver:
    """Each method runs one step at `when` through the real functions.

    `sole_writer=False` (tests): each action locks and reloads its situation as the API does, and the outbox is
    finished after every step, so the caller may commit at any time.
    `sole_writer=True` (the demo's workers): the caller is the only one changing these situations, so actions
    use the situations the session already holds (kept referenced until `release`), and the caller calls
    `finish_outbox` once before each commit.
    """

    def __init__(
        self,
        session: Session,
        fiches: FicheBook,
        territory_map: TerritoryMap,
        actor: str = DEMO_ACTOR,
        *,
        sole_writer: bool = False,
    ):
        self.session = session
        self.fiches = fiches
        self.territory_map = territory_map
        self.actor = actor
        self.sole_writer = sole_writer
        self._held: dict[str, Situation] = {}
        if sole_writer:
            event.listen(session, "transient_to_pending", self._hold)

    def close(self) -> None:
        if self.sole_writer and event.contains(self.session, "transient_to_pending", self._hold):
            event.remove(self.session, "transient_to_pending", self._hold)
        self._held.clear()

    def _hold(self, _session: Session, instance: object) -> None:
        """A situation just opened by the routing: kept, or the session would forget it (weak identity map)."""
        if isinstance(instance, Situation):
            self._held[instance.id] = instance

    def release(self, situation_id: str) -> None:
        """Nothing more is planned for this situation: the session may forget it."""
        self._held.pop(situation_id, None)

    def finish_outbox(self) -> None:
        finish_outbox(self.session)

    def _stepped(self) -> None:
        if not self.sole_writer:
            finish_outbox(self.session)

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
            self.session.connection(),
            payload,
            submitted_by=self.actor,
            context=DecisionContext(when, self.fiches, self.territory_map),
        )
        # The routing task's body, run here at once; its outbox row is finished with the others (`finish_outbox`).
        outcome = orient_signal(
            self.session,
            accepted.response["id"],
            context=DecisionContext(when, self.fiches, self.territory_map),
        )
        self._stepped()
        assert outcome is not None
        return outcome.signal_id, outcome.situation_id

    def situation(self, situation_id: str) -> Situation:
        """The situation as the next action must see it."""
        if not self.sole_writer:
            return actions.lock_situations(self.session, [situation_id])[situation_id]
        held = self._held.get(situation_id)
        if held is None:
            # Forgotten (nothing was planned for it any more) and met again: a join. Read once, then kept.
            held = self.session.get(Situation, situation_id)
            assert held is not None
            self._held[situation_id] = held
        return held

    def acknowledge(self, situation_id: str, when: datetime) -> None:
        actions.acknowledge(self.session, self.situation(situation_id), actor=self.actor, now=when)
        self._stepped()

    def contact(self, situation_id: str, when: datetime, result: str = "met") -> None:
        actions.log_contact(
            self.session, self.situation(situation_id), result=result, at=when, note=None, actor=self.actor, now=when
        )
        self._stepped()

    def resolve(self, situation_id: str, when: datetime, outcome: str) -> None:
        note = "issue synthétique (démonstration)" if outcome == "other" else None
        actions.resolve(
            self.session, self.situation(situation_id), outcome=outcome, note=note, actor=self.actor, now=when
        )
        self._stepped()

    def escalate(self, situation_id: str, when: datetime, reason: str = "situation complexe") -> None:
        actions.escalate_by_hand(self.session, self.situation(situation_id), reason=reason, actor=self.actor, now=when)
        self._stepped()

    def status(self, situation_id: str) -> str:
        if self.sole_writer:
            return self.situation(situation_id).status
        situation = self.session.get(Situation, situation_id)
        assert situation is not None
        return situation.status


# ----------------------------------------------------------------------------------------- session tuning


def _frozen(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    return value


def read_reference_tables_once(session: Session) -> None:
    """The weather plan and the directory of structures do not change while the demo runs: each distinct read of
    them (`plan_for_routing`, the recipients of an alert) goes to the database once per session, then is answered
    from memory. Reads with FOR UPDATE are never answered from memory."""
    reference = {inspect(Structure), inspect(WeatherPlanState)}
    dialect = session.get_bind().dialect
    answers: dict[Any, FrozenResult[Any]] = {}

    @event.listens_for(session, "do_orm_execute")
    def _answer(state: ORMExecuteState) -> Result[Any] | None:
        if not state.is_select or state.bind_mapper not in reference:
            return None
        if state.is_column_load or state.is_relationship_load or any(m not in reference for m in state.all_mappers):
            return None
        # The statement's SQL and values say what it reads (public API only: compiled, not its private cache key).
        statement = state.statement
        if not isinstance(statement, ClauseElement):
            return None
        compiled = statement.compile(dialect=dialect)
        if "FOR UPDATE" in compiled.string:
            return None
        key = (compiled.string, _frozen(list(compiled.params.items())), _frozen(state.parameters or {}))
        if key not in answers:
            answers[key] = state.invoke_statement().freeze()
        return answers[key]()


def scan_skipping_sectors(session: Session, others: Collection[str]) -> Callable[[], Any]:
    """A context factory: inside it, the session's queries of situations do not see the `others` sectors (those of
    the other workers). Used around the real deadline scan, which otherwise takes every overdue situation: a
    worker scans its own sectors at its own simulated time, never another worker's situations at a time they have
    not reached. (Written as an exclusion, the condition leaves the scan its partial indexes.)"""
    theirs = with_loader_criteria(Situation, col(Situation.sector).not_in(sorted(others)))
    active = [False]

    def _restrict(state: ORMExecuteState) -> None:
        if active[0] and state.is_select and not state.is_column_load and not state.is_relationship_load:
            state.statement = state.statement.options(theirs)

    if others:
        event.listen(session, "do_orm_execute", _restrict)

    @contextmanager
    def restricted() -> Iterator[None]:
        active[0] = True
        try:
            yield
        finally:
            active[0] = False

    return restricted


def write_as_demo(session: Session) -> None:
    """Every row the session inserts into the marked tables (signals, situations, events, deliveries, outbox)
    carries `demo = true`: the column's default reads this setting (migration 0005), so the real code paths
    mark what they write without knowing of the demo. Set per transaction (`SET LOCAL`): a pooled connection
    never carries it to anyone else."""

    @event.listens_for(session, "after_begin")
    def _mark(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
        connection.execute(text("SET LOCAL urgence.demo = 'on'"))


def only_demo_situations(session: Session) -> None:
    """The session's queries of situations see only the demo's own: its signals never join a real situation and
    its deadline scan never escalates one, even in a database that holds real data (`urgence demo --force`)."""
    demo_only = with_loader_criteria(Situation, literal_column("situations.demo", Boolean))

    @event.listens_for(session, "do_orm_execute")
    def _restrict(state: ORMExecuteState) -> None:
        if state.is_select and not state.is_column_load and not state.is_relationship_load:
            state.statement = state.statement.options(demo_only)


def synchronous_commit_off(session: Session) -> None:
    """Synthetic data written by one command: a crash loses the last commits, never consistency. Commits then
    do not wait for the WAL flush (for this connection only)."""
    session.execute(text("SET synchronous_commit = off"))


class SeededIds:
    """The source of the models' ids during a run (`services.core.models._types.ids_from`), so that the rows a
    step creates get ids derived from the run and the step: the same seed gives the same ids. Outside a step
    (`key` None: the deadline scan's alerts) ids stay random."""

    def __init__(self, namespace: uuid.UUID) -> None:
        self.namespace = namespace
        self.key: str | None = None
        self._n = 0

    def step(self, key: str | None) -> None:
        self.key, self._n = key, 0

    def id_for(self, key: str, n: int = 1) -> str:
        """The id of the n-th row created during step `key` (the signal is the first, its situation the second)."""
        return str(uuid.uuid5(self.namespace, f"{key}/{n}"))

    def next_id(self) -> str:
        if self.key is None:
            return str(uuid.uuid4())
        self._n += 1
        return str(uuid.uuid5(self.namespace, f"{self.key}/{self._n}"))

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Inside: the ids of new rows come from this run."""
        with ids_from(self.next_id):
            yield
